#!/bin/sh
# Install Debian's chromium for the browser tests (tests/test_html_browser.py) when missing.
# Idempotent: does nothing when /usr/bin/chromium exists. Playwright's own browser download
# is not used (it cannot run here); the tests launch this executable.
set -eu
if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
