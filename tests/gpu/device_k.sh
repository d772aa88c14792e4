#!/usr/bin/env bash
# device_k.sh [BUILD] - --device cuda:K on a machine with two GPUs or more (the
# device machine's nvidia-h200-x2): K is the last GPU.
#  - tests/gpu/device_k.c: threads that never chose a device (the executor's
#    readers) work on K through every entry point of kernels/gpu.h, and the
#    driver shows no context on device 0;
#  - requant, to-bf16 and to-gguf with --device cuda:K on a 1 GB V3-shaped
#    sample: nvidia-smi, polled while each runs, shows the process on K and never
#    on device 0; to-gguf's file is the CPU's.
# With one GPU it says so ("SKIP", "0 passed, 0 failed") and exits 0: the one-GPU
# machine and CI cannot run it.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build}}
source tests/gpu/lib.sh
source tests/e2e/lib.sh
skip_without_gpu
ngpu=$(nvidia-smi -L | grep -c '^GPU ')
if [ "$ngpu" -lt 2 ]; then
    echo "SKIP: --device cuda:K needs 2 GPUs, $ngpu here (run it on a 2-GPU machine: nvidia-h200-x2)"
    echo "0 passed, 0 failed"
    exit 0
fi
gpu_make "$BUILD/tests/gpu/device_k_build.log" bin/dsconv bin/dsconv-sample "$BUILD/tests/gpu/device_k"
gpu_workdir device-k
{
"$BUILD/tests/gpu/device_k"
K=$((ngpu - 1))
uuid() { nvidia-smi --query-gpu=index,uuid --format=csv,noheader | awk -F', ' -v i="$1" '$1 == i {print $2}'; }
U0=$(uuid 0) UK=$(uuid $K)
bin/dsconv-sample --profile v3-bench --size-gb 1 --out "$W/in" --quiet
cp tests/data/tok-tiny/tokenizer.json tests/data/tok-tiny/tokenizer_config.json "$W/in/"
# on_k NAME OUT -- command...: runs it while nvidia-smi lists the GPUs' processes every 20 ms
on_k() {
    local name=$1 out=$2; shift 3
    rm -rf "$out"
    nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader -lms 20 >"$W/apps" 2>/dev/null &
    local poll=$! pid rc
    sleep 0.5
    "$@" --device cuda:$K --quiet --no-sync >"$W/log" 2>&1 &
    pid=$!
    wait $pid; rc=$?
    sleep 0.1; kill $poll 2>/dev/null; wait $poll 2>/dev/null
    if [ $rc = 0 ]; then pass "cuda:$K: $name runs"; else fail "cuda:$K: $name runs" "exit $rc: $(tail -2 "$W/log")"; fi
    check "cuda:$K: $name seen on GPU $K by nvidia-smi" grep -q "^$pid, $UK" "$W/apps"
    check "cuda:$K: $name never on GPU 0" [ -z "$(grep "^$pid, $U0" "$W/apps")" ]
}
on_k "requant nvfp4" "$W/q" -- bin/dsconv requant "$W/in" "$W/q" --format nvfp4
on_k "to-bf16" "$W/b" -- bin/dsconv to-bf16 "$W/in" "$W/b"
on_k "to-gguf q8_0, 4 workers" "$W/g.gguf" -- bin/dsconv to-gguf "$W/in" "$W/g.gguf" --type q8_0 --threads 4
bin/dsconv to-gguf "$W/in" "$W/c.gguf" --type q8_0 --device cpu --quiet --no-sync
check "cuda:$K: to-gguf q8_0 = CPU bytes" cmp -s "$W/g.gguf" "$W/c.gguf"
} | tee "$W/out"
log_summary "$W/out"
