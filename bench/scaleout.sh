#!/bin/sh
# Aggregate output tokens/s through HAProxy with 1, 2 and 3 replicas
# (deploy/local/replicas.sh, each replica --threads THREADS), measured with
# `pagoda bench serve` against the front; ROUNDS interleaved rounds, the
# median printed per replica count (README: Scale-out).
#   bench/scaleout.sh [MODEL]   env: ROUNDS (3), THREADS (1), NS ("1 2 3"), CONC (24),
#                               REQS (96), IN (64), OUT (128), PORT (28400)
cd "$(dirname "$0")/.." || exit 1
MODEL=${1:-${PAGODA_TESTDATA:-../shared}/models/stories260K.gguf}
BIN=${PAGODA_BIN:-$PWD/build/pagoda}
ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-1} CONC=${CONC:-24} REQS=${REQS:-96} IN=${IN:-64} OUT=${OUT:-128}
PORT=${PORT:-28400}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-scalebench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
echo "model $MODEL; replicas with --threads $THREADS; bench serve --concurrency $CONC --requests $REQS --input-len $IN --output-len $OUT"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) cores); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
r=1
while [ $r -le "$ROUNDS" ]; do
    for n in ${NS:-1 2 3}; do
        PAGODA_BIN=$BIN sh deploy/local/replicas.sh -n $n -p "$PORT" -d "$TMP/run-$n" -- -m "$MODEL" --threads "$THREADS" \
            --log-level warn >"$TMP/rep.out" 2>&1 &
        rp=$!
        i=0
        until grep -q "ready on" "$TMP/rep.out" || [ $i -ge 600 ] || ! kill -0 $rp 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
        if ! grep -q "ready on" "$TMP/rep.out"; then
            echo "round $r replicas $n: replicas.sh did not get ready:"; cat "$TMP/rep.out"; tail -n 5 "$TMP/run-$n/haproxy.log" 2>/dev/null
            kill -TERM $rp 2>/dev/null; wait $rp; continue
        fi
        tps=$("$BIN" bench serve --url "http://127.0.0.1:$PORT" --concurrency "$CONC" --requests "$REQS" --input-len "$IN" \
            --output-len "$OUT" --seed "$r" 2>"$TMP/bench.err" | sed -n 's/^output token throughput *\([0-9.]*\) tok\/s.*/\1/p' | head -n 1)
        if [ -n "$tps" ]; then echo "round $r replicas $n output_tok_s $tps" | tee -a "$TMP/results"
        else echo "round $r replicas $n: bench serve failed: $(tail -n 2 "$TMP/bench.err")"; fi
        kill -TERM $rp
        wait $rp
    done
    r=$((r + 1))
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for n in ${NS:-1 2 3}; do
    med=$(awk -v n=$n '$4 == n {print $6}' "$TMP/results" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
    all=$(awk -v n=$n '$4 == n {printf "%s ", $6}' "$TMP/results")
    echo "replicas $n: median $med output tok/s (runs: $all)"
done
