#!/bin/sh
# mesh_netem.sh — mesh_bench between network namespaces over a shaped link, against the ring's
# alpha-beta model; and the model's projection for bigger meshes (on paper).
#
#   bench/mesh_netem.sh [--build DIR] [--rate 1gbit] [--delay 1ms] [--worlds 2,3,4]
#                       [--sizes 1,4,14.7,64] [--repeats 3]
#
# Needs root and iproute2.  Ranks live in namespaces ntgbench-r0 .. r{N-1} (10.215.0.1 ..),
# each joined to a bridge in ntgbench-hub by a veth pair whose rank side is shaped: netem
# (delay + rate) where the kernel has sch_netem, else tbf (rate only; the delay is then the
# veth's own).  Every message crosses one shaped egress.  The model uses the measured raw
# PUSH/PULL throughput and half the measured round trip of a small ZeroMQ message.
set -eu

build=build rate=1gbit delay=1ms worlds=2,3,4 sizes=1,4,14.7,64 repeats=3
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --worlds) worlds=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--rate R] [--delay D] [--worlds L] [--sizes L] [--repeats N]" >&2; exit 2 ;;
    esac
done
bench=$(cd "$(dirname "$0")/.." && pwd)/$build/bench/mesh_bench
[ -x "$bench" ] || { echo "mesh_netem.sh: $bench not built" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "mesh_netem.sh: needs root (ip netns)" >&2; exit 1; }

max=$(echo "$worlds" | tr ',' '\n' | sort -n | tail -n1)
cleanup() {
    for i in $(seq 0 $((max - 1))); do ip netns del "ntgbench-r$i" 2>/dev/null || true; done
    ip netns del ntgbench-hub 2>/dev/null || true
}
trap cleanup EXIT INT TERM
cleanup

ip netns add ntgbench-hub
ip -n ntgbench-hub link add br0 type bridge
ip -n ntgbench-hub link set br0 up
shaping=""
for i in $(seq 0 $((max - 1))); do
    ns=ntgbench-r$i
    ip netns add "$ns"
    ip link add "ntgb$i" type veth peer name "ntgbh$i"
    ip link set "ntgb$i" netns "$ns"
    ip link set "ntgbh$i" netns ntgbench-hub
    ip -n ntgbench-hub link set "ntgbh$i" master br0 up
    ip -n "$ns" addr add "10.215.0.$((i + 1))/24" dev "ntgb$i"
    ip -n "$ns" link set "ntgb$i" up
    ip -n "$ns" link set lo up
    if ip netns exec "$ns" tc qdisc add dev "ntgb$i" root netem delay "$delay" rate "$rate" \
        limit 100000 2>/dev/null; then
        shaping="netem delay $delay rate $rate"
    else
        ip netns exec "$ns" tc qdisc add dev "ntgb$i" root tbf rate "$rate" burst 64kb latency 50ms
        shaping="tbf rate $rate (no netem in this kernel: no added delay)"
    fi
done

echo "shaping on every rank's egress: $shaping"
echo "loadavg: $(cat /proc/loadavg)"
ip netns exec ntgbench-r1 "$bench" --pong tcp://10.215.0.2:5598 --iters 2000 &
sleep 0.5
ip netns exec ntgbench-r0 "$bench" --ping tcp://10.215.0.2:5598 --iters 2000 | tee /tmp/ntgbench-rtt.$$
wait
alpha_us=$(sed -n 's|.*; alpha \([0-9.]*\) us|\1|p' /tmp/ntgbench-rtt.$$)
rm -f /tmp/ntgbench-rtt.$$

ip netns exec ntgbench-r1 "$bench" --raw-recv tcp://10.215.0.2:5599 --mb 128 >/tmp/ntgbench-raw.$$ &
sleep 0.5
ip netns exec ntgbench-r0 "$bench" --raw-send tcp://10.215.0.2:5599 --mb 128
wait
cat /tmp/ntgbench-raw.$$
raw=$(sed -n 's|.*: \([0-9.]*\) GB/s|\1|p' /tmp/ntgbench-raw.$$)
rm -f /tmp/ntgbench-raw.$$
gbit=$(echo "$raw" | awk '{printf "%.3f", $1 * 8}')
echo "raw throughput $raw GB/s = $gbit Gbit/s over the shaped link"

port=29700
for n in $(echo "$worlds" | tr ',' ' '); do
    port=$((port + 1))
    for r in $(seq 1 $((n - 1))); do
        ip netns exec "ntgbench-r$r" "$bench" --rank "$r" --world "$n" \
            --rendezvous "tcp://10.215.0.1:$port" --insecure --tcp --sizes "$sizes" \
            --repeats "$repeats" --iters 5 &
    done
    echo
    echo "measured, world $n:"
    ip netns exec ntgbench-r0 "$bench" --rank 0 --world "$n" --rendezvous "tcp://10.215.0.1:$port" \
        --insecure --tcp --sizes "$sizes" --repeats "$repeats" --iters 5
    wait
    echo "model, world $n:"
    "$bench" --model "$gbit" "$alpha_us" --worlds "$n" --sizes "$sizes"
done
echo
echo "projection for one N-HiTS h96 gradient (14.7 MB), alpha $alpha_us us (on paper):"
"$bench" --model 10 "$alpha_us" --worlds 8,32,128 --sizes 14.7
"$bench" --model 100 "$alpha_us" --worlds 8,32,128 --sizes 14.7
echo "loadavg: $(cat /proc/loadavg)"
