#!/usr/bin/env bash
# bench.sh - every conversion against the I/O floor, in one run on one machine.
#
# usage: bench/bench.sh [--size-gb X] [--cpu-only] [--dir DIR] [--json FILE] [--skip LIST]
#
# Generates a checkpoint with DeepSeek-V3's real layer shapes (bin/dsconv-sample
# --profile v3-bench), then measures, in this order on this machine:
#   floor: `cat` of the input (read once), `dd` of as many bytes as each output (write once);
#   fp8-to-bf16 (cpu, cuda), shard-for-mp 16, strip-mtp, requant int8/int4 rtn (cpu, cuda),
#   requant int4 mse (cpu, cuda), verify.
# Prints a table (seconds, GB/s of bytes read + written, ratio to the floor, peak RSS)
# and writes the same as JSON. Outputs are written with --no-sync and dd without
# sync: both land in the page cache, so the comparison is like for like.
set -u
SIZE_GB=8 CPU_ONLY=0 DIR=${TMPDIR:-/tmp}/dsconv-bench JSON="" SKIP=""
while [ $# -gt 0 ]; do
    case $1 in
    --size-gb) SIZE_GB=$2; shift ;;
    --cpu-only) CPU_ONLY=1 ;;
    --dir) DIR=$2; shift ;;
    --json) JSON=$2; shift ;;
    --skip) SKIP=$2; shift ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "bench: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DS=$ROOT/bin/dsconv
IN=$DIR/in
OUT=$DIR/out
JSON=${JSON:-$DIR/bench.json}
mkdir -p "$DIR"
THREADS=$(nproc)
secs() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN{printf "%.3f", a - b}'; }
calc() { awk "BEGIN{printf \"%.3f\", $1}"; }   # bc may be missing; awk is everywhere

if "$DS" fp8-to-bf16 --help >/dev/null 2>&1 && [ $CPU_ONLY = 0 ] && "$DS" inspect --help >/dev/null 2>&1; then
    HAVE_CUDA=0
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then HAVE_CUDA=1; fi
else
    HAVE_CUDA=0
fi

echo "bench: $(date -u +%F\ %T) UTC on $(hostname), $THREADS cores, $(free -g | awk '/Mem:/{print $2}') GB RAM"
[ $HAVE_CUDA = 1 ] && echo "bench: GPU $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
if [ ! -e "$IN/model.safetensors.index.json" ]; then
    rm -rf "$IN"
    t0=$(date +%s.%N)
    "$ROOT/bin/dsconv-sample" --profile v3-bench --size-gb "$SIZE_GB" --out "$IN" || exit 1
    echo "bench: generated $(du -sb "$IN" | cut -f1) bytes in $(secs "$t0") s"
fi
IN_BYTES=$(du -sb "$IN" | cut -f1)

