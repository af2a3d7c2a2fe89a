#!/usr/bin/env bash
# A one-node SLURM cluster on this host, for the tests of memori's SLURM client (test/slurm/):
# Debian's slurm-wlm and munge, a munge key and munged, a slurm.conf with this host as its only
# node (its CPUs and a little less than its memory) in one default partition, slurmctld and
# slurmd as daemons (no systemd needed), then a wait until `sinfo` shows the node idle and a
# trial job has run.
#
#   scripts/slurm-local.sh          start (idempotent: a cluster already up is left alone)
#   scripts/slurm-local.sh stop     stop slurmctld, slurmd and munged
#   scripts/slurm-local.sh status   say whether the node is up (exit 1 if not)
#
# Memory requests are enforced: with the cgroup v1 memory and freezer hierarchies mounted and
# writable, by task/cgroup (a job over its --mem ends OUT_OF_MEMORY); otherwise (cgroup v2, no
# cgroups; or MEMORI_SLURM_CGROUP=no) processes are tracked through /proc and a job over its
# memory is killed by the accounting poll (it ends FAILED, signal 9). There is no accounting
# storage (no slurmdbd): `sacct` does not work on this cluster. Needs root.
set -euo pipefail

me="scripts/slurm-local.sh"
conf_dir=/etc/slurm
state_dir=/var/lib/slurm
log_dir=/var/log/slurm
ctld_pid=/run/slurmctld.pid
slurmd_pid=/run/slurmd.pid
munge_pid=/run/munge/munged.pid
started=$SECONDS

say() { echo "$me: $*" >&2; }
fail() {
  say "$*"
  exit 1
}

# Whether the pid in file $1 is alive and runs program $2 (a zombie, killed but not yet
# reaped, is not: /proc/PID/stat's third field is its state).
running() {
  local pid stat
  [ -r "$1" ] || return 1
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$(echo "${stat##*) }" | cut -d' ' -f1)" != Z ]
}

# Stop the daemon whose pid is in file $1 (program $2): SIGTERM, then SIGKILL after 10 s; the
# pid file goes too (Debian's prerm of slurmctld takes one left behind for a running daemon).
stop_daemon() {
  local pid
  if running "$1" "$2"; then
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      running "$1" "$2" || break
      sleep 0.1
    done
    if running "$1" "$2"; then
      say "$2 (pid $pid) did not stop on SIGTERM; killing it"
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$1"
}

stop_all() {
  # slurmctld and slurmd first (they need munge to talk), then munged.
  stop_daemon "$slurmd_pid" slurmd
  stop_daemon "$ctld_pid" slurmctld
  stop_daemon "$munge_pid" munged
}

node=$(hostname -s)

# This node's state as sinfo sees it (idle, mixed, allocated, down*, drained...), or nothing.
node_state() {
  running "$ctld_pid" slurmctld || return 0
  timeout 15 sinfo --noheader --nodes="$node" --format=%T 2>/dev/null | head -n 1 || true
}

# Whether the cluster is up: both daemons running and the node usable.
up() {
  running "$slurmd_pid" slurmd || return 1
  case "$(node_state)" in
    idle | mixed | allocated | completing) return 0 ;;
    *) return 1 ;;
  esac
}

# Whether the cgroup v1 memory and freezer hierarchies are there and writable (task/cgroup and
# proctrack/cgroup of SLURM 22.05 use them without systemd).
cgroup_v1() {
  [ "${MEMORI_SLURM_CGROUP:-yes}" != no ] || return 1
  [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] || return 1
  local kind probe
  for kind in memory freezer; do
    [ -f "/sys/fs/cgroup/$kind/tasks" ] || return 1
    probe="/sys/fs/cgroup/$kind/memori-probe-$$"
    mkdir "$probe" 2>/dev/null || return 1
    rmdir "$probe"
  done
}

# The configuration for this host, written to stdout: slurm.conf, then (after a line "@@")
# cgroup.conf.
configuration() {
  local hardware cpus memory real default_mem
  cpus=$(nproc)
  # slurmd -C: "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2
  # ThreadsPerCore=1 RealMemory=24105": its topology is kept when its CPUs are the ones this
  # process may use (nproc); otherwise (a CPU set smaller than the machine) only their number.
  hardware=$(slurmd -C | head -n 1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')
  case " $hardware" in
    *" CPUs=$cpus "*) ;;
    *) hardware="CPUs=$cpus " ;;
  esac
  memory=$(free -m | awk '/^Mem:/ { print $2 }')
  # A little under the total (5%, at least 256 MB), so slurmd never finds less than declared.
  real=$((memory - (memory / 20 > 256 ? memory / 20 : 256)))
  # A job that asks for no memory gets this much per CPU (not the whole node, which would run
  # one job at a time).
  default_mem=$((real / cpus < 1024 ? real / cpus : 1024))
  cat <<EOF
