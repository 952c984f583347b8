#!/usr/bin/env bash
# Starts a one-node SLURM cluster on this machine for tests/cluster_slurm.rs:
# munged, slurmctld and slurmd, all on the loopback address, with a config
# this script writes. Safe to run twice: a cluster that already answers is
# left as it is (exit 0).
#
# Needs root and Debian's `slurm-wlm` and `munge` (.ci/test installs them).
# Nothing here suits a real cluster: daemons run as root, there are no
# cgroups (this runs in a container), no accounting database, and the node
# claims more CPUs than the machine has so that 20+ agents, which mostly
# wait on a model, can run at once.
#
# The config goes to /etc/slurm/slurm.conf, where every SLURM command looks
# for it, but only when that file is missing or was written by this script:
# a machine with a real SLURM configuration is never overwritten.
set -euo pipefail

MARK="# written by odw tests/slurm/start.sh"
CONF=/etc/slurm/slurm.conf
NODE=$(hostname -s)
LOGS=/var/log/slurm
# Slots on the node: jobs ask for one CPU each (the executor's default).
CPUS=${ODW_SLURM_CPUS:-96}

die() { echo "tests/slurm/start.sh: $*" >&2; exit 1; }

for tool in munged slurmctld slurmd sinfo srun scontrol; do
  command -v "$tool" >/dev/null || die "\`$tool\` is not installed (apt-get install slurm-wlm munge)"
done
[ "$(id -u)" = 0 ] || die "must run as root (it starts system daemons)"

up() {
  # `sinfo` answers only when slurmctld is up; the node counts once slurmd
  # has registered (idle, or mixed/allocated while jobs run).
  local state
  state=$(timeout 2 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n1) || return 1
  case "$state" in idle | mixed | allocated | completing) return 0 ;; *) return 1 ;; esac
}

if [ -f "$CONF" ] && grep -qF "$MARK" "$CONF" && up; then
  echo "slurm: already up ($(sinfo -h -n "$NODE" -o '%n %T %c CPUs'))"
  exit 0
fi
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
  die "$CONF exists and was not written by this script; refusing to replace a real SLURM configuration"
fi

# munge: the key Debian's package made, else a new one.
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  # --force: a socket left by a munged that was killed is replaced.
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n </dev/null | unmunge >/dev/null || die "munged did not start (see /var/log/munge/munged.log)"
fi

mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 ))
install -d -m 0755 /etc/slurm /var/spool/slurmctld /var/spool/slurmd "$LOGS"
cat >"$CONF" <<EOF
$MARK
ClusterName=odwtest
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# No cgroups in a container: processes are tracked by their process group,
# and tasks are not bound to CPUs.
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
# One CPU a slot, memory not consumed: --mem is checked against RealMemory
# but 20 jobs never wait on each other for memory.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
ReturnToService=2
# A dead srun's job is ended within a minute; a cancelled job's processes
# get SIGKILL 2 s after SIGTERM.
InactiveLimit=60
KillWait=2
MinJobAge=30
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem_mb State=UNKNOWN
PartitionName=odw Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

# Daemons from an earlier config (or a crashed start) go first.
for pidfile in /run/slurmctld.pid /run/slurmd.pid; do
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" || true
    for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
  fi
done
# -c: start with no jobs from an earlier cluster.
slurmctld -c
slurmd
for _ in $(seq 300); do
  up && break
  sleep 0.1
done
up || die "the node did not come up: $(sinfo -h -o '%n %T %E' 2>&1); see $LOGS/slurmctld.log and $LOGS/slurmd.log"
echo "slurm: up ($(sinfo -h -n "$NODE" -o '%n %T %c CPUs'))"
