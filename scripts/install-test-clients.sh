#!/usr/bin/env bash
# Installs the independent DDI client libraries tests/clients drives (idempotent):
# - rauc-hawkbit (PyPI) into var/clients/python (tests/clients/conftest.py puts it on the path),
#   without its declared dependencies: gbulb and PyGObject serve its D-Bus/RAUC half, which the
#   tests replace; its DDI layer needs only aiohttp (pyproject's dev extras). Not into the venv:
#   there its missing dependencies would fail `pip check`, and with it the next `make install`.
# - @awesomeorganization/hawkbit-ddi (npm) into var/clients/node from tests/clients/package.json
#   and its lock; node and npm from Debian (nodejs npm) when missing (needs root then).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
RAUC_HAWKBIT=rauc-hawkbit==0.2.0

target=var/clients/python
if [ ! -f "$target/rauc_hawkbit/ddi/client.py" ]; then
  "$PYTHON" -m pip install --quiet --no-deps --target "$target" "$RAUC_HAWKBIT"
fi
# An earlier version of this script installed it into the venv: take it out of there.
if "$PYTHON" -m pip show --quiet rauc-hawkbit >/dev/null 2>&1; then
  "$PYTHON" -m pip uninstall --quiet --yes rauc-hawkbit
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "tests/clients needs node and npm (Debian: nodejs npm). Install them, or run as root." >&2
    exit 1
  fi
  echo "Installing nodejs npm from Debian..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
prefix=var/clients/node
if ! cmp -s tests/clients/package-lock.json "$prefix/package-lock.json" \
    || [ ! -f "$prefix/node_modules/@awesomeorganization/hawkbit-ddi/package.json" ]; then
  mkdir -p "$prefix"
  cp tests/clients/package.json tests/clients/package-lock.json "$prefix/"
  npm ci --prefix "$prefix" --no-audit --no-fund --silent
fi
