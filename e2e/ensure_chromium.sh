#!/usr/bin/env bash
# Make sure end-to-end tests have a Chromium: Debian's /usr/bin/chromium when present (installed
# with apt when we are root on Debian), otherwise Playwright's own browser build.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the end-to-end tests"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "no /usr/bin/chromium: installing Playwright's Chromium"
.venv/bin/python -m playwright install chromium
