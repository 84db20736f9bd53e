"""Debian's swupdate 2022.12 as a panel: its suricatta daemon polls our DDI server.

A run is one power-on of the panel. `-n` (dry run) swaps every handler for `dummy`, so
"installing" verifies signature, hashes and board but writes nothing; `dry_run=False` drops
it, and swupdate writes the image where the archive says (the delta tests: a file standing
for the inactive slot). `-m` keeps it away from a bootloader's state marker. What the panel reports about itself (configData) comes
from the `identify` section of its configuration file.
"""

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

# The line suricatta logs once the installer accepted the archive; a real panel would now
# run its post-update command and reboot. (swupdate's exit code says nothing: it runs
# until stopped, and 2022.12 returns 1 now and then after a success; docs/swu-format.md.)
INSTALLED = "Update successful, executing post-update actions."
# After a reboot, `-c` tells suricatta what the bootloader found (server_hawkbit.c):
CONFIRM_SUCCESS = 2  # reports closed + success, "Update Installed."
CONFIRM_FAILURE = 3  # reports closed + failure, "Update Failed."
# swupdate writes its log with stdio: into a file, a block at a time. Line by line instead,
# so a test sees each line when it is written (and a failed test shows the latest ones).
LINE_BUFFERED = ["stdbuf", "-oL", "-eL"] if shutil.which("stdbuf") else []


class Run:
    """One power-on: the process group, its log (first line: the command) and its options."""

    def __init__(self, process: subprocess.Popen, log_path: Path, scratch: str, url: str,
                 options: dict):  # fmt: skip
        self.process, self.log_path, self.scratch = process, log_path, scratch
        self.url, self.options = url, options
        self.first_exchange = 0  # where its traffic starts in its link's record

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, lines: int = 60) -> str:
        """The command and the last lines of its log, without the inventory of handlers."""
        command, *rest = self.log().splitlines() or [""]
        kept = [line for line in rest if "print_registered" not in line
                and "lua_report_exception" not in line]  # fmt: skip
        return "\n".join([command, *kept[-lines:]])

    def power_off(self) -> None:
        """SIGKILL the whole process group (suricatta and its helpers are children): a panel
        that reboots does not shut swupdate down politely, and 2022.12 ignores SIGTERM
        while it waits on the server in some states."""
        try:  # the whole group, even if the main process is gone and left its helpers behind
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        shutil.rmtree(self.scratch, ignore_errors=True)


class Panel:
    """One panel: its serial, TargetToken, trusted certificate and board."""

    def __init__(self, binary: str, workdir: Path, *, cert_pem: bytes, tenant: str, serial: str,
                 token: str, board: str):  # fmt: skip
        self.binary, self.workdir = binary, workdir
        self.tenant, self.serial, self.token, self.board = tenant, serial, token, board
        self.cert_path = workdir / "cert.pem"
        self.cert_path.write_bytes(cert_pem)
        self.runs: list[Run] = []

    def power_on(self, url: str, *, sw_version: str, hw_revision: str = "2.1",
                 confirm: int | None = None, retries: int = 10, dry_run: bool = True) -> Run:  # fmt: skip
        """Start swupdate's suricatta against `url` (the server, or a Link in front of it)."""
        options = {"sw_version": sw_version, "hw_revision": hw_revision, "confirm": confirm,
                   "retries": retries, "dry_run": dry_run}  # fmt: skip
        number = len(self.runs) + 1
        config = self.workdir / f"swupdate-{number}.cfg"
        # libconfig; swupdate insists on a globals section. Suricatta sends `identify` as
        # configData whenever the server asks for it.
        config.write_text(
            "globals: { verbose = true; loglevel = 6; };\n"
            "identify: (\n"
            f'  {{ name = "sw_version"; value = "{sw_version}"; }},\n'
            f'  {{ name = "hw_revision"; value = "{hw_revision}"; }},\n'
            f'  {{ name = "hw_boardname"; value = "{self.board}"; }}\n'
            ");\n"
        )
        suricatta = (f"-t {self.tenant} -u {url} -i {self.serial} -k {self.token} "
                     f"-p 1 -r {retries} -w 1")  # fmt: skip
        if confirm is not None:
            suricatta += f" -c {confirm}"
        command = [*LINE_BUFFERED, self.binary, "-f", str(config), "-v", *(["-n"] if dry_run else []), "-m",
                   "-H", f"{self.board}:{hw_revision}", "-k", str(self.cert_path), "-u", suricatta]  # fmt: skip
        # Its unix sockets live in TMPDIR, whose path must stay short (107 bytes at most).
        scratch = tempfile.mkdtemp(prefix="swu")
        log_path = self.workdir / f"swupdate-{number}.log"
        with open(log_path, "wb") as log:
            log.write(f"$ {shlex.join(command)}\n".encode())
            log.flush()
            process = subprocess.Popen(command, cwd=self.workdir, env={**os.environ, "TMPDIR": scratch},
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        run = Run(process, log_path, scratch, url, options)
        self.runs.append(run)
        return run

    def reboot(self) -> Run:
        """Power the last run off and on again, with the same settings."""
        last = self.runs[-1]
        last.power_off()
        return self.power_on(last.url, **last.options)

    def power_off_all(self) -> None:
        for run in self.runs:
            run.power_off()
