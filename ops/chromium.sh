#!/usr/bin/env bash
# Make sure a Chromium for the browser test exists: $CHROMIUM, else Debian's chromium package
# (installed with apt-get when missing, as root or through sudo).
set -euo pipefail
if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then exit 0; fi
if [ -x /usr/bin/chromium ]; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "No Chromium at /usr/bin/chromium and no apt-get: install Chromium and set CHROMIUM=/path/to/it." >&2
  exit 1
fi
run() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
echo "Installing Debian's chromium for the browser test..."
run apt-get update -qq
run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
