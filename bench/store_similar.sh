#!/bin/sh
# store_similar.sh — does `store similar` tell models apart? (issue 16; docs/benchmarks.md)
#
#   bench/store_similar.sh BUILD_DIR [STEPS]
#
# Trains N-HiTS h96 (graphs/nhits.yaml, its defaults but STEPS steps, default 100) on ETTh1
# with two seeds, on ETTh2 (the same kind of data: transformer loads, hourly) and on the
# exchange rates (daily currencies, no season), the LSTM graph on ETTh1, puts each into a
# fresh store with an untrained N-HiTS beside them, and prints `store similar` for the ETTh1
# model.  Needs ../shared/data (or data/ETTh1.csv etc.).
set -eu
build=${1:?usage: bench/store_similar.sh BUILD_DIR [STEPS]}
steps=${2:-100}
ntg=$build/cli/ntgraph
src=$(cd "$(dirname "$0")/.." && pwd)
data() { for d in "$src/data" "$src/../shared/data"; do [ -f "$d/$1" ] && { echo "$d/$1"; return; }; done; echo "missing $1" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/models.db
train() { # name graph csv split seed [extra]
    name=$1 graph=$2 csv=$3 split=$4 seed=$5
    shift 5
    "$ntg" train "$src/graphs/$graph" --data "$csv" --columns all --split "$split" \
        --steps "$steps" --seed "$seed" --val-every 0 --threads 1 "$@" \
        --store "$db" --name "$name" -o "$tmp/$name.plan" >/dev/null
}
train etth1 nhits.yaml "$(data ETTh1.csv)" 8640,2880,2880 1
train etth1-seed2 nhits.yaml "$(data ETTh1.csv)" 8640,2880,2880 2
train etth2 nhits.yaml "$(data ETTh2.csv)" 8640,2880,2880 1
train exchange nhits.yaml "$(data exchange_rate.csv)" 0.7,0.1,0.2 1
train lstm-etth1 lstm_attention.yaml "$(data ETTh1.csv)" 8640,2880,2880 1
"$ntg" compile "$src/graphs/nhits.yaml" -o "$tmp/untrained.plan" >/dev/null
"$ntg" store import --db "$db" --name untrained "$tmp/untrained.plan" >/dev/null
"$ntg" store similar --db "$db" etth1 -k 10
