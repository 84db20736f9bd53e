"""The nginx configuration of deploy/nginx/firmware.conf, filled in.

One template for production, the tests (tests/nginx/) and the benches (bench/), so what is
measured and tested is what is deployed. `render()` fills the placeholders; `standalone()`
wraps the result in a complete nginx.conf for a private nginx (`nginx -p <prefix>`), as the
tests and benches run it. `python -m deploy.nginx` prints the production file.
"""

import os
import re
from pathlib import Path

TEMPLATE = Path(__file__).with_name("firmware.conf")

# An upload is one archive (FIRMWARE_MAX_ARCHIVE_SIZE, the server's setting, read from the
# same environment) plus its multipart envelope and description: nginx lets that much through
# and Django answers anything larger itself, 413 naming the quota.
UPLOAD_ENVELOPE = 1024 * 1024


def max_body_size(environ=os.environ) -> int:
    return int(environ.get("FIRMWARE_MAX_ARCHIVE_SIZE", 64 * 1024 * 1024)) + UPLOAD_ENVELOPE


# Production defaults (Debian). /run is tmpfs: the go-ahead cache's keys hold device
# tokens, which should not reach a disk.
DEFAULTS = {
    "listen": "80",
    "server_name": "_",
    "django": "127.0.0.1:8000",
    "media_root": "/srv/firmware/media",
    "static_root": "/srv/firmware/static",
    "cache_dir": "/run/firmware-ddi-cache",
    "access_log": "/var/log/nginx/firmware-access.log firmware_ddi",
    "max_body_size": str(max_body_size()),
}


def render(**values) -> str:
    """The template with every @PLACEHOLDER@ replaced; unknown or missing names raise."""
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown placeholders: {sorted(unknown)}")
    filled = {**DEFAULTS, **{k: str(v) for k, v in values.items()}}
    text = TEMPLATE.read_text()
    for name, value in filled.items():
        text = text.replace(f"@{name.upper()}@", str(value).rstrip("/") if name.endswith("root") else value)
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    if left := re.findall(r"@[A-Z_]+@", code):
        raise ValueError(f"placeholders not filled: {sorted(set(left))}")
    return text


def standalone(*, prefix: Path, workers: int = 1, http_extra: str = "", **values) -> str:
    """A complete nginx.conf for a private nginx under `prefix` (its pid, error log and
    temporary files there), in the foreground, loopback only as the caller's values say."""
    prefix = Path(prefix)
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    # As root, workers would run as `nobody`, who cannot read a test's private folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix}/tmp/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    body = "\n".join("    " + line if line else "" for line in render(**values).splitlines())
    return (f"{user}worker_processes {workers};\npid {prefix}/nginx.pid;\ndaemon off;\n"
            f"error_log {prefix}/error.log notice;\nworker_rlimit_nofile 20000;\n"
            f"events {{\n    worker_connections 8192;\n}}\n\n"
            f"http {{\n    default_type application/octet-stream;\n{temp}\n{http_extra}\n{body}\n}}\n")
