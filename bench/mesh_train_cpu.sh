#!/bin/sh
# mesh_train_cpu.sh — CPU time per global step of training, one process with one thread against
# `ntgraph mesh run -n 2` (one thread per worker), for N-HiTS (h96) and the LSTM graph
# (docs/benchmarks.md, "CPU per global step").  On a shared machine wall time moves with the
# other users' load; CPU time much less.  If two workers together spend C2 CPU ms per global
# step and one process C1, two otherwise idle cores give at most 2 * C1 / C2 of one process's
# throughput.
#   ms/step  user + system CPU of the whole job (every process and thread, perf stat's
#            task-clock), as the difference of a 30-step and a 10-step run over 20: setup
#            (reading the data, compiling, the start's broadcast) cancels out
#   bound    2 * C1 / C2
#   runs     1 process; mesh run -n 2 with --mesh-bucket-mb 0 and 4, ring data through shared
#            memory (the default on one host) and over TCP (--mesh-tcp), the optimizer sharded
#            (the default) and not ("off": --mesh-shard-optimizer off, the step before ZeRO-1),
#            the frames of the sharded step read in place (the default through shared memory)
#            or copied ("copy": NTG_MESH_IN_PLACE=off)
#   thread, mesh   rank 0's "mesh: per step" CPU ms of its training thread and of the mesh's
#            and ZeroMQ's threads (the 30-step run)
# usage: [GRAPHS="nhits lstm_attention"] bench/mesh_train_cpu.sh [BUILD_DIR]   (from the source
# root; needs perf)
set -eu
build=${1:-build}
ntg="$build/cli/ntgraph"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
job() { # graph steps mode(one|bucket MB)
    common="graphs/$1.yaml --data data/ETTh1.csv --split 8640,2880,2880 --steps $2 --val-every 0 --seed 1"
    if [ "$3" = one ]; then
        # shellcheck disable=SC2086
        perf stat -x, -e task-clock -o "$out/stat" -- "$ntg" train $common --threads 1 \
            -o "$out/p.plan" >"$out/log" 2>&1
    else
        # "MB [tcp] [off] [copy]": ring data over TCP (--mesh-tcp), else through shared memory;
        # copy: frames copied, not read in place (NTG_MESH_IN_PLACE=off); off:
        # every worker runs the whole optimizer step (--mesh-shard-optimizer off)
        mb=${3%% *}
        tcp=
        shard=on
        inplace=on
        case " $3 " in *" tcp "*) tcp=--mesh-tcp ;; esac
        case " $3 " in *" off "*) shard=off ;; esac
        case " $3 " in *" copy "*) inplace=off ;; esac
        # shellcheck disable=SC2086
        NTG_MESH_IN_PLACE=$inplace perf stat -x, -e task-clock -o "$out/stat" -- \
            "$ntg" mesh run -n 2 -- train $common \
            -o "$out/p.plan" --mesh-bucket-mb "$mb" $tcp --mesh-shard-optimizer $shard \
            >"$out/log" 2>&1
    fi
    awk -F, '/task-clock/ { print $1 }' "$out/stat"
}
echo "load before: $(uptime)"
printf '%-16s %-12s %8s %6s %7s %6s\n' graph run "ms/step" bound thread mesh
for g in ${GRAPHS:-nhits lstm_attention}; do
    one=
    for mode in one 0 4 "0 copy" "4 copy" "0 off" "4 off" "0 tcp" "4 tcp"; do
        a=$(job "$g" 10 "$mode")
        b=$(job "$g" 30 "$mode")
        ms=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (b - a) / 20 }')
        [ "$mode" = one ] && one=$ms
        # shellcheck disable=SC2046
        set -- $(sed -n 's/^mesh: per step.*CPU \([0-9.]*\) ms in the training thread, \([0-9.]*\) in.*/\1 \2/p' "$out/log")
        printf '%-16s %-12s %8s %6s %7s %6s\n' "$g" \
            "$([ "$mode" = one ] && echo '1 process' || echo "n 2, ${mode%% *} MB${mode#"${mode%% *}"}")" "$ms" \
            "$(awk -v a="$one" -v b="$ms" 'BEGIN { printf "%.2f", 2 * a / b }')" "${1:--}" "${2:--}"
    done
done
echo "load after: $(uptime)"
