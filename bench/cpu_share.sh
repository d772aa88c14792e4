#!/usr/bin/env bash
# cpu_share.sh IN [REPS] - CPU requant when the transform's OpenMP team shares the cores with the
# executor's reader and writer threads: for int4/nvfp4/mxfp4 RTN, each --threads T and --io-threads N
# (THREADS, IO) and each OpenMP wait policy (POLICIES: "default" sets nothing, so dsconv's own choice,
# passive; "spin" is libgomp's built-in default, GOMP_SPINCOUNT=300000; "passive", "active"), REPS
# alternating runs (DSCONV: the binary, default bin/dsconv); prints the median and range of wall, pipeline and transform busy seconds.
# Example (2-core VM): bash bench/cpu_share.sh /tmp/s05 5
#         (H200): THREADS="8 14 16" IO="2 3" bash bench/cpu_share.sh /tmp/dsconv-stage-probe/in 3
set -u
cd "$(dirname "$0")/.." || exit 1
IN=${1:?usage: $0 IN [REPS]} REPS=${2:-3}
THREADS=${THREADS:-"1 2"} IO=${IO:-"1 2"} FORMATS=${FORMATS:-"int4 nvfp4 mxfp4"} POLICIES=${POLICIES:-"default spin"}
OUT=${TMPDIR:-/tmp}/dsconv-cpu-share.$$ R=$OUT.rows
trap 'rm -rf "$OUT" "$OUT.json" "$R"' EXIT
echo "$(nproc) cores; $(uptime)"
for rep in $(seq "$REPS"); do
    for f in $FORMATS; do for t in $THREADS; do for n in $IO; do for p in $POLICIES; do
        rm -rf "$OUT"
        a=$(date +%s.%N)
        case $p in default) e="-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT";; spin) e="-u OMP_WAIT_POLICY GOMP_SPINCOUNT=300000";;
            *) e="-u GOMP_SPINCOUNT OMP_WAIT_POLICY=$p";; esac
        # shellcheck disable=SC2086
        env $e "${DSCONV:-bin/dsconv}" requant "$IN" "$OUT" --format "$f" --device cpu --threads "$t" --io-threads "$n" \
            --json "$OUT.json" --no-sync --quiet || exit 1
        b=$(date +%s.%N)
        echo "$f t$t io$n $p $(awk "BEGIN{print $b-$a}") $(jq -r '.stages_seconds | "\(.pipeline) \(.transform_busy)"' "$OUT.json")" >>"$R"
    done; done; done; done
done
awk '{k=$1" "$2" "$3" "$4; n[k]++; w[k,n[k]]=$5; p[k,n[k]]=$6; x[k,n[k]]=$7; if(!(k in o)){o[k]=++no; key[no]=k}}
function med(a,k,m,  i,j,t,v){for(i=1;i<=m;i++)v[i]=a[k,i]; for(i=1;i<=m;i++)for(j=i+1;j<=m;j++)if(v[j]<v[i]){t=v[i];v[i]=v[j];v[j]=t}
  return sprintf("%.2f (%.2f-%.2f)", (m%2?v[(m+1)/2]:(v[m/2]+v[m/2+1])/2), v[1], v[m])}
END{printf "%-28s %-20s %-20s %-20s\n","run","wall","pipeline","transform busy";
  for(i=1;i<=no;i++){k=key[i]; printf "%-28s %-20s %-20s %-20s\n",k,med(w,k,n[k]),med(p,k,n[k]),med(x,k,n[k])}}' "$R"
