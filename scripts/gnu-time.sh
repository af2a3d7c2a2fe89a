#!/usr/bin/env bash
# Make GNU time (`/usr/bin/time -v`, Debian's package `time`) available: the test of a
# process stage's recorded peak RSS compares it with what GNU time reports for the same
# command. Idempotent: does nothing when /usr/bin/time -v already runs here. Needs root to
# install.
set -euo pipefail
if /usr/bin/time -v true >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "scripts/gnu-time.sh: /usr/bin/time is missing and installing it needs root (apt-get install time)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq time >/dev/null
/usr/bin/time -v true >/dev/null 2>&1
