#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the tests of the Slurm jobs (issue 25):
#   scripts/slurm-local.sh start    (as root, after scripts/setup.sh) writes a
#                                   configuration under SLURM_LOCAL_DIR (default
#                                   /tmp/framelabel-slurm), starts munged, slurmctld and slurmd as
#                                   root, waits until the node is idle, and prints the line to
#                                   source: export SLURM_CONF=...
#   scripts/slurm-local.sh stop     stops the three daemons by their process ids and removes the
#                                   folder.
# Daemons run as root with process tracking by /proc (no cgroups, which containers often lack).
set -euo pipefail
dir="${SLURM_LOCAL_DIR:-/tmp/framelabel-slurm}"
conf="$dir/slurm.conf"

stop() {
  for d in slurmd slurmctld munged; do
    if [ -s "$dir/$d.pid" ]; then
      pid=$(cat "$dir/$d.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$dir"
}

start() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm-local: slurm-wlm and munge are not installed: run scripts/setup.sh" >&2
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "slurm-local: the daemons run as root here: run as root" >&2
    return 1
  fi
  [ -d "$dir" ] && stop
  for port in 16817 16818; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "slurm-local: port $port is taken (another cluster of this script? stop it with its SLURM_LOCAL_DIR)" >&2
      return 1
    fi
  done
  trap 'echo "slurm-local: start failed; logs were in $dir" >&2; tail -n 5 "$dir"/*.log >&2 || true; stop' ERR
  mkdir -p "$dir/state" "$dir/spool" "$dir/munge"
  chmod 700 "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed"
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  # Ports above the usual 6817/6818, so that a cluster already on this machine is left alone.
  cat >"$conf" <<EOF
ClusterName=framelabel
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF="$conf"
  slurmctld -f "$conf"
  slurmd -f "$conf" -N "$host"
  for _ in $(seq 100); do
    if sinfo -h -N -o '%t' 2>/dev/null | grep -qx 'idle'; then
      trap - ERR
      echo "export SLURM_CONF=$conf"
      return 0
    fi
    sleep 0.2
  done
  false # the node did not come up: the trap prints the logs and stops the daemons
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
