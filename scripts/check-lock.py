#!/usr/bin/env python3
"""Is requirements/lock.txt the lock of pyproject.toml's dependencies? (DEVELOPERS.md "Dependencies")

`make lock` resolves pyproject.toml's dependencies, its `dev` extra and its build requirements
into requirements/lock.txt, every version pinned with its hashes, then runs this with
`--stamp`: a digest of what it resolved goes into the lock's first line. `make install` runs
it without arguments before installing from the lock, and fails, saying to run `make lock`,
when pyproject.toml's dependencies changed since (a dependency added on another branch):
installing would otherwise miss the new one or float. Plain Python 3.11 (tomllib), no
packages: it runs before any virtualenv exists.

    scripts/check-lock.py            # check (exit 1 with the reason)
    scripts/check-lock.py --stamp    # after pip-compile: write the digest
    scripts/check-lock.py --target   # refuse to lock on another Python or machine
"""

import argparse
import hashlib
import json
import platform
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The lock is resolved for this interpreter and machine: environment markers are evaluated
# for it (the hashes cover every published file of each pinned version).
TARGET = ("3.11", "Linux", "x86_64")
STAMP = "# pyproject.toml dependencies: sha256="
STAMP_RE = re.compile(re.escape(STAMP) + r"([0-9a-f]{64})")
PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", re.MULTILINE)
NAME_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def locked_inputs(pyproject: Path) -> dict:
    """What the lock is made from: the project's dependencies, its `dev` extra, its build
    requirements and the Python it requires."""
    data = tomllib.loads(pyproject.read_text())
    project = data.get("project", {})
    return {
        "requires-python": project.get("requires-python", ""),
        "dependencies": sorted(project.get("dependencies", [])),
        "dev": sorted(project.get("optional-dependencies", {}).get("dev", [])),
        "build-system": sorted(data.get("build-system", {}).get("requires", [])),
    }


def digest(pyproject: Path) -> str:
    return hashlib.sha256(json.dumps(locked_inputs(pyproject), sort_keys=True).encode()).hexdigest()


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def unpinned(pyproject: Path, lock_text: str) -> list[str]:
    """Requirements of pyproject.toml whose package the lock does not pin at all."""
    pinned = {normalise(name) for name in PIN_RE.findall(lock_text)}
    inputs = locked_inputs(pyproject)
    wanted = [*inputs["dependencies"], *inputs["dev"], *inputs["build-system"]]
    return [req for req in wanted if normalise(NAME_RE.match(req).group(1)) not in pinned]


def check(pyproject: Path, lock: Path) -> str | None:
    """None if the lock matches pyproject.toml, else the reason in plain words."""
    if not lock.exists():
        return f"{lock.name} is missing: run `make lock`."
    text = lock.read_text()
    stamped = STAMP_RE.search(text)
    missing = unpinned(pyproject, text)
    if missing:
        return (f"{pyproject.name} requires {', '.join(missing)}, which {lock.name} does not pin: "
                "run `make lock` and commit the lock.")
    if stamped is None:
        return f"{lock.name} has no digest of {pyproject.name}'s dependencies: run `make lock`."
    if stamped.group(1) != digest(pyproject):
        return (f"{pyproject.name}'s dependencies changed since {lock.name} was made: run `make lock` "
                "and commit the lock.")
    return None


def stamp(pyproject: Path, lock: Path) -> None:
    lines = [line for line in lock.read_text().splitlines(keepends=True) if not STAMP_RE.match(line)]
    lock.write_text(f"{STAMP}{digest(pyproject)} (make lock; make install checks it)\n" + "".join(lines))


def target_check() -> str | None:
    here = (f"{sys.version_info.major}.{sys.version_info.minor}", platform.system(), platform.machine())
    if here != TARGET:
        return (f"The lock is made for Python {TARGET[0]} on {TARGET[1]} {TARGET[2]}; this is Python "
                f"{here[0]} on {here[1]} {here[2]}. Run `make lock PYTHON=python3.11` on such a machine.")
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pyproject", type=Path, default=ROOT / "pyproject.toml")
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements" / "lock.txt")
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--stamp", action="store_true", help="write the digest into the lock (make lock)")
    action.add_argument("--target", action="store_true", help="check this is the Python and machine locked for")
    args = parser.parse_args(argv)
    if args.stamp:
        stamp(args.pyproject, args.lock)
        problem = check(args.pyproject, args.lock)
    elif args.target:
        problem = target_check()
    else:
        problem = check(args.pyproject, args.lock)
    if problem:
        print(f"check-lock: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
