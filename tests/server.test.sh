#!/bin/sh
# server.test.sh - integration tests of `pagoda serve` with the official
# OpenAI Node.js SDK (tests/node, node:test runner) and raw sockets.
#
# Installs tests/node/node_modules from package-lock.json on first use
# (`npm ci`, cached afterwards: no network needed again). Starts
#   $PAGODA_BIN serve -m $PAGODA_TESTDATA/models/stories260K.gguf --port 0
# on loopback, waits for "pagoda: listening on http://HOST:PORT", runs the
# node test files against it, then does the same with the built-in demo
# model (no -m). Skips (77) without node/npm, the SDK or the test data.
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BIN=${PAGODA_BIN:-$ROOT/build/pagoda}
DATA=${PAGODA_TESTDATA:-../shared}
MODEL="$DATA/models/stories260K.gguf"

command -v node >/dev/null 2>&1 || { echo "SKIP: node is not installed"; exit 77; }
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
[ -f "$MODEL" ] || { echo "SKIP: test data absent ($MODEL)"; exit 77; }
major=$(node -e 'process.stdout.write(process.versions.node.split(".")[0])')
[ "$major" -ge 20 ] 2>/dev/null || { echo "SKIP: node >= 20 needed (have $major)"; exit 77; }

if [ ! -f tests/node/node_modules/openai/package.json ]; then
    command -v npm >/dev/null 2>&1 || { echo "SKIP: npm is not installed (needed once for the openai SDK)"; exit 77; }
    echo "installing the openai SDK into tests/node/node_modules"
    if [ -f tests/node/package-lock.json ]; then
        (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) || { echo "SKIP: npm ci failed (offline?)"; exit 77; }
    else
        (cd tests/node && npm install --no-audit --no-fund --loglevel=error) || { echo "SKIP: npm install failed (offline?)"; exit 77; }
    fi
fi

TMP=$(mktemp -d)
PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# start_server LOG ARGS... : sets PID and URL
start_server() {
    log=$1; shift
    "$BIN" serve --host 127.0.0.1 --port 0 "$@" >"$log" 2>&1 &
    PID=$!
    i=0
    while [ $i -lt 300 ]; do
        line=$(grep -m1 '^pagoda: listening on http://' "$log" 2>/dev/null)
        if [ -n "$line" ]; then URL=${line#pagoda: listening on }; return 0; fi
        kill -0 "$PID" 2>/dev/null || { echo "server exited:"; cat "$log"; return 1; }
        sleep 0.1; i=$((i+1))
    done
    echo "server did not report listening within 30 s:"; cat "$log"; return 1
}

stop_server() {
    kill "$PID" 2>/dev/null
    # a clean shutdown on SIGTERM is part of the test
    i=0
    while kill -0 "$PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    if kill -0 "$PID" 2>/dev/null; then echo "FAIL: server did not exit on SIGTERM"; kill -9 "$PID"; PID=""; return 1; fi
    wait "$PID"; rc=$?
    PID=""
    [ $rc -eq 0 ] || { echo "FAIL: server exited with $rc"; return 1; }
}

fail=0
start_server "$TMP/stories.log" -m "$MODEL" --model-alias stories260K --max-body-bytes 262144 \
    --threads 2 --max-seqs 48 --max-queued-requests 256 || exit 1
echo "stories260K server at $URL"
PAGODA_URL=$URL PAGODA_MODEL=stories260K node --test --test-concurrency=1 \
    tests/node/api.test.mjs tests/node/protocol.test.mjs tests/node/load.test.mjs || fail=1
stop_server || fail=1
if [ $fail -ne 0 ]; then echo "--- server log (tail) ---"; tail -n 40 "$TMP/stories.log"; fi

start_server "$TMP/demo.log" --threads 1 || exit 1
echo "demo server at $URL"
grep -q 'DEMO model with RANDOM weights' "$TMP/demo.log" || { echo "FAIL: no demo notice in the log"; fail=1; }
PAGODA_URL=$URL node --test tests/node/demo.test.mjs || fail=1
stop_server || fail=1

[ $fail -eq 0 ] && echo "server tests passed"
exit $fail
