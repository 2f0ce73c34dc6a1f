#!/bin/sh
# ollama.test.sh - Ollama's API (issue 24) through the official `ollama` JS
# client (tests/node/ollama.test.mjs) against `pagoda serve` on stories260K
# with the Qwen 2.5 template (tool calls rendered) and an API key, then
# /api/embed on emb-bert (tests/node/ollama_embed.test.mjs). JSON
# answers are validated with python3-jsonschema (tests/node/check_json.py).
# Skips (77) without node/npm, the client, the test data or
# python3-jsonschema.
. "$(dirname "$0")/server_lib.sh"

python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed (scripts/deps.sh)"; exit 77; }
fail=0
KEY=ollama-test-key
start_server "$TMP/ollama.log" -m "$MODEL" --model-alias stories260K --threads 2 --api-key "$KEY" \
    --chat-template "$DATA/templates/Qwen-Qwen2.5-7B-Instruct.jinja" || exit 1
PAGODA_URL=$URL PAGODA_MODEL=stories260K PAGODA_KEY=$KEY node --test --test-concurrency=1 tests/node/ollama.test.mjs || fail=1
stop_server || fail=1
if [ $fail -ne 0 ]; then echo "--- server log (tail) ---"; tail -n 40 "$TMP/ollama.log"; fi
# /api/embed and /api/embeddings through the embedding queue (emb-bert)
EMB="$DATA/embeddings/emb-bert.gguf"
if [ -f "$EMB" ]; then
    start_server "$TMP/ollama-emb.log" -m "$EMB" --threads 2 || exit 1
    PAGODA_URL=$URL PAGODA_MODEL=emb-bert node --test --test-concurrency=1 tests/node/ollama_embed.test.mjs || fail=1
    stop_server || fail=1
    if [ $fail -ne 0 ]; then echo "--- embedding server log (tail) ---"; tail -n 20 "$TMP/ollama-emb.log"; fi
else
    echo "note: $EMB absent, /api/embed not tested"
fi
[ $fail -eq 0 ] && echo "ollama tests passed"
exit $fail
