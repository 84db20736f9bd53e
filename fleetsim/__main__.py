"""Command line: `python -m fleetsim run|gateway ...` (see docs/fleetsim.md)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile

from .display import ProgressDisplay
from .fleet import Fleet
from .link import PRESETS
from .spec import PanelSpec, load_fleet


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", required=True, help="DDI server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="scale of sleeps, reboots, offline periods (0.01: minutes → seconds)")
    parser.add_argument("--wakeup-listen", metavar="127.0.0.1:PORT",
                        help="accept poll-now wake-ups on this loopback address")
    parser.add_argument("--duration", type=float, help="stop after this many (real) seconds")
    parser.add_argument("--seed", default="0", help="seed of every random choice (default 0)")
    parser.add_argument("--start-spread", type=float, default=5.0,
                        help="panels start at random within this many simulated seconds")
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--flash-dir", help="keep downloads in files here (default: a temporary "
                        "directory, removed at exit)")
    parser.add_argument("--quiet", action="store_true", help="no progress display, warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every panel event")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fleetsim",
                                     description="Virtual alarm panels speaking hawkBit DDI.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the panels of a fleet file")
    _common(run)
    run.add_argument("--fleet", required=True, help="fleet file (JSON), see docs/fleetsim.md")
    gw = sub.add_parser("gateway", help="N panels polling with the receiver's gateway token "
                                        "(the server registers them on first poll)")
    _common(gw)
    gw.add_argument("--tenant", required=True, help="receiver code")
    gw.add_argument("--gateway-token", required=True)
    gw.add_argument("--count", type=int, default=10)
    gw.add_argument("--serial-prefix", help="default: <tenant>-gw-")
    gw.add_argument("--device-type", default="nord-gsm")
    gw.add_argument("--hw", default="2.1", help="hardware revision")
    gw.add_argument("--version", default="5.30", help="firmware version")
    gw.add_argument("--channels", default="gprs,ethernet")
    gw.add_argument("--partitions", type=int, default=2, help="partitions per panel (1 armed)")
    gw.add_argument("--link", default="ethernet", choices=sorted(PRESETS))
    gw.add_argument("--arming", default="static", choices=["static", "random", "night"])
    return parser


def gateway_specs(args: argparse.Namespace) -> list[PanelSpec]:
    prefix = args.serial_prefix if args.serial_prefix is not None else f"{args.tenant}-gw-"
    partitions = [{"number": n, "armed": n == 1} for n in range(1, max(1, args.partitions) + 1)]
    return [PanelSpec(serial=f"{prefix}{i:05d}", tenant=args.tenant,
                      gateway_token=args.gateway_token, device_type=args.device_type,
                      hardware_revision=args.hw, firmware_version=args.version,
                      channels=args.channels, partitions=partitions, link=args.link,
                      arming=args.arming, settings={"site": i, "entry_delay": 30})
            for i in range(1, args.count + 1)]


async def _run(fleet: Fleet, args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, fleet.stop)
    display = None if args.quiet else ProgressDisplay(fleet)
    shown = asyncio.create_task(display.run()) if display else None
    try:
        await fleet.run(duration=args.duration)
    finally:
        if shown:
            shown.cancel()
            display.finish()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # Per-request chatter only with -v; the display line carries the progress.
        logging.getLogger("fleetsim.panel").setLevel(max(level, logging.WARNING))
    _raise_open_files_limit()
    with tempfile.TemporaryDirectory(prefix="fleetsim-flash-") as scratch:
        try:
            specs = load_fleet(args.fleet) if args.command == "run" else gateway_specs(args)
            fleet = Fleet(args.server, specs, time_scale=args.time_scale,
                          wakeup_listen=args.wakeup_listen, seed=args.seed,
                          request_timeout=args.request_timeout, start_spread=args.start_spread,
                          flash_dir=args.flash_dir or scratch)
        except (OSError, ValueError) as exc:
            print(f"fleetsim: {exc}", file=sys.stderr)
            return 2
        try:
            asyncio.run(_run(fleet, args))
        except OSError as exc:  # e.g. the wake-up port is taken
            print(f"fleetsim: {exc}", file=sys.stderr)
            return 1
    return 0


def _raise_open_files_limit() -> None:
    """A panel holds a few sockets (and a file while downloading): lift the soft limit."""
    try:
        import resource
    except ImportError:  # not on every platform
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


if __name__ == "__main__":
    sys.exit(main())
