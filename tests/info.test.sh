#!/bin/sh
# `pagoda info`: text and --json output on real files, a broken file (exit 1,
# one-line error on stderr) and bad usage (exit 2). Needs $PAGODA_BIN and the
# shared test data (skips with 77 without it).
BIN=${PAGODA_BIN:-build/pagoda}
TD=${PAGODA_TESTDATA:-../shared}
if [ ! -d "$TD/models" ]; then echo "SKIP: test data not found ($TD)"; exit 77; fi
if [ ! -x "$BIN" ]; then echo "FAIL: no binary at $BIN"; exit 1; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-info.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
has() { # has FILE LINE: FILE contains the exact line
    grep -qxF -- "$2" "$1" || fail "$1 lacks line '$2'"
}

m=$TD/models/stories260K.gguf
"$BIN" info "$m" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] || fail "info stories260K: exit $rc: $(cat "$tmp/err")"
for l in "gguf version: 3" "architecture: llama" "name: llama" "  embedding_length: 64" \
         "  block_count: 5" "  attention.head_count_kv: 4" "  context_length: 2048" \
         "  attention.layer_norm_rms_epsilon: 1e-05" "tokenizer: llama" "vocabulary size: 512" \
         "bos token id: 1" "eos token id: 2" "chat template: no" "tensors: 48" "tensor types: f32: 48"; do
    has "$tmp/out" "$l"
done
# 292800 parameters (sum of the 48 shapes), 4 bytes each.
grep -q "^parameters: 292800 " "$tmp/out" || fail "stories260K parameter count"
grep -q "^tensor bytes: 1171200 " "$tmp/out" || fail "stories260K tensor bytes"

m=$TD/models/syn-a-q4_k_m.gguf
"$BIN" info "$m" >"$tmp/out" 2>"$tmp/err" || fail "info syn-a-q4_k_m: $(cat "$tmp/err")"
has "$tmp/out" "tensor types: q4_K: 25, f32: 9, q6_K: 5"
has "$tmp/out" "tensors: 39"
has "$tmp/out" "  attention.head_count_kv: 2"
has "$tmp/out" "  rope.freq_base: 10000"

# --json: one object with the same facts.
"$BIN" info --json "$m" >"$tmp/json" 2>"$tmp/err" || fail "info --json: $(cat "$tmp/err")"
if command -v python3 >/dev/null 2>&1; then
    python3 - "$tmp/json" <<'PY' || fail "--json content"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["gguf_version"] == 3 and o["architecture"] == "llama", o
assert o["hparams"]["embedding_length"] == 256 and o["hparams"]["block_count"] == 4
assert o["tokenizer"]["vocab_size"] == 512 and o["tokenizer"]["model"] == "llama"
assert o["tokenizer"]["chat_template"] is False
t = o["tensors"]
assert t["count"] == 39 and t["types"] == {"q4_K": 25, "f32": 9, "q6_K": 5}, t
assert list(t["types"]) == ["q4_K", "f32", "q6_K"]
PY
else
    grep -q '"q4_K": 25' "$tmp/json" || fail "--json types"
fi

# A vocabulary-only file with a chat template and a pre-tokenizer.
v=$TD/tokenizer/ggml-vocab-phi-3.gguf
if [ -f "$v" ]; then
    "$BIN" info "$v" >"$tmp/out" 2>"$tmp/err" || fail "info phi-3 vocab: $(cat "$tmp/err")"
    has "$tmp/out" "chat template: yes"
    has "$tmp/out" "tokenizer pre: default"
    has "$tmp/out" "tensors: 0"
fi

# Broken file: exit 1, nothing on stdout, exactly one line on stderr.
head -c 20000 "$TD/models/stories260K.gguf" >"$tmp/broken.gguf"
"$BIN" info "$tmp/broken.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] || fail "broken file: exit $rc, want 1"
[ ! -s "$tmp/out" ] || fail "broken file: output on stdout"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "broken file: stderr is not one line: $(cat "$tmp/err")"
grep -q "^pagoda info: .*extends past end of file" "$tmp/err" || fail "broken file message: $(cat "$tmp/err")"
printf 'GGUF\001\000\000\000' >"$tmp/v1.gguf"
"$BIN" info "$tmp/v1.gguf" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && grep -q "^pagoda info: .*version 1" "$tmp/err" || fail "v1 file: exit $rc: $(cat "$tmp/err")"
"$BIN" info "$tmp/missing.gguf" >/dev/null 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "missing file: exit $rc"

# Bad usage: exit 2.
"$BIN" info >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "no MODEL: exit $rc, want 2"
"$BIN" info --bogus "$m" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "unknown option: exit $rc, want 2"
"$BIN" info "$m" "$m" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || fail "two models: exit $rc, want 2"

[ $fails -eq 0 ] || { echo "info.test.sh: $fails failures"; exit 1; }
echo "info.test.sh: ok"
