#!/bin/sh
# soak.sh - bounded soak run of `pagoda serve` (NOT part of `make test`).
#
#   sh scripts/soak.sh [SECONDS]        default 600 (10 minutes); stops by itself
#
# Starts the server on loopback (port 0) with stories260K, an API key file
# (one unlimited key, one key limited to 30 rpm), a metrics key, a small
# queue and a request timeout, then runs tests/node/soak-client.mjs for
# SECONDS: mixed traffic with streams, chat, n=2, client disconnects,
# deadlines, bad requests, wrong keys, rate limiting and /metrics scrapes.
# The server's RSS is sampled every second into $SOAK_OUT/rss.csv
# (seconds,rss_kb). At the end the server gets SIGTERM and must exit 0.
#
# Pass criteria (the report says which failed):
#   - the client saw nothing but the expected outcomes (2xx, 400, 401, 404,
#     413, 429, 504 where each is legal; no network error, no 5xx otherwise)
#   - RSS does not grow after warm-up: the mean of the last quarter of the
#     samples is within max(8 MiB, 10%) of the mean of the second quarter
#     (not judged for sanitizer builds, whose quarantine grows by design;
#     there LeakSanitizer turns a leak into a non-zero exit status)
#   - after the traffic, /metrics shows nothing running or waiting and no
#     KV block in use; the server exits 0 on SIGTERM.
# Env: PAGODA_BIN (default build/pagoda), PAGODA_TESTDATA (default ../shared),
#      SOAK_WORKERS (default 12), SOAK_OUT (default a fresh temp dir, kept).
cd "$(dirname "$0")/.." || exit 1
SECS=${1:-600}
BIN=${PAGODA_BIN:-$PWD/build/pagoda}
DATA=${PAGODA_TESTDATA:-../shared}
MODEL="$DATA/models/stories260K.gguf"
OUT=${SOAK_OUT:-$(mktemp -d /tmp/pagoda-soak.XXXXXX)}
mkdir -p "$OUT"
[ -x "$BIN" ] || { echo "soak: $BIN not built"; exit 2; }
[ -f "$MODEL" ] || { echo "soak: $MODEL missing"; exit 2; }
[ -f tests/node/node_modules/openai/package.json ] || (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) || exit 2

cat >"$OUT/keys.txt" <<'EOF'
sk-soak-main-0001 main 0 0
sk-soak-limited-0002 limited 30 0
EOF
"$BIN" serve -m "$MODEL" --model-alias stories260K --host 127.0.0.1 --port 0 --threads 2 \
    --max-seqs 8 --max-queued-requests 32 --request-timeout 30 --max-body-bytes 256K \
    --api-key-file "$OUT/keys.txt" --metrics-key mk-soak --shutdown-grace 10 --log-format json \
    >"$OUT/server.log" 2>&1 &
PID=$!
i=0
URL=""
while [ $i -lt 300 ] && [ -z "$URL" ]; do
    line=$(grep -m1 '^pagoda: listening on http://' "$OUT/server.log" 2>/dev/null)
    [ -n "$line" ] && URL=${line#pagoda: listening on }
    kill -0 $PID 2>/dev/null || { echo "soak: server exited"; cat "$OUT/server.log"; exit 1; }
    [ -z "$URL" ] && sleep 0.1
    i=$((i+1))
done
[ -n "$URL" ] || { echo "soak: server did not start"; kill $PID; exit 1; }
echo "soak: server pid $PID at $URL for $SECS s; output in $OUT"

# RSS sampler: one line per second
echo "seconds,rss_kb" >"$OUT/rss.csv"
(
    t=0
    while kill -0 $PID 2>/dev/null; do
        r=$(awk '/^VmRSS:/{print $2}' /proc/$PID/status 2>/dev/null)
        [ -n "$r" ] && echo "$t,$r" >>"$OUT/rss.csv"
        sleep 1; t=$((t+1))
    done
) &
SAMPLER=$!

PAGODA_URL=$URL SOAK_SECONDS=$SECS SOAK_KEY=sk-soak-main-0001 SOAK_LIMITED_KEY=sk-soak-limited-0002 \
    SOAK_METRICS_KEY=mk-soak node tests/node/soak-client.mjs >"$OUT/client.json"
crc=$?
sleep 1
M=$(curl -s -H 'Authorization: Bearer mk-soak' "$URL/metrics" 2>/dev/null || true)
kill -TERM $PID
i=0
while kill -0 $PID 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
if kill -0 $PID 2>/dev/null; then kill -9 $PID; src=137; else wait $PID; src=$?; fi
kill $SAMPLER 2>/dev/null
wait $SAMPLER 2>/dev/null

fail=0
echo "---- soak report ($SECS s)"
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop());
console.log(`requests: ${r.requests} in ${r.seconds.toFixed(0)} s (${(r.requests / r.seconds).toFixed(1)}/s)`);
for (const [k, v] of Object.entries(r.counts).sort()) console.log(`  ${k.padEnd(30)} ${v}`);
if (r.unexpected.length) { console.log("UNEXPECTED:"); for (const u of r.unexpected) console.log("  " + u); }
' "$OUT/client.json" || fail=1
[ $crc -eq 0 ] || { echo "FAIL: unexpected client outcomes"; fail=1; }
node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").slice(1).map((l) => Number(l.split(",")[1]));
const q = Math.floor(rows.length / 4);
if (q < 1) { console.log("RSS: too few samples"); process.exit(0); }
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const warm = mean(rows.slice(q, 2 * q)), last = mean(rows.slice(rows.length - q));
const max = Math.max(...rows), growth = last - warm;
console.log(`RSS kB: first ${rows[0]}, warm (2nd quarter mean) ${warm.toFixed(0)}, last quarter mean ${last.toFixed(0)}, max ${max}, growth ${growth.toFixed(0)} (${(100 * growth / warm).toFixed(1)}%)`);
process.exit(growth > Math.max(8192, 0.1 * warm) ? 1 : 0);
' "$OUT/rss.csv" || {
    if grep -q AddressSanitizer "$BIN" 2>/dev/null; then
        echo "note: RSS grew, but this is a sanitizer build (allocator quarantine); leaks show as a non-zero exit"
    else echo "FAIL: RSS grew after warm-up"; fail=1; fi
}
for g in num_requests_running num_requests_waiting kv_blocks_used; do
    v=$(printf '%s\n' "$M" | awk -v g="pagoda:$g" 'index($0, g "{") == 1 {print $2}')
    echo "after traffic: $g = $v"
    [ "$v" = 0 ] || { echo "FAIL: $g is not 0 after the traffic"; fail=1; }
done
printf '%s\n' "$M" | grep -E '^pagoda:(http_requests_total|request_rejected_total|request_success_total|client_disconnects_total|num_preemptions_total)' | sed 's/{model_name="[^"]*",*/{/'
[ $src -eq 0 ] || { echo "FAIL: server exit status $src after SIGTERM"; fail=1; }
if grep -q 'sk-soak-' "$OUT/server.log"; then echo "FAIL: a key appears in the server log"; fail=1; fi
echo "server log lines: $(wc -l <"$OUT/server.log"), error lines: $(grep -c '"level":"error"' "$OUT/server.log")"
[ $fail -eq 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit $fail
