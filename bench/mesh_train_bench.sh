#!/bin/sh
# mesh_train_bench.sh — training throughput of `ntgraph mesh run -n 2` (one thread per worker)
# against one process with one thread, for N-HiTS (h96) and the LSTM graph (docs/benchmarks.md);
# "comm %" is the share of rank 0's training time spent in all-reduce and broadcast.
# usage: bench/mesh_train_bench.sh [BUILD_DIR] [STEPS]   (from the source root)
set -eu
build=${1:-build}
steps=${2:-60}
ntg="$build/cli/ntgraph"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rate() { sed -n 's/.*(\([0-9]*\) windows\/s).*/\1/p' "$1"; }
comm() { sed -n 's/.*(\([0-9]*\) %) in all-reduce.*/\1/p' "$1"; }
echo "load before: $(uptime)"
printf '%-16s %10s %10s %7s %8s\n' graph "1 proc" "mesh -n 2" ratio "comm %"
for g in nhits lstm_attention; do
    common="graphs/$g.yaml --data data/ETTh1.csv --split 8640,2880,2880 --steps $steps \
        --val-every 0 --seed 1"
    # shellcheck disable=SC2086
    "$ntg" train $common --threads 1 -o "$out/one.plan" >"$out/one.txt"
    # shellcheck disable=SC2086
    "$ntg" mesh run -n 2 -- train $common -o "$out/two.plan" >"$out/two.txt" 2>/dev/null
    one=$(rate "$out/one.txt")
    two=$(rate "$out/two.txt")
    printf '%-16s %10s %10s %7s %8s\n' "$g" "$one" "$two" \
        "$(awk -v a="$one" -v b="$two" 'BEGIN { printf "%.2f", b / a }')" "$(comm "$out/two.txt")"
done
echo "load after: $(uptime)"
