#!/bin/sh
# fuzz/build.sh — builds every fuzz/fuzz_*.c as a libFuzzer target (clang, ASan + UBSan).
#
#   fuzz/build.sh              targets and seed corpora into build-fuzz/
#   NTG_FUZZ_BUILD=DIR         another build directory
#   NTG_FUZZ_SANITIZE=LIST     sanitizers besides fuzzer (default: address,undefined)
#   CC=clang-15                another clang
#
# The library is built once by meson in the same directory (static, instrumented with
# -fsanitize=fuzzer-no-link, optional backends and services off); each target is then
# linked against libntgraph.a.  See fuzz/README.md.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
out=${NTG_FUZZ_BUILD:-$root/build-fuzz}
cc=${CC:-clang}
san=${NTG_FUZZ_SANITIZE:-address,undefined}

if ! "$cc" --version 2>/dev/null | grep -qi clang; then
    echo "fuzz/build.sh: $cc is not clang; libFuzzer needs clang (set CC)" >&2
    exit 1
fi

if [ ! -f "$out/build.ninja" ]; then
    CC="$cc" meson setup "$out" "$root" \
        -Dbuildtype=debugoptimized \
        -Db_sanitize="$san" -Db_lundef=false \
        "-Dc_args=['-fsanitize=fuzzer-no-link', '-fno-sanitize-recover=undefined']" \
        -Dxnnpack=disabled -Dvulkan=disabled -Dcuda=disabled \
        -Drocksdb=disabled -Dzmq=disabled -Dtests=disabled
fi
ninja -C "$out" libntgraph.a

cflags="-std=c11 -g -O1 -D_POSIX_C_SOURCE=200809L -fno-sanitize-recover=undefined"
incs="-I$root/include -I$root/base -I$root/ops -I$root/runtime -I$root/compiler -I$root/mesh -I$root/cli"
libs="$(pkg-config --libs yaml-0.1 2>/dev/null || echo -lyaml) $(pkg-config --libs zlib 2>/dev/null) -lm -lpthread"

for src in "$root"/fuzz/fuzz_*.c; do
    [ -e "$src" ] || continue
    name=$(basename "$src" .c)
    echo "fuzz/build.sh: $name"
    # a target may name sources outside the library it needs (modules this build leaves out,
    # e.g. the mesh's decoder): "/* NTG_FUZZ_EXTRA_SOURCES: mesh/mesh_proto.c */"
    extra=""
    for f in $(sed -n 's|^/\* NTG_FUZZ_EXTRA_SOURCES: \(.*\) \*/$|\1|p' "$src"); do
        extra="$extra $root/$f"
    done
    # shellcheck disable=SC2086 # word splitting of the flag lists is intended
    "$cc" $cflags -fsanitize="fuzzer,$san" $incs "$src" $extra "$out/libntgraph.a" $libs \
        -o "$out/$name"
    # the checked-in corpus (seeds and past crashes, replayed by meson test) starts the run
    corpus="$out/corpus/${name#fuzz_}"
    mkdir -p "$corpus"
    if [ -d "$root/fuzz/corpus/${name#fuzz_}" ]; then
        cp "$root/fuzz/corpus/${name#fuzz_}"/* "$corpus"/
    fi
    # a target may carry a seed generator: main() under NTG_FUZZ_SEED_MAIN writes seeds
    # into the directory it is given
    if grep -q NTG_FUZZ_SEED_MAIN "$src"; then
        # shellcheck disable=SC2086
        "$cc" $cflags -DNTG_FUZZ_SEED_MAIN -fsanitize="fuzzer-no-link,$san" $incs "$src" \
            $extra "$out/libntgraph.a" $libs -o "$out/${name}_seed"
        "$out/${name}_seed" "$corpus"
    fi
done
echo "fuzz/build.sh: targets in $out (run e.g. $out/fuzz_plan $out/corpus/plan)"
