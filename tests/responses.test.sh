#!/bin/sh
# responses.test.sh - the OpenAI Responses API (issue 24) end to end:
#  - the OpenAI Node SDK's client.responses against `pagoda serve` with
#    stories260K under the Qwen 2.5 template (tests/node/responses.test.mjs);
#  - with API keys: a caller cannot read, chain or delete another key's
#    response (404), and the store's LRU bound (--responses-store-max 2);
#  - flag validation of --responses-ttl / --responses-store-max.
# Skips (77) without node, the SDK, python3-jsonschema or the test data.
. "$(dirname "$0")/server_lib.sh"
python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }

start_server "$TMP/resp.log" -m "$MODEL" --model-alias stories260K \
    --chat-template "$DATA/templates/Qwen-Qwen2.5-7B-Instruct.jinja" --threads 2 || exit 1
PAGODA_URL=$URL PAGODA_MODEL=stories260K node --test --test-concurrency=1 tests/node/responses.test.mjs || fail=1
stop_server || fail=1
if [ $fail -ne 0 ]; then echo "--- server log (tail) ---"; tail -n 30 "$TMP/resp.log"; fi

# keys: responses belong to their key; the LRU bound
start_server "$TMP/keys.log" -m "$MODEL" --threads 2 --api-key KEY-A --api-key KEY-B --responses-store-max 2 || exit 1
post() { # post KEY BODY -> response id (or "")
    curl -s -H "Authorization: Bearer $1" -H 'Content-Type: application/json' "$URL/v1/responses" -d "$2" |
        python3 -c 'import json,sys; print(json.load(sys.stdin).get("id", ""))'
}
code() { # code METHOD KEY PATH [BODY]
    curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
        "$URL$3" ${4:+-d "$4"}
}
a1=$(post KEY-A '{"input":"Hi","max_output_tokens":2}')
case "$a1" in resp_*) ;; *) bad "create with key A: '$a1'" ;; esac
[ "$(code GET KEY-B /v1/responses/$a1)" = 404 ] || bad "key B reads key A's response"
[ "$(code DELETE KEY-B /v1/responses/$a1)" = 404 ] || bad "key B deletes key A's response"
[ "$(code POST KEY-B /v1/responses "{\"input\":\"x\",\"max_output_tokens\":2,\"previous_response_id\":\"$a1\"}")" = 404 ] ||
    bad "key B chains on key A's response"
[ "$(code GET KEY-A /v1/responses/$a1)" = 200 ] || bad "key A cannot read its own response"
[ "$(code GET nokey /v1/responses/$a1)" = 401 ] || bad "GET without a valid key is not 401"
a2=$(post KEY-A '{"input":"Hi","max_output_tokens":2}')
a3=$(post KEY-A '{"input":"Hi","max_output_tokens":2}')
[ "$(code GET KEY-A /v1/responses/$a1)" = 404 ] || bad "--responses-store-max 2: the oldest of 3 is still there"
[ "$(code GET KEY-A /v1/responses/$a2)" = 200 ] || bad "--responses-store-max 2: the second of 3 is gone"
[ "$(code GET KEY-A /v1/responses/$a3)" = 200 ] || bad "--responses-store-max 2: the newest is gone"
[ "$(code POST KEY-A /v1/responses/$a3)" = 405 ] || bad "POST /v1/responses/ID is not 405"
allow=$(curl -s -D - -o /dev/null -X OPTIONS "$URL/v1/responses/$a3" | tr -d '\r' | sed -n 's/^[Aa]llow: //p')
[ "$allow" = "GET, HEAD, DELETE, OPTIONS" ] || bad "OPTIONS /v1/responses/ID: Allow '$allow'"
stop_server || fail=1
if [ $fail -ne 0 ]; then echo "--- server log (tail) ---"; tail -n 30 "$TMP/keys.log"; fi

# --responses-store-max 0: nothing stored, and the response says so
start_server "$TMP/off.log" -m "$MODEL" --threads 2 --responses-store-max 0 || exit 1
st=$(curl -s "$URL/v1/responses" -d '{"input":"Hi","max_output_tokens":2}' |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["store"], d["id"])')
[ "${st%% *}" = False ] || bad "--responses-store-max 0: store echoed as '${st%% *}'"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/responses/${st#* }")" = 404 ] || bad "--responses-store-max 0: stored"
stop_server || fail=1

for f in "--responses-ttl -1" "--responses-store-max x" "--responses-bytes 10"; do
    # shellcheck disable=SC2086
    "$BIN" serve $f -m "$MODEL" --port 0 >"$TMP/flag.log" 2>&1
    [ $? -eq 2 ] || bad "serve $f: exit 2 expected"
done
[ $fail -eq 0 ] && echo "responses tests passed"
exit $fail
