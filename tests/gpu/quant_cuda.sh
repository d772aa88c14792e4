#!/usr/bin/env bash
# tests/gpu/quant_cuda.sh [BUILD] - GPU test of the requant kernels (CUDA vs
# CPU bytes for every strategy), on a machine with an NVIDIA GPU. From the
# repository root:   bash tests/gpu/quant_cuda.sh
# Builds BUILD/libdsconv.a with CUDA=1 (BUILD defaults to build-gpu), then
# tests/gpu/quant_cuda.c against it, and runs it; then, where python3 has
# torch, tests/gpu/quant_torch_ref.py (compressed-tensors' arithmetic done by
# torch on CPU and GPU vs our bytes). DEPS=dir as for make (cJSON elsewhere).
# Ends with "total: N passed, N failed".
# Exit: 0 all passed, 1 a failure, 77 skipped because there is no GPU here
# (a machine where nvidia-smi shows a GPU never skips).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build-gpu}}

source tests/gpu/lib.sh
GPU_TAG=quant_gpu_tests_ran

find_nvcc
[ -n "$NVCC" ] || skip_or_fail "nvcc not found"

log=$BUILD/tests/gpu/quant_build.log
bin=$BUILD/tests/gpu/quant_cuda
# The Makefile builds both programs (tests/gpu/%.c rule) and the CUDA library they link.
gpu_make "$log" "$bin" "$BUILD/tests/gpu/quant_file"
if ! ar t "$BUILD/libdsconv.a" | grep -qx quant_rows.o || ar t "$BUILD/libdsconv.a" | grep -qx cuda_stub.o; then
    echo "FAIL build: $BUILD/libdsconv.a is not a CUDA build"; echo "0 passed, 1 failed"; exit 1
fi
grep -i 'warning' "$log"
out=$(mktemp -d "${TMPDIR:-/tmp}/dsconv-quant-gpu.XXXXXX")
trap 'rm -rf "$out"' EXIT
"$bin" | tee "$out/log"
rc=${PIPESTATUS[0]}
[ "$rc" = 77 ] && skip_or_fail "the test could not use it"
if command -v python3 >/dev/null 2>&1 && python3 -c 'import torch, numpy' >/dev/null 2>&1; then
    python3 tests/gpu/quant_torch_ref.py "$BUILD/tests/gpu/quant_file" "$out/work" | tee -a "$out/log"
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
else
    echo "SKIP quant_torch_ref.py: no python3 with torch and numpy here (not counted)"
fi
exit_total "$out/log" "$rc"
