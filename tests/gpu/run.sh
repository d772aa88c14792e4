#!/usr/bin/env bash
# tests/gpu/run.sh [BUILD] - the GPU tests, on a machine with an NVIDIA GPU.
# From the repository root, after `make`:   bash tests/gpu/run.sh
#
# Builds tests/gpu/dequant_cuda.c against BUILD/libdsconv.a through make (BUILD
# defaults to build; it must be a CUDA build: make CUDA=1), runs it (CUDA vs CPU bytes,
# then BENCH lines), then tests/gpu/triton_ref.py (an upstream-style Triton
# kernel on the same all-codes grid) where python3 has torch and triton.
# Exit: 0 all passed, 1 a failure, 77 skipped because there is no GPU here.
# A machine that shows a GPU (nvidia-smi) never skips: not running is a failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build}}

source tests/gpu/lib.sh
GPU_TAG=gpu_tests_ran

find_nvcc
[ -n "$NVCC" ] || skip_or_fail "nvcc not found, so the CUDA build and this test cannot be built"

cuda_lib() { ar t "$BUILD/libdsconv.a" 2>/dev/null | grep -qx device.o; }
if [ -f "$BUILD/libdsconv.a" ] && ! cuda_lib; then # do not turn a CPU-only build into a mixed one
    skip_or_fail "$BUILD/libdsconv.a was built without CUDA: rebuild with make CUDA=1 (or make clean; make)"
fi
log=$BUILD/tests/gpu/build.log
bin=$BUILD/tests/gpu/dequant_cuda
# The Makefile builds the program (tests/gpu/%.c rule) and whatever it depends on.
gpu_make "$log" "$bin"
if ! cuda_lib; then
    echo "FAIL build: $BUILD/libdsconv.a has no CUDA objects"; echo "0 passed, 1 failed"; exit 1
fi
grep -i 'warning' "$log" # warnings

dump=$(mktemp -d "${TMPDIR:-/tmp}/dsconv-gpu.XXXXXX")
trap 'rm -rf "$dump"' EXIT
out=$dump/out.txt
DS_GPU_DUMP=$dump/grid "$bin" | tee "$out"
rc=${PIPESTATUS[0]}
if [ "$rc" = 77 ]; then # the test printed "SKIP: no GPU (why)"
    [ "$gpu_seen" = 1 ] && skip_or_fail "the test says: $(grep -m1 '^SKIP' "$out")"
    exit 77
fi

if [ -f "$dump/grid/grid_meta.txt" ] && command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import torch, triton; assert torch.cuda.is_available()' >/dev/null 2>&1; then
    python3 tests/gpu/triton_ref.py "$dump/grid" | tee -a "$out"
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
else
    echo "SKIP triton_ref.py: no python3 with torch, triton and a GPU here (not counted)"
fi

exit_total "$out" "$rc"
