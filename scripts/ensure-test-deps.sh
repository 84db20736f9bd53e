#!/usr/bin/env bash
# Installs what the test suite drives besides Python: Debian's Chromium (browser tests),
# Debian's swupdate (independent DDI client), nginx (production download mode) and GNU
# gettext (tests/test_translations.py extracts the strings afresh with xgettext).
# Idempotent; needs root and apt-get the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v cpio >/dev/null 2>&1 || missing+=(cpio)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v xgettext >/dev/null 2>&1 || missing+=(gettext)
command -v rdiff >/dev/null 2>&1 || missing+=(rdiff)  # librsync's own patch tool: applies our deltas (tests/test_rdiff.py)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "The test suite needs: ${missing[*]} (Debian packages). Install them, or run as root." >&2
    exit 1
  fi
  echo "Installing ${missing[*]} from Debian..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -x scripts/install-swupdate.sh ]; then
  scripts/install-swupdate.sh >/dev/null
fi
# rauc-hawkbit (PyPI) and @awesomeorganization/hawkbit-ddi (npm) for tests/clients
scripts/install-test-clients.sh
