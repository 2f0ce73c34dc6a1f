#!/bin/sh
# anthropic.test.sh - the Anthropic Messages API (issue 24) end to end with
# the official @anthropic-ai/sdk (tests/node/anthropic.test.mjs) against
# `pagoda serve` on stories260K:
#  A. Qwen 2.5 template (Hermes tool calls) with an API key: create, stream
#     (every event, in order), seeded stream == create, system, stop
#     sequences, forced tool_use + tool_result round trip, count_tokens,
#     errors (400 / 401 via x-api-key / 404 / 429 per-key limit), a client
#     leaving mid-stream;
#  B. DeepSeek-R1 template (the prompt opens <think>): thinking blocks.
# Skips (77) without node, the SDK or the test data.
. "$(dirname "$0")/server_lib.sh"
TPL="$DATA/templates"
KEY=sk-anth-test-7
LIM=sk-anth-limited-1
printf '%s main\n%s limited 1\n' "$KEY" "$LIM" >"$TMP/keys" # the second key: 1 request per minute
fail=0

start_server "$TMP/a.log" -m "$MODEL" --model-alias stories260K --chat-template "$TPL/Qwen-Qwen2.5-7B-Instruct.jinja" \
    --threads 2 --api-key-file "$TMP/keys" --log-level debug || exit 1
PAGODA_URL=$URL PAGODA_MODEL=stories260K PAGODA_KEY=$KEY PAGODA_LIMITED_KEY=$LIM node --test --test-concurrency=1 tests/node/anthropic.test.mjs || fail=1
# the request log line names the protocol; metadata.user_id is logged at debug level
grep -Eq 'protocol(=|":")anthropic' "$TMP/a.log" || { echo "FAIL: no request log line with protocol anthropic"; fail=1; }
grep -q 'metadata.user_id u-1' "$TMP/a.log" || { echo "FAIL: metadata.user_id not logged"; fail=1; }
stop_server || fail=1
if [ $fail -ne 0 ]; then echo "--- server A log (tail) ---"; grep -v '"msg":"request"' "$TMP/a.log" | tail -n 30; fi

start_server "$TMP/b.log" -m "$MODEL" --model-alias stories260K \
    --chat-template "$TPL/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja" --threads 2 || exit 1
PAGODA_URL=$URL PAGODA_MODEL=stories260K PAGODA_THINKING=1 node --test --test-concurrency=1 tests/node/anthropic.test.mjs || fail=1
stop_server || fail=1
if [ $fail -ne 0 ]; then echo "--- server B log (tail) ---"; tail -n 30 "$TMP/b.log"; fi
[ $fail -eq 0 ] && echo "anthropic tests passed"
exit $fail
