#!/usr/bin/env bash
# tests/gpu/fp4_cuda.sh [BUILD] - GPU test of the NVFP4 / MXFP4 requant kernels,
# on a machine with an NVIDIA GPU. From the repository root:
#   bash tests/gpu/fp4_cuda.sh
# 1. tests/gpu/fp4_cuda.c: ds_cuda_fp4_quant_rows vs ds_cpu_fp4_quant_rows bytes.
# 2. requant --device cuda --format nvfp4|mxfp4 (rtn, mse, experts-only) on
#    dev-tiny: the same shards as --device cpu, and compressed-tensors' bytes
#    (tests/data/quantfmt/expected.json).
# 3. where python3 has compressed-tensors and a GPU torch: tests/tools/ct_ref.py
#    again, so the library's own (Triton) GPU path is checked against the same hashes.
# Ends with "N passed, N failed". Exit 77 when there is no GPU.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build-gpu}}
source tests/gpu/lib.sh
skip_without_gpu "SKIP: no GPU here"
find_nvcc
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}
CC=${CC:-gcc}
DEPS=${DEPS:-}
dflags=()
[ -n "$DEPS" ] && dflags=(-I"$DEPS/include" -L"$DEPS/lib" -Wl,-rpath,"$(cd "$DEPS" && pwd)/lib")
mkdir -p "$BUILD/tests/gpu"
log=$BUILD/tests/gpu/fp4_build.log
gpu_make "$log" "$BUILD/libdsconv.a" bin/dsconv "$BUILD/tools/mfsubset"
if ! $CC -O2 -g -std=gnu11 -Wall -Wextra -fopenmp -I. "${dflags[@]}" -o "$BUILD/tests/gpu/fp4_cuda" tests/gpu/fp4_cuda.c \
        "$BUILD/libdsconv.a" "${dflags[@]}" -L"$CUDA_HOME/lib64" -L"$CUDA_HOME/targets/x86_64-linux/lib" -lcjson \
        -lcudart_static -ldl -lrt -lpthread -lm -lstdc++ >"$log" 2>&1; then
    cat "$log"; echo "FAIL build: tests/gpu/fp4_cuda.c"; echo "0 passed, 1 failed"; exit 1
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/dsconv-fp4-gpu.XXXXXX")
trap 'rm -rf "$out"' EXIT
"$BUILD/tests/gpu/fp4_cuda" | tee "$out/log"
count_lines "$out/log"
D=$PWD/bin/dsconv IN=tests/data/dev-tiny/input REF=tests/data/quantfmt/expected.json
same_dirs() { local s; for s in "$1"/*.safetensors; do cmp -s "$s" "$2/$(basename "$s")" || return 1; done; }
for args in "nvfp4" "mxfp4" "nvfp4 --method mse" "mxfp4 --method mse" "nvfp4 --experts-only" "mxfp4 --experts-only"; do
    tag=$(echo "$args" | tr ' ' '_')
    set -- $args
    f=$1; shift
    "$D" requant "$IN" "$out/g_$tag" --format "$f" "$@" --device cuda --quiet || { ko "requant --device cuda $args runs"; continue; }
    "$D" requant "$IN" "$out/c_$tag" --format "$f" "$@" --device cpu --quiet
    if same_dirs "$out/c_$tag" "$out/g_$tag"; then ok "requant $args: --device cuda shards == --device cpu shards"; else ko "requant $args: cuda vs cpu shards differ"; fi
    if [ "$#" = 0 ]; then
        "$D" manifest "$out/g_$tag" >"$out/g_$tag.mf"
        if "$BUILD/tools/mfsubset" --partial "$REF" "requant_$f" "$out/g_$tag.mf" >"$out/mf.log"; then ok "requant --device cuda $f: compressed-tensors' bytes"; else cat "$out/mf.log"; ko "requant --device cuda $f vs compressed-tensors"; fi
    fi
done
if python3 -c 'import torch, compressed_tensors; assert torch.cuda.is_available()' 2>/dev/null; then
    if python3 tests/tools/ct_ref.py "$D" "$out/ref_gpu.json" >"$out/ref.log" 2>&1; then
        ok "ct_ref.py ran with a GPU torch"
        python3 - "$REF" "$out/ref_gpu.json" <<'PY' && ok "the library on this GPU machine writes the committed hashes" || ko "library hashes differ here (see diff above)"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
bad = [(k, t) for k in a for t in a[k] if b.get(k, {}).get(t) != a[k][t]]
for k, t in bad[:20]: print("differs:", k, t)
sys.exit(1 if bad else 0)
PY
    else tail -20 "$out/ref.log"; ko "ct_ref.py on the GPU machine"; fi
else
    echo "note: no python3 with torch (CUDA) and compressed-tensors here: the library's GPU path was not checked"
fi
gpu_summary
