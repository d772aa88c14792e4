#!/usr/bin/env bash
# tests/gpu/verify_scan.sh [BUILD] - verify's one-pass structure scan on the
# CUDA path (issue 17), on a machine with an NVIDIA GPU. From the repository root:
#     bash tests/gpu/verify_scan.sh            (DEPS=dir as for make)
# Builds dsconv with CUDA=1 (BUILD defaults to build-gpu), then:
#  - tests/gpu/scan_cuda.c: the CUDA scan kernel gives the CPU reference's first
#    non-finite index (every FP8/16-bit code, 64M-value buffers), and its speed;
#  - verify --device cuda on dev-tiny: every stored weight byte tested once; NaN
#    in experts no token routes to, in the MTP layer, a negative scale: exit 3
#    naming file and tensor, no verdict on the logits, bytes still counted once.
# Prints PASS/FAIL lines and ends with "N passed, N failed".
# Exit: 0 all passed, 1 a failure, 77 skipped because there is no GPU here.
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-${BUILD:-build-gpu}}
IN=tests/data/dev-tiny/input
FP8_BYTES=7658432 # python3 tests/tools/stored_bytes.py tests/data/dev-tiny/input

source tests/gpu/lib.sh
GPU_TAG=verify_scan_gpu_ran
find_nvcc
[ -n "$NVCC" ] || skip_or_fail "nvcc not found, so the CUDA build cannot be made"
gpu_make "$BUILD/verify_scan_build.log" bin/dsconv "$BUILD/tests/gpu/scan_cuda"
DSCONV=bin/dsconv
gpu_workdir vscan-gpu

# --- the kernel ---
"$BUILD/tests/gpu/scan_cuda" >"$W/k.out" 2>&1; rc=$?
cat "$W/k.out"
[ "$rc" = 77 ] && skip_or_fail "$(grep -m1 '^SKIP' "$W/k.out")"
count_lines "$W/k.out"

# --- verify --device cuda ---
st_offset() {
    local hl begin
    hl=$(od -An -tu8 -N8 "$1" | tr -d ' ')
    begin=$(head -c $((8 + hl)) "$1" | tail -c "$hl" | grep -o "\"$2\":{[^}]*}" | grep -o 'data_offsets":\[[0-9]*' | grep -o '[0-9]*$')
    [ -n "$begin" ] && echo $((8 + hl + begin))
}
shard_of() { grep -o "\"$2\": *\"[^\"]*\"" "$1/model.safetensors.index.json" | sed 's/.*: *"//; s/"$//'; }
put() { local f=$1/$(shard_of "$1" "$2"); printf "$4" | dd of="$f" bs=1 seek=$(($(st_offset "$f" "$2") + $3)) conv=notrunc status=none; }
num() { grep -o "\"$2\":[[:space:]]*[-0-9.e+]*" "$1" | sed -n "${3:-1}p" | grep -o '[-0-9.e+]*$'; }
once() { # NAME JSON
    local a b; a=$(num "$2" bytes_in_stream) b=$(num "$2" bytes_scan_only)
    if [ -n "$a" ] && [ -n "$b" ] && [ $((a + b)) = $FP8_BYTES ]; then ok "$1"; else ko "$1" "${a:-?} + ${b:-?} != $FP8_BYTES"; fi
}
V="$DSCONV verify --device cuda"
echo '[[5]]' >"$W/one.json"
$V "$IN" --tokens "$W/one.json" --json "$W/ok.json" >"$W/out" 2>"$W/err"
[ $? = 0 ] && ok "cuda: clean dev-tiny passes" || ko "cuda: clean dev-tiny passes" "$(head -c 300 "$W/err")"
once "cuda: every stored weight byte tested once" "$W/ok.json"

cp -r "$IN" "$W/experts"
for e in 0 1 2 3 4 5 6 7; do put "$W/experts" "model.layers.1.mlp.experts.$e.down_proj.weight" $((7 * 256 + 3)) '\x7f'; done
$V "$W/experts" --tokens "$W/one.json" --json "$W/x.json" --dump-logits "$W/x.f32" >"$W/out" 2>"$W/err"; rc=$?
[ $rc = 3 ] && ok "cuda: NaN in unrouted experts exits 3" || ko "cuda: NaN in unrouted experts exits 3" "exit $rc"
n=0
for e in 0 1 2 3 4 5 6 7; do grep -qF "tensor model.layers.1.mlp.experts.$e.down_proj.weight: row 7, column 3 is NaN" "$W/err" && n=$((n + 1)); done
[ $n = 8 ] && ok "cuda: all 8 experts named" || ko "cuda: all 8 experts named" "$n of 8"
[ ! -e "$W/x.f32" ] && ok "cuda: no logits before the scan finished" || ko "cuda: no logits before the scan finished"
once "cuda: damaged, bytes still counted once" "$W/x.json"

cp -r "$IN" "$W/mtp"
put "$W/mtp" model.layers.2.eh_proj.weight $(((3 * 512 + 5) * 2)) '\xff\xff'
$V "$W/mtp" >"$W/out" 2>"$W/err"; rc=$?
[ $rc = 3 ] && grep -qF "tensor model.layers.2.eh_proj.weight: row 3, column 5 is NaN" "$W/err" &&
    ok "cuda: NaN in the MTP layer named, exit 3" || ko "cuda: NaN in the MTP layer named, exit 3" "exit $rc"

cp -r "$IN" "$W/scale"
put "$W/scale" model.layers.1.mlp.experts.5.up_proj.weight_scale_inv 4 '\x00\x00\x80\xbf'
$V "$W/scale" --tokens "$W/one.json" >"$W/out" 2>"$W/err"; rc=$?
[ $rc = 3 ] && grep -qF "experts.5.up_proj.weight_scale_inv: row 0, column 1 is -1" "$W/err" &&
    ok "cuda: negative scale named, exit 3" || ko "cuda: negative scale named, exit 3" "exit $rc"

gpu_summary
