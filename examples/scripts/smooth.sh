#!/bin/sh
# Stand-in for a neuroimaging command: "smooth" a text volume by averaging neighbours.
# usage: smooth.sh IN OUT
set -eu
. "$(dirname "$0")/lib.sh"
log "smoothing $1 -> $2"
awk 'NR > 1 { print int((prev + $1) / 2) } { prev = $1 }' "$1" > "$2"
