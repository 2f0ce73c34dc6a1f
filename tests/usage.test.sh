#!/bin/sh
# Usage and cost accounting (issue 28): per key name and per model counters
# on /metrics and GET /v1/usage equal the sums of the responses' usage
# fields (tests/scaleout/usage_check.py); --admin-key guards /v1/usage (403
# without one configured); failed OTLP exports are counted as drops;
# --otlp-endpoint https://... is refused at start-up. Skips (77) without
# python3 or the test data.
cd "$(dirname "$0")/.." || exit 1
BIN=${PAGODA_BIN:-$PWD/build/pagoda}
DATA=${PAGODA_TESTDATA:-../shared}
MODEL="$DATA/models/stories260K.gguf"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
[ -f "$MODEL" ] || { echo "SKIP: test data absent ($MODEL)"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-usage.XXXXXX") || exit 1
PID=""
cleanup() {
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail=0

# start LOG ARGS...: pagoda serve on a free port; sets PID and URL
start() {
    log=$1; shift
    "$BIN" serve -m "$MODEL" --host 127.0.0.1 --port 0 "$@" >"$log" 2>&1 &
    PID=$!
    i=0
    while [ $i -lt 600 ]; do
        line=$(grep -m1 '^pagoda: listening on http://' "$log" 2>/dev/null)
        if [ -n "$line" ]; then URL=${line#pagoda: listening on }; return 0; fi
        kill -0 "$PID" 2>/dev/null || { echo "FAIL: the server exited:"; cat "$log"; exit 1; }
        sleep 0.1
        i=$((i + 1))
    done
    echo "FAIL: the server did not start"; exit 1
}
# stop LOG: SIGTERM; the server must drain and exit 0 (a sanitizer report
# at exit makes it fail)
stop() {
    kill -TERM "$PID"; wait "$PID"; rc=$?; PID=""
    [ $rc -eq 0 ] || { echo "FAIL: the server exited $rc after SIGTERM:"; tail -n 20 "$1"; fail=1; }
}

# a port where nothing listens (bound, then closed)
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'alice-key alice\nbob-key bob\n' >"$TMP/keys"
start "$TMP/s1.log" --api-key-file "$TMP/keys" --admin-key adm --cost-per-hour 3.6 \
    --otlp-endpoint "http://127.0.0.1:$DEAD/v1/traces"
python3 tests/scaleout/usage_check.py "$URL" || fail=1
stop "$TMP/s1.log"
grep -q "OTLP export of .* failed" "$TMP/s1.log" && echo "ok: the failed export is logged" || { echo "FAIL: no warning about the failed export"; fail=1; }

# without --admin-key the route is refused (403), never open
start "$TMP/s2.log"
code=$(curl -s -o "$TMP/b" -w '%{http_code}' "$URL/v1/usage" 2>/dev/null || python3 -c "
import urllib.request, urllib.error, sys
try: urllib.request.urlopen('$URL/v1/usage')
except urllib.error.HTTPError as e: print(e.code)")
[ "$code" = 403 ] && echo "ok: /v1/usage without --admin-key configured: 403" || { echo "FAIL: /v1/usage without --admin-key: $code"; fail=1; }
stop "$TMP/s2.log"

# https:// is refused at start-up with a clear message
"$BIN" serve -m "$MODEL" --port 0 --otlp-endpoint https://collector.example:4318 >"$TMP/s3.log" 2>&1 &
p=$!
i=0
while kill -0 $p 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $p 2>/dev/null; then kill -9 $p; echo "FAIL: the server started with an https OTLP endpoint"; fail=1
else
    wait $p; rc=$?
    [ $rc -ne 0 ] && grep -q "only http:// is supported" "$TMP/s3.log" && echo "ok: https OTLP endpoint refused (exit $rc)" \
        || { echo "FAIL: https OTLP endpoint: exit $rc: $(cat "$TMP/s3.log")"; fail=1; }
fi
[ $fail -eq 0 ] && echo "usage tests passed"
exit $fail
