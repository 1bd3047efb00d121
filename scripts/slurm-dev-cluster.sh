#!/usr/bin/env bash
# A two-node Slurm cluster on this one host, for taskloom's cluster tests and examples.
#
#   scripts/slurm-dev-cluster.sh start    # munged, slurmctld, slurmd n1 and n2; waits until idle
#   scripts/slurm-dev-cluster.sh stop     # stops them by pid, removes the state
#   scripts/slurm-dev-cluster.sh status   # sinfo
#
# Needs root and Debian's packages `slurmctld slurmd slurm-client munge` (CI installs
# them with apt-get --no-install-recommends). Nodes n1 and n2 share 127.0.0.1 on
# ports 6821 and 6822, one CPU each, in partition `ci`; no systemd, no cgroups (they
# do not work in a sandbox). Everything it makes lives under /etc/slurm,
# /var/spool/slurm*, /var/log/slurm and /run, and `stop` removes the state, so the
# next start is clean.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
PIDS=(/run/slurmd-n1.pid /run/slurmd-n2.pid /run/slurmctld.pid /run/munge/munged.pid)

need() {
    for cmd in "$@"; do
        command -v "$cmd" >/dev/null 2>&1 || {
            echo "slurm-dev-cluster: $cmd not found; install: apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge" >&2
            exit 2
        }
    done
}

write_conf() {
    local host
    host=$(hostname -s)
    mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    cat >"$CONF" <<EOF
# Written by taskloom's scripts/slurm-dev-cluster.sh: two nodes on one host.
ClusterName=taskloom-dev
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd-%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=30
NodeName=n1 NodeHostname=$host NodeAddr=127.0.0.1 Port=6821 CPUs=1 State=UNKNOWN
NodeName=n2 NodeHostname=$host NodeAddr=127.0.0.1 Port=6822 CPUs=1 State=UNKNOWN
PartitionName=ci Nodes=n1,n2 Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    mkdir -p /run/munge /var/lib/munge /var/log/munge /etc/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge
    chmod 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        head -c 1024 /dev/urandom >/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged
    fi
    for _ in $(seq 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "slurm-dev-cluster: munged did not come up" >&2
    exit 1
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
    need slurmctld slurmd sinfo munged munge unmunge runuser
    if alive /run/slurmctld.pid && alive /run/slurmd-n1.pid && alive /run/slurmd-n2.pid; then
        echo "slurm-dev-cluster: already running"
        return 0
    fi
    stop >/dev/null 2>&1 || true
    write_conf
    start_munge
    /usr/sbin/slurmctld
    /usr/sbin/slurmd -N n1
    /usr/sbin/slurmd -N n2
    # Both nodes must be idle before tests submit jobs (n1 may show `unk` a moment).
    for _ in $(seq 300); do
        local idle
        idle=$(sinfo -h -N -o '%N %T' 2>/dev/null | awk '$2 == "idle" {n++} END {print n+0}')
        if [ "$idle" -ge 2 ]; then
            echo "slurm-dev-cluster: nodes n1 n2 idle"
            return 0
        fi
        sleep 0.1
    done
    echo "slurm-dev-cluster: nodes did not become idle:" >&2
    sinfo -N >&2 || true
    tail -n 20 /var/log/slurm/slurmctld.log >&2 || true
    exit 1
}

stop() {
    # Jobs first, so no worker outlives the cluster; then the daemons, by pid.
    if alive /run/slurmctld.pid; then
        scancel --full --quiet --user=root 2>/dev/null || true
    fi
    for pidfile in "${PIDS[@]}"; do
        if [ -s "$pidfile" ]; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    for pidfile in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            alive "$pidfile" || break
            sleep 0.1
        done
        if alive "$pidfile"; then kill -9 "$(cat "$pidfile")" 2>/dev/null || true; fi
        rm -f "$pidfile"
    done
    rm -rf /var/spool/slurmctld/* /var/spool/slurmd-n1 /var/spool/slurmd-n2
    echo "slurm-dev-cluster: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) sinfo -N ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
