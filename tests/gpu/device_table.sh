#!/usr/bin/env bash
# tests/gpu/device_table.sh [BUILD] - the device table's CUDA instance
# (kernels/device.h, kernels/cuda/device_cuda.c) on a machine with an NVIDIA
# GPU: runs the CUDA build's unit test of the weight stream, whose GPU cases
# (widen through the table, every stream request taken into GPU memory and
# compared with the CPU's floats) only run where a GPU is usable. Needs the CUDA
# build in BUILD (default build; make test-gpu or tests/gpu/all.sh make it).
# Prints the test's PASS/FAIL lines and ends with "N passed, N failed".
# Exit: 0 all passed, 1 a failure, 77 skipped because there is no GPU here.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build}}
source tests/gpu/lib.sh
skip_without_gpu
t=$BUILD/tests/test_verify_stream
gpu_make "$BUILD/device_table_build.log" "$t"
log=$(mktemp); trap 'rm -f "$log"' EXIT
"$t" >"$log" 2>&1; rc=$?
# The GPU cases must have run: a CUDA build on a GPU machine that says "no GPU" did not test the table.
if grep -q 'no GPU here' "$log"; then echo "FAIL device_table_cuda_ran: $t skipped its GPU cases on a GPU machine" >>"$log"
else echo "PASS device_table_cuda_ran" >>"$log"; fi
cat "$log"
count_lines "$log"
gpu_summary && [ "$rc" = 0 ]
