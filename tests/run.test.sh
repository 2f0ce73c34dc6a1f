#!/bin/sh
# `pagoda run` and `pagoda logits` end to end on stories260K: the greedy
# continuation equals the reference engine's, --json carries the golden
# prompt and generated tokens, the logits file matches the golden logits,
# seeded sampling is reproducible, and bad input gives a one-line error with
# the documented exit code.
BIN=${PAGODA_BIN:-build/pagoda}
TD=${PAGODA_TESTDATA:-../shared}
if [ ! -d "$TD/models" ]; then echo "SKIP: test data not found ($TD)"; exit 77; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-run.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
M=$TD/models/stories260K.gguf
G=$TD/golden/stories260K/golden.jsonl

"$BIN" run -m "$M" -p "Once upon a time" -n 64 --json >"$tmp/j" 2>"$tmp/e" || fail "run --json: $(cat "$tmp/e")"
python3 - "$tmp/j" "$G" <<'PY' || fail "run --json differs from golden"
import json, sys
out = json.loads(open(sys.argv[1]).read())
gold = json.loads(open(sys.argv[2]).readline())
assert out["prompt_tokens"] == gold["prompt_tokens"], (out["prompt_tokens"], gold["prompt_tokens"])
assert out["tokens"] == gold["greedy_tokens"], (out["tokens"], gold["greedy_tokens"])
assert out["text"] == gold["greedy_text"], (out["text"], gold["greedy_text"])
PY
"$BIN" run -m "$M" -p "Once upon a time" -n 64 >"$tmp/t" 2>/dev/null || fail "run text"
python3 - "$tmp/t" "$G" <<'PY' || fail "run text output differs from golden"
import json, sys
gold = json.loads(open(sys.argv[2]).readline())
assert open(sys.argv[1]).read() == gold["greedy_text"] + "\n"
PY
"$BIN" logits -m "$M" -p "Once upon a time" -o "$tmp/l.f32" 2>"$tmp/e" || fail "logits: $(cat "$tmp/e")"
python3 - "$tmp/l.f32" "$TD/golden/stories260K/logits_00.f32" <<'PY' || fail "logits differ from golden"
import struct, sys, math
a = open(sys.argv[1], "rb").read(); b = open(sys.argv[2], "rb").read()
assert len(a) == len(b) == 512 * 4, (len(a), len(b))
x = struct.unpack("512f", a); y = struct.unpack("512f", b)
cos = sum(p * q for p, q in zip(x, y)) / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
assert cos > 0.9999, cos
PY
"$BIN" run -m "$M" -p "Tom had" -n 24 --temp 0.9 --seed 42 --json >"$tmp/s1" 2>/dev/null
"$BIN" run -m "$M" -p "Tom had" -n 24 --temp 0.9 --seed 42 --json --threads 1 >"$tmp/s2" 2>/dev/null
cmp -s "$tmp/s1" "$tmp/s2" || fail "seeded sampling is not reproducible"
"$BIN" run -m "$M" -p "Tom had" -n 24 --temp 0.9 --seed 43 --json >"$tmp/s3" 2>/dev/null
cmp -s "$tmp/s1" "$tmp/s3" && fail "different seeds gave the same sample"

# errors: usage -> 2, runtime -> 1, always one line on stderr
check_err() { # expected-rc description args...
    want=$1; shift; what=$1; shift
    "$BIN" "$@" >/dev/null 2>"$tmp/e"; rc=$?
    [ $rc -eq "$want" ] || fail "$what: exit $rc, want $want"
    [ "$(wc -l <"$tmp/e")" -eq 1 ] || fail "$what: stderr is not one line: $(cat "$tmp/e")"
}
check_err 2 "no model" run -p hi
check_err 2 "no prompt" run -m "$M"
check_err 2 "bad -n" run -m "$M" -p hi -n x
check_err 2 "bad temp" run -m "$M" -p hi --temp 9
check_err 2 "unknown option" run -m "$M" -p hi --bogus
check_err 2 "logits without -o" logits -m "$M" -p hi
check_err 1 "missing file" run -m "$tmp/nope.gguf" -p hi
printf 'GGUF\003\000\000\000' >"$tmp/trunc.gguf"
check_err 1 "truncated file" run -m "$tmp/trunc.gguf" -p hi
check_err 1 "vocab-only file" run -m "$TD/tokenizer/ggml-vocab-llama-spm.gguf" -p hi
check_err 1 "context too small" run -m "$M" -p "Once upon a time" -n 10 --ctx-size 8
"$BIN" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command: exit code is not 2"

[ $fails -eq 0 ] && echo "run.test.sh: ok"
[ $fails -eq 0 ]