# Written by $me: a one-node cluster for memori's tests. Rewritten on start.
ClusterName=memori
SlurmctldHost=$node
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$state_dir/slurmctld
SlurmdSpoolDir=$state_dir/slurmd
SlurmctldPidFile=$ctld_pid
SlurmdPidFile=$slurmd_pid
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
MpiDefault=none
SchedulerType=sched/backfill
# Start a submitted job at once (the default waits up to 3 s to batch submissions).
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$default_mem
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
EOF
  if cgroup_v1; then
    cat <<EOF
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
EOF
  else
    cat <<EOF
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherParams=OverMemoryKill
EOF
  fi
  cat <<EOF
NodeName=$node ${hardware}RealMemory=$real State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
@@
CgroupPlugin=cgroup/v1
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=no
ConstrainRAMSpace=yes
ConstrainSwapSpace=no
EOF
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
    command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return 0
  fi
  [ "$(id -u)" = 0 ] || fail "SLURM is missing and installing it needs root (apt-get install slurm-wlm munge)"
  say "installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
}

start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 700 /etc/munge
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  chmod 755 /run/munge
  if ! running "$munge_pid" munged; then
    runuser -u munge -- /usr/sbin/munged
  fi
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "munged does not answer (see /var/log/munge/munged.log)"
}

# Write the configuration; succeed if it changed.
write_configuration() {
  local all slurm cgroup changed=1
  all=$(configuration)
  slurm=${all%%@@*}
  cgroup=${all#*@@
}
  mkdir -p "$conf_dir"
  if [ "$(cat "$conf_dir/slurm.conf" 2>/dev/null)" != "${slurm%
}" ]; then
    printf '%s' "$slurm" >"$conf_dir/slurm.conf"
    changed=0
  fi
  if [ "$(cat "$conf_dir/cgroup.conf" 2>/dev/null)" != "${cgroup%
}" ]; then
    printf '%s\n' "$cgroup" >"$conf_dir/cgroup.conf"
    changed=0
  fi
  return $changed
}

# Wait (60 s at most) until the node is idle, resuming it if it came back down or drained.
wait_idle() {
  local state
  for _ in $(seq 120); do
    state=$(node_state)
    case "$state" in
      idle | mixed | allocated | completing) return 0 ;;
      down* | drain* | *drain) scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
  done
  say "the node is not idle after 60 s (state: ${state:-unknown}); the logs say:"
  tail -n 20 "$log_dir/slurmctld.log" "$log_dir/slurmd.log" >&2 || true
  exit 1
}

# Run a trial job (sbatch --wrap hostname) and check that it wrote its output.
trial_job() {
  local dir id
  dir=$(mktemp -d /tmp/memori-slurm-trial.XXXXXX)
  id=$(sbatch --parsable --job-name=memori-trial --output="$dir/out" --chdir="$dir" --wrap 'hostname')
  id=${id%%;*}
  for _ in $(seq 120); do
    [ -n "$(squeue --noheader --jobs="$id" --format=%i 2>/dev/null)" ] || break
    sleep 0.25
  done
  if [ "$(cat "$dir/out" 2>/dev/null)" != "$(hostname)" ]; then
    say "the trial job $id did not write its output:"
    scontrol show job "$id" >&2 || true
    tail -n 20 "$log_dir/slurmd.log" >&2 || true
    rm -rf "$dir"
    exit 1
  fi
  rm -rf "$dir"
}

start() {
  if command -v sinfo >/dev/null && running "$munge_pid" munged && up; then
    if ! write_configuration; then exit 0; fi
    say "the configuration changed: restarting"
    stop_all
  fi
  install_packages
  [ "$(id -u)" = 0 ] || fail "starting the SLURM daemons needs root"
  start_munge
  if write_configuration && { running "$ctld_pid" slurmctld || running "$slurmd_pid" slurmd; }; then
    say "the configuration changed: restarting slurmctld and slurmd"
    stop_daemon "$slurmd_pid" slurmd
    stop_daemon "$ctld_pid" slurmctld
  fi
  mkdir -p "$state_dir/slurmctld" "$state_dir/slurmd" "$log_dir"
  chown slurm:slurm "$state_dir" "$state_dir/slurmctld" "$log_dir"
  running "$ctld_pid" slurmctld || slurmctld
  running "$slurmd_pid" slurmd || slurmd
  wait_idle
  trial_job
  say "node $node is idle ($(grep -o 'TaskPlugin=.*' "$conf_dir/slurm.conf")), $((SECONDS - started)) s"
}

case "${1:-start}" in
  start) start ;;
  stop) stop_all ;;
  status)
    state=$(node_state)
    echo "${state:-not running}"
    up
    ;;
  *) fail "usage: $me [start|stop|status]" ;;
esac
