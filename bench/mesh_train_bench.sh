#!/bin/sh
# mesh_train_bench.sh — training throughput of `ntgraph mesh run -n 2` (one thread per worker)
# against one process with one thread, for N-HiTS (h96) and the LSTM graph (docs/benchmarks.md),
# with the gradient all-reduce after backward (--mesh-bucket-mb 0) and overlapping it in buckets
# (BUCKETS, default "4 1": MB per bucket).
#   win/s   windows per second (the summary line)
#   cpu s   user + system CPU seconds of the whole job (every worker), from /usr/bin/time: on a
#           shared machine this moves far less with the load than wall time does
#   comm %  the share of rank 0's training time spent in the steps' all-reduces and broadcasts
#   ms/step, wait, ring, cpu, cpu io   rank 0's "mesh: per step" line: wall ms per step, of it
#           ms blocked in the gradient all-reduce, ms the ring worked on all-reduces (the mesh's
#           timer), and CPU ms of the training thread and of the mesh's and ZeroMQ's threads
# usage: bench/mesh_train_bench.sh [BUILD_DIR] [STEPS]   (from the source root)
set -eu
build=${1:-build}
steps=${2:-40}
buckets=${BUCKETS:-4 1}
ntg="$build/cli/ntgraph"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rate() { sed -n 's/.*(\([0-9]*\) windows\/s).*/\1/p' "$1"; }
comm() { sed -n 's/.*(\([0-9]*\) %) in all-reduce.*/\1/p' "$1"; }
cpu() { awk '/^cpu / { printf "%.1f", $2 + $3 }' "$1"; }
perstep() {
    sed -n 's/^mesh: per step \([0-9.]*\) ms: [0-9.]* computing and the rest, \([0-9.]*\) waiting.* busy \([0-9.]*\) ms.*CPU \([0-9.]*\) ms in the training thread, \([0-9.]*\) in.*/\1 \2 \3 \4 \5/p' "$1"
}
echo "load before: $(uptime)"
printf '%-16s %-12s %8s %7s %6s %7s %8s %6s %6s %6s %6s\n' graph run "win/s" "cpu s" ratio \
    "comm %" "ms/step" wait ring cpu "cpu io"
for g in nhits lstm_attention; do
    common="graphs/$g.yaml --data data/ETTh1.csv --split 8640,2880,2880 --steps $steps \
        --val-every 0 --seed 1"
    # shellcheck disable=SC2086
    /usr/bin/time -f 'cpu %U %S' -o "$out/one.time" \
        "$ntg" train $common --threads 1 -o "$out/one.plan" >"$out/one.txt"
    one=$(rate "$out/one.txt")
    printf '%-16s %-12s %8s %7s %6s %7s %8s %6s %6s %6s %6s\n' "$g" "1 process" "$one" \
        "$(cpu "$out/one.time")" 1.00 - - - - - -
    for mb in 0 $buckets; do
        # shellcheck disable=SC2086
        /usr/bin/time -f 'cpu %U %S' -o "$out/two.time" \
            "$ntg" mesh run -n 2 -- train $common -o "$out/two.plan" --mesh-bucket-mb "$mb" \
            >"$out/two.txt" 2>/dev/null
        two=$(rate "$out/two.txt")
        # shellcheck disable=SC2046
        set -- $(perstep "$out/two.txt")
        printf '%-16s %-12s %8s %7s %6s %7s %8s %6s %6s %6s %6s\n' "$g" "n 2, $mb MB" "$two" \
            "$(cpu "$out/two.time")" \
            "$(awk -v a="$one" -v b="$two" 'BEGIN { printf "%.2f", b / a }')" \
            "$(comm "$out/two.txt")" "${1:--}" "${2:--}" "${3:--}" "${4:--}" "${5:--}"
    done
done
echo "load after: $(uptime)"
