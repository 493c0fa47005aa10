#!/usr/bin/env bash
# vulkan_parity.sh — N-HiTS trained on ETTh1 on the CPU reference and on Vulkan from one seed:
# the loss curves must agree within 1e-3 relative at every logged step (train and validation).
#
#   bench/vulkan_parity.sh                          200 steps of the graph's defaults (h 96)
#   STEPS=100 bench/vulkan_parity.sh -D hidden=64   fewer steps, graph overrides passed on
#   OUT=dir bench/vulkan_parity.sh                  keep the loss curves (cpu.csv, vulkan.csv)
#
# Uses the Vulkan device the backend picks (NTG_VULKAN_DEVICE to choose; lavapipe counts).
# Exit status 1 when a step differs by more than the tolerance (TOL, default 1e-3).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${NTG_BUILD_DIR:-build}
steps=${STEPS:-200}
val=${VAL_EVERY:-50}
tol=${TOL:-1e-3}
ninja -C "$build" cli/ntgraph >/dev/null
ntg=$build/cli/ntgraph
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"

args=(graphs/nhits.yaml --data data/ETTh1.csv --columns all --split 8640,2880,2880
      --steps "$steps" --val-every "$val" --seed 1 "$@")
for be in cpu vulkan; do
  echo "== $be"
  $ntg train "${args[@]}" --backend "$be" --log-csv "$out/$be.csv" -o "$out/$be.plan"
done

# step,train_loss,val_loss,lr,windows_per_s,elapsed_s
awk -F, -v tol="$tol" '
  function rel(a, b) { d = a - b; if (d < 0) d = -d; if (b < 0) b = -b; return b > 0 ? d / b : d }
  NR == FNR { if (FNR > 1) { tr[$1] = $2; va[$1] = $3 } next }
  FNR > 1 {
    n++
    e = rel($2, tr[$1]); if (e > worst) { worst = e; at = $1 }
    if (e > tol) bad++
    if ($3 != "" && va[$1] != "") {
      nv++
      ev = rel($3, va[$1]); if (ev > worstv) { worstv = ev; atv = $1 }
      if (ev > tol) bad++
    }
    first = first == "" ? tr[$1] : first; last = tr[$1]
  }
  END {
    printf "%d steps: train loss %.6f -> %.6f (cpu); worst relative difference %.3g (step %s)\n", \
           n, first, last, worst, at
    printf "%d validations: worst relative difference %.3g (step %s)\n", nv, worstv, atv
    if (bad) { printf "FAIL: %d values differ by more than %g\n", bad, tol; exit 1 }
    printf "OK: every logged step within %g\n", tol
  }' "$out/cpu.csv" "$out/vulkan.csv"
echo "curves in $out"
