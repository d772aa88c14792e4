#!/usr/bin/env bash
# verify_scan.sh - verify reads a checkpoint once, the structure
# scan riding on the forward pass's reads (verify/ws_scan.h). Measures, on one
# input and in one run, beside `cat` of the input:
#   read floor   cat of the shards (run twice; the second, warm, counts, as
#                verify's runs are warm too)
#   verify       dsconv verify IN --device D --json (run twice; the second counts):
#                wall, its phases (structure metadata, forward pass, scan drain
#                after it), stored bytes read (forward + scan-only) against the
#                checkpoint's stored weight bytes
#   target       GPU machine (cuda): wall <= 1.25 x max(read floor, forward pass);
#                CPU (a 2-core dev VM): wall - forward pass <= 5 x read floor
#   671B         the time a DeepSeek-V3 (671B, 688.6 GB of shards) verify would take
#                at 3 GB/s from the bytes it reads (bytes read per stored byte here),
#                and with --against (both checkpoints, each read once)
#
# usage: bench/verify_scan.sh [--size-gb X] [--dir DIR] [--device cuda|cpu] [--json FILE]
#   GPU machine:                make DEPS=.deps -j16 all && bench/verify_scan.sh --size-gb 40 --device cuda
#   dev VM:                     bench/verify_scan.sh --size-gb 0.9 --device cpu
# Prints one line per measurement and a closing "TARGET met|MISSED" line; writes JSON.
set -u
SIZE_GB=40 DIR=${TMPDIR:-/tmp}/dsconv-vscan DEV=cuda JSON=""
while [ $# -gt 0 ]; do
    case $1 in
    --size-gb) SIZE_GB=$2; shift ;;
    --dir) DIR=$2; shift ;;
    --device) DEV=$2; shift ;;
    --json) JSON=$2; shift ;;
    -h|--help) sed -n 2,24p "$0"; exit 0 ;;
    *) echo "verify_scan: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DS=$ROOT/bin/dsconv
IN=$DIR/in
JSON=${JSON:-$DIR/verify_scan.json}
V3_BYTES=688586727753 # DeepSeek-V3's model.safetensors.index.json total_size (163 FP8 shards)
mkdir -p "$DIR"
secs() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN{printf "%.3f", a - b}'; }
calc() { awk "BEGIN{printf \"%.3f\", $1}"; }
num() { grep -o "\"$2\":[[:space:]]*[-0-9.e+]*" "$1" | sed -n "${3:-1}p" | grep -o '[-0-9.e+]*$'; }

echo "verify_scan: $(date -u +%F\ %T) UTC on $(hostname), $(nproc) cores, device $DEV"
[ "$DEV" = cuda ] && nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | sed 's/^/verify_scan: GPU /'
if [ ! -e "$IN/model.safetensors.index.json" ]; then
    rm -rf "$IN"
    "$ROOT/bin/dsconv-sample" --profile v3-bench --size-gb "$SIZE_GB" --out "$IN" --quiet || exit 1
fi
IN_BYTES=$(du -sb "$IN" | cut -f1)
cat "$IN"/*.safetensors >/dev/null
t0=$(date +%s.%N); cat "$IN"/*.safetensors >/dev/null; FLOOR=$(secs "$t0")
echo "verify_scan: read floor: cat of $IN_BYTES bytes in $FLOOR s ($(calc "$IN_BYTES / $FLOOR / 1e9") GB/s)"

for run in 1 2; do
    t0=$(date +%s.%N)
    "$DS" verify "$IN" --device "$DEV" --json "$DIR/v.json" >"$DIR/v.out" 2>"$DIR/v.err"; rc=$?
    WALL=$(secs "$t0")
done
[ "$rc" = 0 ] || { echo "verify_scan: verify exited $rc:"; tail -5 "$DIR/v.err"; }
J=$DIR/v.json
ST=$(num "$J" seconds 1) FW=$(num "$J" seconds 2) DRAIN=$(num "$J" drain_seconds)
FB=$(num "$J" bytes_read) SO=$(num "$J" bytes_scan_only) INS=$(num "$J" bytes_in_stream)
TEST_S=$(num "$J" test_seconds) SO_S=$(num "$J" scan_only_seconds)
READ=$((FB + SO))
echo "verify_scan: verify exit $rc, wall $WALL s: structure (metadata) $ST s, forward pass $FW s, scan drain $DRAIN s"
echo "verify_scan: bytes read $READ of $IN_BYTES in the shards (forward $FB, scan-only $SO; values tested in stream $INS): $(calc "$READ / $WALL / 1e9") GB/s over the wall"
echo "verify_scan: scan CPU time: value test $TEST_S s, scan-only jobs $SO_S s (summed over threads)"
if [ "$DEV" = cuda ]; then
    BOUND=$(calc "1.25 * ($FLOOR > $FW ? $FLOOR : $FW)")
    OK=$(awk "BEGIN{print ($WALL <= $BOUND) ? \"met\" : \"MISSED\"}")
    echo "verify_scan: target wall <= 1.25 x max(read floor $FLOOR, forward $FW) = $BOUND s: $OK ($(calc "$WALL / ($FLOOR > $FW ? $FLOOR : $FW)")x)"
else
    ADDED=$(calc "$WALL - $FW")
    BOUND=$(calc "5 * $FLOOR")
    OK=$(awk "BEGIN{print ($ADDED <= $BOUND) ? \"met\" : \"MISSED\"}")
    echo "verify_scan: target structure work added to the forward pass ($ADDED s = wall - forward) <= 5 x read floor = $BOUND s: $OK"
fi
PER=$(calc "$READ / $IN_BYTES")
T671=$(calc "$V3_BYTES * $PER / 3e9")
echo "verify_scan: 671B at 3 GB/s: $(calc "$V3_BYTES * $PER / 1e9") GB read once = $T671 s ($(calc "$T671 / 60") min); with --against (two checkpoints, each once) $(calc "2 * $T671 / 60") min"
printf '{"date":"%s","host":"%s","cores":%s,"device":"%s","input_bytes":%s,"read_floor_seconds":%s,"wall_seconds":%s,"structure_seconds":%s,"forward_seconds":%s,"drain_seconds":%s,"bytes_read":%s,"forward_bytes":%s,"scan_only_bytes":%s,"test_seconds":%s,"scan_only_seconds":%s,"bound_seconds":%s,"target":"%s","v3_671b_seconds_at_3gbps":%s,"exit":%s}\n' \
    "$(date -u +%FT%TZ)" "$(hostname)" "$(nproc)" "$DEV" "$IN_BYTES" "$FLOOR" "$WALL" "$ST" "$FW" "$DRAIN" "$READ" "$FB" "$SO" \
    "$TEST_S" "$SO_S" "$BOUND" "$OK" "$T671" "$rc" >"$JSON"
echo "verify_scan: results in $JSON"
echo "TARGET $OK"
