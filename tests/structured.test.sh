#!/bin/sh
# structured.test.sh - structured outputs through `pagoda serve` with the
# official OpenAI Node.js SDK (tests/node/structured.test.mjs) on
# stories260K; returned JSON is validated with Debian's python3-jsonschema
# (tests/node/check_json.py). Skips (77) without node/npm, the SDK, the test
# data or python3-jsonschema.
. "$(dirname "$0")/server_lib.sh"

python3 -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed (scripts/deps.sh)"; exit 77; }
fail=0
start_server "$TMP/structured.log" -m "$MODEL" --model-alias stories260K --threads 2 --max-seqs 16 || exit 1
echo "stories260K server at $URL"
PAGODA_URL=$URL PAGODA_MODEL=stories260K PAGODA_TESTDATA=$DATA node --test --test-concurrency=1 \
    tests/node/structured.test.mjs || fail=1
stop_server || fail=1
if [ $fail -ne 0 ]; then echo "--- server log (tail) ---"; tail -n 40 "$TMP/structured.log"; fi
[ $fail -eq 0 ] && echo "structured output tests passed"
exit $fail
