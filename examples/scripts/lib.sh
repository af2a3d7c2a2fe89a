# Shared helpers for the example scripts.
log() { echo "[smooth.sh] $*" >&2; }
