#!/bin/sh
# slurm_one_node.sh — a private one-node Slurm (slurm-wlm + munge) for the mesh's launch test.
#   tests/slurm_one_node.sh up DIR     start munged, slurmctld and slurmd with everything
#                                      (sockets, ports, state, logs, pid files) under DIR;
#                                      prints SLURM_CONF=DIR/slurm.conf when the node is idle
#   tests/slurm_one_node.sh down DIR   stop the three daemons by their pid files
# Needs root (SlurmUser=root; munged checks its key's owner). Nothing outside DIR is touched,
# so it runs beside other Slurm or munge instances; the ports are free ones picked at start.
# Exit status: 0 up, 77 when this host cannot run it (not root, a program missing), 1 failure.
set -eu
cmd=${1:?usage: slurm_one_node.sh up|down DIR}
dir=${2:?usage: slurm_one_node.sh up|down DIR}

stop() {
    for f in slurmd slurmctld munged; do
        if [ -f "$dir/$f.pid" ]; then
            pid=$(cat "$dir/$f.pid")
            kill "$pid" 2>/dev/null || true
            i=0
            while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$dir/$f.pid"
        fi
    done
}

if [ "$cmd" = down ]; then
    stop
    exit 0
fi
[ "$cmd" = up ] || { echo "slurm_one_node.sh: unknown command '$cmd'" >&2; exit 2; }
for p in munged slurmctld slurmd srun sinfo python3; do
    command -v "$p" >/dev/null 2>&1 || { echo "slurm_one_node.sh: $p not found" >&2; exit 77; }
done
[ "$(id -u)" = 0 ] || { echo "slurm_one_node.sh: needs root" >&2; exit 77; }

mkdir -p "$dir/state" "$dir/spool"
chmod 700 "$dir"
head -c 1024 /dev/urandom >"$dir/munge.key"
chmod 400 "$dir/munge.key"
munged --force --socket="$dir/munge.sock" --key-file="$dir/munge.key" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
# two free TCP ports for slurmctld and slurmd
ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
set -- $ports
host=$(hostname -s)
cat >"$dir/slurm.conf" <<CONF
ClusterName=ntgtest
SlurmctldHost=$host
SlurmctldPort=$1
SlurmdPort=$2
AuthType=auth/munge
AuthInfo=socket=$dir/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SwitchType=switch/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -i
slurmd
i=0
until sinfo -h -o %t 2>/dev/null | grep -q idle; do
    i=$((i + 1))
    if [ $i -gt 300 ]; then
        echo "slurm_one_node.sh: the node did not become idle in 30 s; logs in $dir" >&2
        tail -n 5 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
        stop
        exit 1
    fi
    sleep 0.1
done
echo "SLURM_CONF=$dir/slurm.conf"
