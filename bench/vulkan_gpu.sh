#!/usr/bin/env bash
# vulkan_gpu.sh — build ntgraph with Vulkan on a GPU machine, check it there, time the canonical configs.
#
#   bench/vulkan_gpu.sh                 build in build-gpu, run the Vulkan suite on this
#                                       machine's own driver, then time N-HiTS h96,
#                                       LSTM-attention and Transformer (infer at batch 1 and
#                                       256, train_step at 256) on vulkan and on the CPU
#   NTG_VULKAN_DEVICE=1 bench/...       pick another device (index or name substring)
#   ALLOW_CPU=1 bench/vulkan_gpu.sh     accept a CPU implementation (lavapipe) as the device
#   SECONDS_PER=5 BATCHES="1 64 256"    timing length and batches
#
# Needs: a C compiler, meson, ninja, libyaml, libvulkan (headers + loader), glslangValidator,
# a Vulkan driver for the GPU; Criterion for the checks (skipped without it).  Prints one
# line per measurement (`ntgraph bench` output) and a summary table at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${NTG_BUILD_DIR:-build-gpu}
secs=${SECONDS_PER:-3}
batches=${BATCHES:-"1 256"}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dbuildtype=release -Dvulkan=enabled
fi
ninja -C "$build"
ntg=$build/cli/ntgraph

echo "== devices"
$ntg backends
line=$($ntg backends | grep '^vulkan ' || true)
case "$line" in
  *" available "*) ;;
  *) echo "vulkan_gpu.sh: the vulkan backend is not available here: $line" >&2; exit 1 ;;
esac
if [ "${ALLOW_CPU:-0}" != 1 ] && printf '%s' "$line" | grep -q '(cpu,'; then
  echo "vulkan_gpu.sh: the Vulkan device is a CPU implementation; set ALLOW_CPU=1 to time it" >&2
  exit 1
fi

echo "== correctness on this machine's driver (conformance, golden, training parity)"
if [ -x "$build/tests/test_backend_conformance" ]; then
  NTG_VK_TEST_NATIVE=1 meson test -C "$build" --suite vulkan --print-errorlogs --num-processes 1
else
  echo "(tests not built: Criterion missing)"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -a rows
bench() { # plan program batch backend
  local out
  if ! out=$($ntg bench "$1" --program "$2" --batch "$3" --backend "$4" --seconds "$secs" \
      --json 2>&1); then
    echo "$1 $2 batch $3 on $4: $out" >&2
    out='{"median_us":failed,"windows_per_s":-}'
  fi
  echo "$out"
  rows+=("$(basename "$1" .plan) $2 $3 $4 $out")
}

echo "== timings"
for g in nhits lstm_attention transformer; do
  $ntg compile "graphs/$g.yaml" --batch 256 -o "$tmp/$g.plan"
  for b in $batches; do
    for be in vulkan cpu; do bench "$tmp/$g.plan" infer "$b" "$be"; done
  done
  for be in vulkan cpu; do bench "$tmp/$g.plan" train_step 256 "$be"; done
done

echo "== summary (median microseconds, windows/s)"
printf '%-16s %-11s %6s %-7s %14s %12s\n' model program batch backend median_us windows_per_s
for r in "${rows[@]}"; do
  set -- $r
  json=${*:5}
  med=$(printf '%s' "$json" | sed -n 's/.*"median_us":\([0-9.a-z]*\).*/\1/p')
  wps=$(printf '%s' "$json" | sed -n 's/.*"windows_per_s":\([0-9.-]*\).*/\1/p')
  printf '%-16s %-11s %6s %-7s %14s %12s\n' "$1" "$2" "$3" "$4" "$med" "$wps"
done
