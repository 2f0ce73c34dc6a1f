#!/bin/sh
# production.test.sh - production behaviour of `pagoda serve` (node:test
# files in tests/node, official OpenAI SDK + raw http), on stories260K over
# loopback. Three servers:
#   A  overload + request limits: --max-queued-requests 16 --max-seqs 4;
#      200 concurrent requests -> each a full answer or a 429 with
#      Retry-After, RSS bounded, /metrics agrees with the clients.
#   B  security + logs: API key file (SIGHUP reload), per-key rate limits
#      and headers, prefix-cache isolation, metrics key, traceparent; the
#      JSON log must name keys but never contain one.
#   C  deadlines, priority, drain: started from a --config file (a flag
#      overrides one of its values); timeouts cut requests and free blocks,
#      priority order and priority preemption on a small KV pool, then
#      SIGTERM during 24 streams: they finish, new requests get 503, exit 0.
# Skips (77) without node >= 20, the SDK (installed by server.test.sh) or
# the test data.
. "$(dirname "$0")/server_lib.sh"

# RSS bound for the overload test: sanitizer builds carry shadow memory
RSS_LIMIT_KB=262144
if grep -q AddressSanitizer "$BIN" 2>/dev/null; then RSS_LIMIT_KB=2097152; fi

fail=0
run_node() { # LOG FILE...
    log=$1; shift
    PAGODA_URL=$URL PAGODA_PID=$PID node --test --test-concurrency=1 "$@" || { fail=1; echo "--- server log (tail) ---"; tail -n 30 "$log"; }
}

# ---- A: overload and limits
start_server "$TMP/a.log" -m "$MODEL" --model-alias stories260K --threads 1 --max-seqs 4 --max-queued-requests 16 \
    --max-messages 8 --max-tokens-limit 1000 --max-connections-per-ip 400 || exit 1
echo "A (overload) at $URL"
PAGODA_MODEL=stories260K PAGODA_RSS_LIMIT_KB=$RSS_LIMIT_KB run_node "$TMP/a.log" tests/node/overload.test.mjs
stop_server || fail=1

# ---- B: keys, rate limits, cache isolation, logs
KEYS="$TMP/keys.txt"
cat >"$KEYS" <<'EOF'
# KEY NAME RPM TPM
sk-test-alpha-0001 alpha 5 0
sk-test-beta-0002 beta 0 200
sk-test-gamma-0003 gamma
sk-test-eps-0004 eps - -
EOF
start_server "$TMP/b.log" -m "$MODEL" --model-alias stories260K --threads 1 --api-key-file "$KEYS" \
    --metrics-key mk-test-metrics-9 --log-format json || exit 1
echo "B (security) at $URL"
PAGODA_MODEL=stories260K PAGODA_KEYS_FILE=$KEYS run_node "$TMP/b.log" tests/node/auth.test.mjs
stop_server || fail=1
# the log names keys but never holds one; request lines carry trace ids
for k in sk-test-alpha-0001 sk-test-beta-0002 sk-test-gamma-0003 sk-test-eps-0004 sk-wrong mk-test-metrics-9; do
    if grep -q -- "$k" "$TMP/b.log"; then echo "FAIL: the log contains the key $k"; fail=1; fi
done
grep -q '"msg":"request".*"status":200.*"key":"alpha"' "$TMP/b.log" || { echo "FAIL: no request log line naming key alpha"; fail=1; }
grep -q '"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736".*"status":200' "$TMP/b.log" || { echo "FAIL: the incoming trace id is not logged"; fail=1; }
grep -q '"msg":"request".*"prompt_tokens":[0-9]*,"completion_tokens":[0-9]*,"cached_tokens":[0-9]*,"queue_s":.*"ttft_s":.*"finish_reason":"length"' "$TMP/b.log" \
    || { echo "FAIL: request log lines lack usage/timing fields"; fail=1; }

# ---- C: config file, deadlines, priority, drain
CONF="$TMP/serve.conf"
cat >"$CONF" <<EOF
# pagoda serve config (flags override)
model = $MODEL
model-alias = "stories260K"
threads = 1
max-seqs = 3
kv-cache-mem = 640K
request-timeout = 60
shutdown-grace = 30
log-format = json
EOF
start_server "$TMP/c.log" --config "$CONF" --max-seqs 2 || exit 1
echo "C (deadlines, drain) at $URL"
grep -q '"msg":"ready".*"max_seqs":2,.*"request_timeout_s":60,"shutdown_grace_s":30' "$TMP/c.log" \
    || { echo "FAIL: config file / flag precedence not applied"; grep '"ready"' "$TMP/c.log"; fail=1; }
PAGODA_MODEL=stories260K run_node "$TMP/c.log" tests/node/deadline.test.mjs tests/node/drain.test.mjs
# drain.test.mjs sent SIGTERM itself: the server must exit 0 by itself
stop_server signalled || fail=1
grep -q 'drained in' "$TMP/c.log" || { echo "FAIL: no drain in the log"; fail=1; }

[ $fail -eq 0 ] && echo "production tests passed"
exit $fail
