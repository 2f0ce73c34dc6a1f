#!/bin/sh
# Scale-out on loopback (issue 28): deploy/local/replicas.sh starts three
# replicas of stories260K behind HAProxy (deploy/haproxy/haproxy.cfg), each
# exporting spans to a small OTLP receiver (tests/scaleout/otlp_receiver.py);
# tests/scaleout/check.py then shows through the front:
#   - 48 concurrent streams all succeed and reach every replica;
#   - 8 requests with one x-session-id and a shared prefix of a few hundred
#     tokens land on one replica and report cached prompt tokens;
#   - a request's spans (SERVER span + queue/prefill/decode) arrive at the
#     receiver under its W3C trace id;
#   - SIGTERM on the replica running most of 8 long streams loses none of
#     them (and requests sent during its drain succeed elsewhere);
#   - after SIGKILL of another replica the next 24 requests all succeed;
# and finally that SIGTERM to replicas.sh drains what is left and exits 0.
# Skips (77) without haproxy, curl, python3 or the test data.
cd "$(dirname "$0")/.." || exit 1
BIN=${PAGODA_BIN:-$PWD/build/pagoda}
DATA=${PAGODA_TESTDATA:-../shared}
MODEL="$DATA/models/stories260K.gguf"
command -v haproxy >/dev/null 2>&1 || { echo "SKIP: haproxy is not installed (Debian package haproxy; scripts/deps.sh)"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
[ -f "$MODEL" ] || { echo "SKIP: test data absent ($MODEL)"; exit 77; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-scaleout.XXXXXX") || exit 1
RPID="" SPID=""
cleanup() {
    [ -n "$SPID" ] && kill -9 "$SPID" 2>/dev/null
    if [ -n "$RPID" ] && kill -0 "$RPID" 2>/dev/null; then
        for f in "$TMP"/run/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
        kill -9 "$RPID" 2>/dev/null
    fi
    wait 2>/dev/null
    [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# four consecutive free ports: the front and three replicas
BASE=$(python3 - <<'PY'
import random, socket
for _ in range(200):
    b = random.randrange(20000, 60000)
    socks = []
    try:
        for p in range(b, b + 4):
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p)); socks.append(s)
        print(b); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
)
[ -n "$BASE" ] || { echo "FAIL: no free ports"; exit 1; }

python3 tests/scaleout/otlp_receiver.py "$TMP/otlp.port" "$TMP/spans.jsonl" 2>"$TMP/otlp.err" &
SPID=$!
i=0
while [ ! -s "$TMP/otlp.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$TMP/otlp.port" ] || { echo "FAIL: the OTLP receiver did not start"; cat "$TMP/otlp.err"; exit 1; }

PAGODA_BIN=$BIN sh deploy/local/replicas.sh -n 3 -p "$BASE" -d "$TMP/run" -- -m "$MODEL" --threads 1 \
    --otlp-endpoint "http://127.0.0.1:$(cat "$TMP/otlp.port")" --shutdown-grace 60 >"$TMP/replicas.out" 2>&1 &
RPID=$!
i=0
until grep -q "ready on" "$TMP/replicas.out"; do
    if ! kill -0 $RPID 2>/dev/null || [ $i -ge 600 ]; then echo "FAIL: replicas.sh did not get ready"; cat "$TMP/replicas.out"; exit 1; fi
    sleep 0.1
    i=$((i + 1))
done
cat "$TMP/replicas.out"

fail=0
python3 tests/scaleout/check.py "http://127.0.0.1:$BASE" "$TMP/run" "$TMP/spans.jsonl" || fail=1
[ -s "$TMP/otlp.err" ] && { echo "FAIL: the OTLP receiver complained:"; cat "$TMP/otlp.err"; fail=1; }

# SIGTERM to replicas.sh: the replica left drains, HAProxy stops, exit 0
kill -TERM $RPID
i=0
while kill -0 $RPID 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $RPID 2>/dev/null; then echo "FAIL: replicas.sh still runs 60 s after SIGTERM"; fail=1
else
    wait $RPID; rc=$?
    if [ $rc -eq 0 ] && grep -q "all replicas drained" "$TMP/replicas.out"; then echo "ok: replicas.sh drained the replicas and exited 0 on SIGTERM"
    else echo "FAIL: replicas.sh exit $rc after SIGTERM:"; cat "$TMP/replicas.out"; fail=1; fi
    # the drained replicas exited 0 (a sanitizer report at exit would not),
    # the SIGKILLed one 137
    st=$(sed -n 's/^replicas.sh: replica-[0-9]* exit status \([0-9]*\)$/\1/p' "$TMP/replicas.out" | sort | tr '\n' ' ')
    [ "$st" = "0 0 137 " ] && echo "ok: replica exit statuses: $st" || { echo "FAIL: replica exit statuses '$st' (want 0 0 137)"; fail=1; }
    RPID=""
fi
if [ $fail -ne 0 ]; then
    echo "--- haproxy.log (tail)"; tail -n 20 "$TMP/run/haproxy.log"
    for f in "$TMP"/run/replica-*.log; do echo "--- $f (tail)"; tail -n 8 "$f"; done
    exit 1
fi
echo "scaleout tests passed"
