#!/usr/bin/env bash
# Make `strace` available (Debian's package), so that the files process stages read and write
# are traced. Idempotent: does nothing when strace already runs here. Needs root to install.
set -euo pipefail
if command -v strace >/dev/null 2>&1 && strace -f -qq -e trace=none -- true 2>/dev/null; then
  exit 0
fi
if ! command -v strace >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/strace.sh: strace is missing and installing it needs root (apt-get install strace)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq strace >/dev/null
fi
# Installed, but ptrace may still be refused (a container without CAP_SYS_PTRACE).
if ! strace -f -qq -e trace=none -- true; then
  echo "scripts/strace.sh: strace is installed but cannot trace here (ptrace not permitted)" >&2
  exit 1
fi
