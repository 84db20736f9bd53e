"""Independent DDI client libraries driven through the whole life cycle against pytest-django's
live server: the `rauc-hawkbit` library (PyPI) and `@awesomeorganization/hawkbit-ddi` (npm),
their own code unmodified. The receiver, panel and signed release are tests/ddi's fleet."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ddi.conftest import Fleet, build_fleet, signing_identity  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
# The rauc-hawkbit library, installed there (without its D-Bus dependencies) by
# scripts/install-test-clients.sh rather than into the venv, whose `pip check` it would fail.
sys.path.append(str(ROOT / "var" / "clients" / "python"))


@pytest.fixture
def fleet(transactional_db, live_server, settings, signing_identity, tmp_path) -> Fleet:  # noqa: F811
    """tests/ddi's fleet; a panel with an active action polls every second."""
    settings.DDI_ACTIVE_POLL_SLEEP = "00:00:01"
    return build_fleet(settings, signing_identity, tmp_path, live_server.url)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """@awesomeorganization/hawkbit-ddi, installed from tests/clients/package.json (and its
    lock) into var/clients/node by scripts/install-test-clients.sh (make test runs it; here in
    case it did not). A failed install fails the tests, unless SKIP_CLIENTS=1."""
    if os.environ.get("SKIP_CLIENTS") == "1":
        pytest.skip("SKIP_CLIENTS=1")
    result = subprocess.run(["bash", str(ROOT / "scripts/install-test-clients.sh")], capture_output=True,
                            text=True, timeout=300, check=False,
                            env={**os.environ, "PYTHON": sys.executable})  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"the client libraries could not be installed (SKIP_CLIENTS=1 skips):\n{result.stderr}")
    return ROOT / "var" / "clients" / "node"
