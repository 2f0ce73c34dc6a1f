#!/bin/sh
# embed_server.test.sh - /v1/embeddings and /v1/rerank (issue 23) over HTTP
# with the official OpenAI Node SDK (tests/node/embed.test.mjs): the goldens
# of ../shared/embeddings/golden.json for emb-bert (mean pooling),
# arch-qwen2-q8_0 served with --pooling last and rr-bert (rerank scores),
# float and base64, batch invariance, Matryoshka dimensions, API keys, the
# 504 of a passed deadline, the refusals
# (too long, wrong model kind, bad dimensions, generation on an encoder) and
# the metrics. Each server must also drain and exit 0 on SIGTERM. Skips (77)
# without node/npm, the SDK or the test data.
. "$(dirname "$0")/server_lib.sh"

EMB=$DATA/embeddings/emb-bert.gguf
RR=$DATA/embeddings/rr-bert.gguf
QW=$DATA/models/arch-qwen2-q8_0.gguf
GOLD=$DATA/embeddings/golden.json
for f in "$EMB" "$RR" "$QW" "$GOLD"; do [ -f "$f" ] || { echo "SKIP: test data absent ($f)"; exit 77; }; done

fail=0
KEY=none
# run_mode MODE ALIAS ARGS...: a server for one group of checks
run_mode() {
    mode=$1; alias=$2; shift 2
    start_server "$TMP/$mode.log" --model-alias "$alias" --threads 2 "$@" || { fail=1; return; }
    echo "$mode: $alias at $URL"
    PAGODA_URL=$URL PAGODA_MODEL=$alias PAGODA_KEY=$KEY PAGODA_MODE=$mode PAGODA_GOLDEN=$GOLD \
        node --test --test-concurrency=1 tests/node/embed.test.mjs || { fail=1; echo "--- $mode server log (tail) ---"; tail -n 30 "$TMP/$mode.log"; }
    stop_server || fail=1
}
run_mode emb emb-bert -m "$EMB"
KEY=k-emb run_mode matr emb-bert -m "$EMB" --matryoshka --api-key k-emb --rate-limit-rpm 1000
KEY=none
run_mode none emb-bert -m "$EMB" --pooling none
run_mode rr rr-bert -m "$RR"
run_mode qwen qwen2 -m "$QW" --pooling last
run_mode chat stories -m "$MODEL"

# an encoder starts without a generation engine: no KV cache line in its log
grep -q 'encoder, 3 layers' "$TMP/emb.log" || { echo "FAIL: the encoder's start-up line is missing"; fail=1; }
grep -q 'KV blocks' "$TMP/emb.log" && { echo "FAIL: an encoder made a KV cache"; fail=1; }
# a bad --pooling value is a usage error
"$BIN" serve -m "$EMB" --pooling rank --port 0 >"$TMP/bad.log" 2>&1 && { echo "FAIL: --pooling rank accepted"; fail=1; }
grep -q 'pooling' "$TMP/bad.log" || { echo "FAIL: no message for a bad --pooling"; cat "$TMP/bad.log"; fail=1; }

[ $fail -eq 0 ] && echo "embedding server tests passed"
exit $fail
