"""requirements/lock.txt is the lock of pyproject.toml (DEVELOPERS.md "Dependencies"): every
dependency pinned with its hashes, and `make install` refuses a lock made from other
dependencies than pyproject.toml's (scripts/check-lock.py) instead of floating."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT, LOCK = ROOT / "pyproject.toml", ROOT / "requirements" / "lock.txt"


def check_lock(*args, pyproject=PYPROJECT, lock=LOCK) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check-lock.py"), "--pyproject", str(pyproject),
         "--lock", str(lock), *args],
        capture_output=True, text=True, timeout=60,
    )


def test_the_lock_is_made_from_pyprojects_dependencies():
    result = check_lock()
    assert result.returncode == 0, result.stderr


def test_every_locked_package_is_pinned_with_hashes():
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text().split("\n", 1)[1])
    requirements = [e for e in entries if not e.startswith("#")]
    assert len(requirements) > 20
    for entry in requirements:
        assert re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*==\S+ \\\n", entry), entry.splitlines()[0]
        assert "--hash=sha256:" in entry, entry.splitlines()[0]
    names = {e.split("==")[0].lower() for e in requirements}
    # The build backend too: the editable install runs without build isolation.
    assert {"django", "pytest", "import-linter", "setuptools"} <= names


@pytest.fixture
def project(tmp_path):
    pyproject, lock = tmp_path / "pyproject.toml", tmp_path / "lock.txt"
    pyproject.write_text(PYPROJECT.read_text())
    lock.write_text(LOCK.read_text())
    return pyproject, lock


def check_edited(project, old: str, new: str) -> subprocess.CompletedProcess:
    """The check after `old` became `new` in the copy of pyproject.toml."""
    pyproject, lock = project
    assert old in pyproject.read_text()
    pyproject.write_text(pyproject.read_text().replace(old, new))
    return check_lock(pyproject=pyproject, lock=lock)


def test_a_dependency_the_lock_lacks_fails_naming_it(project):
    result = check_edited(project, '"whitenoise>=6.7",', '"whitenoise>=6.7", "humanize>=4.9",')
    assert result.returncode == 1
    assert "requires humanize>=4.9, which lock.txt does not pin: run `make lock`" in result.stderr


def test_a_changed_requirement_fails_until_the_lock_is_made_again(project):
    result = check_edited(project, '"pytest>=8",', '"pytest>=8.3",')
    assert result.returncode == 1
    assert "dependencies changed since lock.txt was made: run `make lock`" in result.stderr

    pyproject, lock = project
    assert check_lock("--stamp", pyproject=pyproject, lock=lock).returncode == 0  # what make lock ends with
    assert check_lock(pyproject=pyproject, lock=lock).returncode == 0
    assert lock.read_text().count("# pyproject.toml dependencies: sha256=") == 1


def test_a_lock_without_its_digest_is_refused(project):
    pyproject, lock = project
    lock.write_text("".join(line for line in lock.read_text().splitlines(keepends=True)
                            if not line.startswith("# pyproject.toml dependencies")))
    result = check_lock(pyproject=pyproject, lock=lock)
    assert result.returncode == 1 and "has no digest" in result.stderr
