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
. "$(dirname "$0")/server_lib.sh"

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
