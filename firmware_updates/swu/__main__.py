"""Command line for vendors and demos: build, inspect and keygen.

    python -m firmware_updates.swu build --device-type nord-gsm --version 5.40 --hw 2.1,2.2 \
        --image fw.bin [--key key.pem --cert cert.pem] [--json] [--compress zstd] -o out.swu
    python -m firmware_updates.swu build --device-type nord-gsm --version 5.41 --hw 2.1,2.2 \
        --image fw-5.41.bin --delta-from nord-gsm-5.40.swu --base-device /dev/mmcblk0p2 \
        [--device /dev/mmcblk0p3] [--key key.pem --cert cert.pem] -o nord-gsm-5.41-from-5.40.swu
    python -m firmware_updates.swu inspect out.swu [--trusted certs.pem]
    python -m firmware_updates.swu keygen --cn "ACME firmware" --key key.pem --cert cert.pem
"""

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from . import cpio
from .archive import (
    DEFAULT_MAX_SIZE,
    build_archive,
    build_delta_archive,
    inspect_archive,
    read_archive_image,
)
from .errors import ArchiveError
from .manifest import IMAGE_DEVICE
from .signing import make_signing_identity


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (ArchiveError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _build(args) -> int:
    if (args.key is None) != (args.cert is None):
        raise ValueError("--key and --cert go together")
    images = [(Path(path).name, Path(path).read_bytes()) for path in args.image]
    key_pem = Path(args.key).read_bytes() if args.key else None
    cert_pem = Path(args.cert).read_bytes() if args.cert else None
    common = {
        "device_type": args.device_type,
        "version": args.version,
        "hardware_revisions": [rev.strip() for rev in args.hw.split(",") if rev.strip()],
        "key_pem": key_pem,
        "cert_pem": cert_pem,
        "description": args.description,
        "syntax": "json" if args.json else "libconfig",
        "device": args.device,
    }
    compress = "" if args.compress == "none" else args.compress
    if args.delta_from:
        if len(images) != 1:
            raise ValueError("a delta is made of one --image")
        if not args.base_device:
            raise ValueError("--delta-from needs --base-device: where the panel holds the base image")
        base_version, base_image = _delta_base(args)
        name, image = images[0]
        build = lambda out: build_delta_archive(  # noqa: E731
            out, **common, base_version=base_version, base_image=base_image, image=image,
            filename=f"{name}.rdiff", base_device=args.base_device,
            compress="zstd" if args.compress is None else compress)
    else:
        if args.base_version or args.base_device:
            raise ValueError("--base-version and --base-device go with --delta-from")
        build = lambda out: build_archive(out, **common, images=images, compress=compress or "")  # noqa: E731
    tmp = Path(f"{args.output}.part")
    # Written aside and renamed, so a failed build never leaves a half archive behind.
    try:
        with open(tmp, "wb") as out:
            build(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, args.output)
    print(args.output)
    return 0


def _delta_base(args) -> tuple[str, bytes]:
    """The base of a delta: the image of a base .swu (its version from the archive), or a
    raw image with --base-version."""
    path = Path(args.delta_from)
    with open(path, "rb") as fh:
        is_archive = fh.read(6) in (cpio.NEWC, cpio.NEWC_CRC)
    if not is_archive:
        if not args.base_version:
            raise ValueError(f"{path} is a raw image: say its version with --base-version")
        return args.base_version, path.read_bytes()
    with open(path, "rb") as fh:
        info, image = read_archive_image(fh)
    if image is None:
        raise ValueError(f"{path} holds several images; a delta is made from an archive of one")
    if info.delta is not None:
        raise ValueError(f"{path} is itself a delta; make a delta from a full archive or image")
    if args.base_version and args.base_version != info.version:
        raise ValueError(f"{path} holds {info.version}, not {args.base_version}")
    return info.version, image


def _inspect(args) -> int:
    trusted = Path(args.trusted).read_bytes() if args.trusted else None
    with open(args.archive, "rb") as fh:
        info = inspect_archive(fh, max_size=args.max_size, trusted_certs_pem=trusted)
    print(json.dumps(dataclasses.asdict(info), indent=2))
    return 0


def _keygen(args) -> int:
    key_pem, cert_pem = make_signing_identity(args.cn)
    # The private key is created 0600 from the start, never readable by others.
    fd = os.open(args.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key_pem)
    Path(args.cert).write_bytes(cert_pem)
    print(args.cert)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_updates.swu", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="build a .swu from firmware images")
    build.add_argument("--device-type", required=True, help="SWUpdate board name, e.g. nord-gsm")
    build.add_argument("--version", required=True, help="software version, e.g. 5.40")
    build.add_argument("--hw", required=True, help="hardware revisions, comma-separated: 2.1,2.2")
    build.add_argument("--image", action="append", required=True, help="image file (repeatable)")
    build.add_argument("--key", help="PEM private key to sign sw-description")
    build.add_argument("--cert", help="PEM certificate matching --key")
    build.add_argument("--description", default="")
    build.add_argument("--json", action="store_true", help="write sw-description as JSON")
    build.add_argument("--compress", choices=["zlib", "zstd", "none"],
                       help="store images compressed (SWUpdate decompresses them); a delta's "
                            "patch is zstd unless 'none'")
    build.add_argument("--device", default=IMAGE_DEVICE,
                       help=f"where the panel writes the image (default {IMAGE_DEVICE})")
    build.add_argument("--delta-from", metavar="BASE",
                       help="make a delta from this base: a full .swu, or a raw image with --base-version")
    build.add_argument("--base-version", help="the version of a raw --delta-from image")
    build.add_argument("--base-device", help="with --delta-from: where the panel holds the base image")
    build.add_argument("-o", "--output", required=True)
    build.set_defaults(run=_build)

    inspect = commands.add_parser("inspect", help="check a .swu and print what it holds as JSON")
    inspect.add_argument("archive")
    inspect.add_argument("--trusted", help="PEM certificates; a signature by one is then required")
    inspect.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE)
    inspect.set_defaults(run=_inspect)

    keygen = commands.add_parser("keygen", help="make a signing key and self-signed certificate")
    keygen.add_argument("--cn", default="Firmware signing", help="certificate common name")
    keygen.add_argument("--key", required=True)
    keygen.add_argument("--cert", required=True)
    keygen.set_defaults(run=_keygen)
    return parser


if __name__ == "__main__":
    sys.exit(main())