# Read floor: the whole input, twice (the first may warm the page cache), the second counts.
cat "$IN"/*.safetensors >/dev/null
t0=$(date +%s.%N); cat "$IN"/*.safetensors >/dev/null; T_READ=$(secs "$t0")
echo "bench: read floor: $IN_BYTES bytes in $T_READ s"

# Write floor for N bytes: dd from /dev/zero into the output filesystem, then removed.
write_floor() {
    local n=$1 bs=$((16 << 20)) t0
    rm -rf "$DIR/ddtest"; mkdir -p "$DIR/ddtest"; sync
    t0=$(date +%s.%N)
    dd if=/dev/zero of="$DIR/ddtest/f" bs=$bs count=$(((n + bs - 1) / bs)) status=none
    secs "$t0"
    rm -rf "$DIR/ddtest"; sync
}

ROWS=""
row() { # name seconds bytes_out floor rss anon
    local ratio gbs
    ratio=$(calc "$2 / $4")
    gbs=$(calc "($IN_BYTES + $3) / $2 / 1000000000")
    printf "%-24s %7.2f s %6.2f GB/s  floor %6.2f s  ratio %5.2fx  peak RSS %5d MiB, anon %5d MiB\n" "$1" "$2" "$gbs" "$4" "$ratio" $(($5 / 1048576)) $(($6 / 1048576))
    ROWS="$ROWS{\"name\":\"$1\",\"seconds\":$2,\"bytes_in\":$IN_BYTES,\"bytes_out\":$3,\"floor_seconds\":$4,\"ratio\":$ratio,\"peak_rss_bytes\":$5,\"peak_anon_bytes\":$6},"
}

run() { # name -- command...
    local name=$1; shift
    case ",$SKIP," in *",$name,"*) echo "bench: $name skipped"; return ;; esac
    rm -rf "$OUT"; sync   # no dirty pages of an earlier step slow this one down
    local t0 t rc
    t0=$(date +%s.%N)
    "$@" --json "$DIR/r.json" --quiet --no-sync; rc=$?
    t=$(secs "$t0")
    if [ $rc != 0 ]; then echo "bench: $name failed (exit $rc)"; ROWS="$ROWS{\"name\":\"$name\",\"error\":$rc},"; return; fi
    local out_bytes rss anon floor
    out_bytes=$(du -sb "$OUT" | cut -f1)
    rss=$(grep -o '"peak_rss_bytes":[[:space:]]*[0-9]*' "$DIR/r.json" | grep -o '[0-9]*$')
    anon=$(grep -o '"peak_anon_bytes":[[:space:]]*[0-9]*' "$DIR/r.json" | grep -o '[0-9]*$')
    rm -rf "$OUT"; sync   # the floor's dd starts from the same clean state
    floor=$(calc "$T_READ + $(write_floor "$out_bytes")")
    row "$name" "$t" "$out_bytes" "$floor" "${rss:-0}" "${anon:-0}"
    rm -rf "$OUT"
}

run fp8-to-bf16-cpu "$DS" fp8-to-bf16 "$IN" "$OUT" --device cpu --threads "$THREADS"
[ $HAVE_CUDA = 1 ] && run fp8-to-bf16-cuda "$DS" fp8-to-bf16 "$IN" "$OUT" --device cuda
run shard-for-mp-16 "$DS" shard-for-mp "$IN" "$OUT" --model-parallel 16 --device cpu
run strip-mtp "$DS" strip-mtp "$IN" "$OUT"
if "$DS" requant --help >/dev/null 2>&1; then
    for dev in cuda cpu; do
        [ $dev = cuda ] && [ $HAVE_CUDA = 0 ] && continue
        run requant-int8-rtn-$dev "$DS" requant "$IN" "$OUT" --bits 8 --device $dev
        run requant-int4-rtn-$dev "$DS" requant "$IN" "$OUT" --bits 4 --device $dev
        run requant-int4-mse-$dev "$DS" requant "$IN" "$OUT" --bits 4 --method mse --device $dev
    done
fi
if "$DS" verify --help >/dev/null 2>&1; then
    for dev in cuda cpu; do
        [ $dev = cuda ] && [ $HAVE_CUDA = 0 ] && continue
        case ",$SKIP," in *",verify-$dev,"*) continue ;; esac
        t0=$(date +%s.%N)
        "$DS" verify "$IN" --device $dev --json "$DIR/v.json" >/dev/null; rc=$?
        t=$(secs "$t0")
        read_b=$(grep -o '"bytes_read":[[:space:]]*[0-9]*' "$DIR/v.json" 2>/dev/null | head -1 | grep -o '[0-9]*$')
        fw_s=$(grep -A2 '"forward"' "$DIR/v.json" 2>/dev/null | grep -o '"seconds":[[:space:]]*[0-9.]*' | grep -o '[0-9.]*$')
        rss=$(grep -o '"peak_rss_bytes":[[:space:]]*[0-9]*' "$DIR/v.json" 2>/dev/null | grep -o '[0-9]*$')
        read_b=${read_b:-0} fw_s=${fw_s:-0}
        floor=$(calc "$T_READ * $read_b / $IN_BYTES")
        echo "verify-$dev: exit $rc, $t s in all (structure check reads every weight once); forward pass $fw_s s read $read_b of $IN_BYTES bytes (routed experts only when routed): $(calc "$read_b / ($fw_s + 0.000001) / 1000000000") GB/s vs read floor $(calc "$IN_BYTES / $T_READ / 1000000000") GB/s; peak RSS $(( ${rss:-0} / 1048576 )) MiB"
        ROWS="$ROWS{\"name\":\"verify-$dev\",\"exit\":$rc,\"seconds\":$t,\"forward_seconds\":$fw_s,\"bytes_read\":$read_b,\"read_floor_seconds\":$floor,\"peak_rss_bytes\":${rss:-0}},"
    done
fi
printf '{"date":"%s","host":"%s","cores":%s,"input_bytes":%s,"read_floor_seconds":%s,"results":[%s]}\n' \
    "$(date -u +%FT%TZ)" "$(hostname)" "$THREADS" "$IN_BYTES" "$T_READ" "${ROWS%,}" >"$JSON"
echo "bench: results in $JSON"
