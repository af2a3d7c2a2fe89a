#!/usr/bin/env bash
# Make a headless Chromium available (Debian's `chromium` package) for the report's browser test
# (test/report/), and print its path. Idempotent: installs nothing when a Chromium already runs
# here. Needs root to install.
set -euo pipefail
find_chromium() {
  local name
  for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null 2>&1; then
      command -v "$name"
      return 0
    fi
  done
  return 1
}
if ! binary="$(find_chromium)"; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/chromium.sh: chromium is missing and installing it needs root (apt-get install chromium)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  if ! binary="$(find_chromium)"; then
    echo "scripts/chromium.sh: apt-get installed chromium, but no chromium is on PATH" >&2
    exit 1
  fi
fi
# Installed, but it may still not start (missing libraries, a container without /dev/shm).
if ! version="$("$binary" --headless --no-sandbox --disable-gpu --version 2>&1)"; then
  echo "scripts/chromium.sh: $binary is installed but does not start: $version" >&2
  exit 1
fi
echo "$binary"
