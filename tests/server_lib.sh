# server_lib.sh - shared set-up of the server test scripts (sourced, not run;
# tests/run.sh only runs *.test.sh). After sourcing: ROOT, BIN, DATA, MODEL,
# TMP (removed on exit), and start_server / stop_server. Skips (77) without
# node >= 20, the openai SDK (installed once from tests/node/package-lock.json)
# or the test data.
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
need_npm=0
for pkg in openai @anthropic-ai/sdk ollama; do
    [ -f "tests/node/node_modules/$pkg/package.json" ] || need_npm=1
done
if [ "$need_npm" = 1 ]; then
    command -v npm >/dev/null 2>&1 || { echo "SKIP: npm is not installed (needed once for the client SDKs)"; exit 77; }
    echo "installing the client SDKs (openai, @anthropic-ai/sdk, ollama) into tests/node/node_modules"
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) || { echo "SKIP: npm ci failed (offline?)"; exit 77; }
fi

TMP=$(mktemp -d)
PID=""
cleanup() {
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# start_server LOG ARGS... : starts `pagoda serve` on loopback, port 0; sets PID and URL
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

# stop_server [signalled]: SIGTERM (unless already sent); a clean exit 0
# within 40 s is part of every test
stop_server() {
    [ "$1" = signalled ] || kill "$PID" 2>/dev/null
    i=0
    while kill -0 "$PID" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.1; i=$((i+1)); done
    if kill -0 "$PID" 2>/dev/null; then echo "FAIL: server did not exit after SIGTERM"; kill -9 "$PID"; PID=""; return 1; fi
    wait "$PID"; rc=$?
    PID=""
    [ $rc -eq 0 ] || { echo "FAIL: server exited with $rc"; return 1; }
}
