#!/bin/sh
# `pagoda schema-test`: statuses on hand-made MaskBench-format files (GBNF
# "grammar" and "regex" forms: pass, validation_error, invalidation_error,
# compile_error), the per-file JSON line, --summary, usage errors, and a
# bounded MaskBench run (every 50th shared file, GPT-2 vocabulary): no
# crash, no invalidation error, one line per file.
BIN=${PAGODA_BIN:-build/pagoda}
TD=${PAGODA_TESTDATA:-../shared}
if [ ! -d "$TD/tokenizer" ]; then echo "SKIP: test data not found ($TD)"; exit 77; fi
if [ ! -x "$BIN" ]; then echo "FAIL: no binary at $BIN"; exit 1; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-st.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
gpt2=$TD/tokenizer/ggml-vocab-gpt-2.gguf

G='root ::= \"{\\\"a\\\":\" [0-9]+ \"}\"'
cat >"$tmp/pass.json" <<J
{"grammar": "$G", "tests": [{"valid": true, "data": {"a": 12}}, {"valid": false, "data": {"a": "x"}},
 {"valid": false, "data": {"b": 1}}]}
J
cat >"$tmp/verr.json" <<J
{"grammar": "$G", "tests": [{"valid": true, "data": {"a": -1}}]}
J
cat >"$tmp/ierr.json" <<J
{"grammar": "$G", "tests": [{"valid": false, "data": {"a": 3}}, {"valid": true, "data": {"a": -1}}]}
J
cat >"$tmp/cerr.json" <<J
{"grammar": "root ::= undefined-rule", "tests": []}
J
cat >"$tmp/regex.json" <<J
{"regex": "\"[a-z]{2,4}\"", "tests": [{"valid": true, "data": "abc"}, {"valid": false, "data": "a"},
 {"valid": false, "data": "abcde"}]}
J
out=$("$BIN" schema-test --vocab "$gpt2" --json "$tmp/pass.json" "$tmp/verr.json" "$tmp/ierr.json" "$tmp/cerr.json" \
      "$tmp/regex.json" 2>"$tmp/err") || fail "exit status $?"
[ "$(printf '%s\n' "$out" | wc -l)" -eq 5 ] || fail "want 5 lines, got: $out"
line() { printf '%s\n' "$out" | sed -n "$1p"; }
case $(line 1) in "{\"file\":\"$tmp/pass.json\",\"status\":\"pass\",\"compile_us\":"*"\"mask_us\":["*) ;; *) fail "pass line: $(line 1)";; esac
case $(line 2) in *'"status":"validation_error"'*) ;; *) fail "validation_error line: $(line 2)";; esac
case $(line 3) in *'"status":"invalidation_error"'*) ;; *) fail "invalidation_error line: $(line 3)";; esac
case $(line 4) in *'"status":"compile_error"'*"undefined rule"*) ;; *) fail "compile_error line: $(line 4)";; esac
case $(line 5) in *'"status":"pass"'*) ;; *) fail "regex line: $(line 5)";; esac
# the pass file: 1 valid instance of 5 tokens + EOS check, invalid ones stop early
n=$(line 1 | sed 's/.*"mask_us":\[\([^]]*\)\].*/\1/' | tr ',' '\n' | grep -c .)
[ "$n" -ge 6 ] || fail "too few mask times ($n): $(line 1)"
sum=$("$BIN" schema-test --vocab "$gpt2" --summary "$tmp/pass.json" "$tmp/cerr.json" | tail -n 3)
case $sum in *"files 2: pass 1 compile_error 1 validation_error 0 invalidation_error 0 timeout 0"*"p50"*) ;;
  *) fail "summary: $sum";; esac
# usage errors
"$BIN" schema-test "$tmp/pass.json" 2>/dev/null; [ $? -eq 2 ] || fail "missing --vocab: want exit 2"
"$BIN" schema-test --vocab "$gpt2" --whitespace loose "$tmp/pass.json" 2>/dev/null; [ $? -eq 2 ] || fail "bad --whitespace"
"$BIN" schema-test --vocab "$tmp/none.gguf" "$tmp/pass.json" 2>/dev/null; [ $? -eq 1 ] || fail "missing vocab: want exit 1"
# bounded MaskBench subset (JSON Schema front-end + engine)
if [ -d "$TD/maskbench" ]; then
    files=$(ls "$TD"/maskbench/*.json | awk 'NR % 50 == 0')
    nf=$(echo "$files" | wc -l)
    # shellcheck disable=SC2086
    "$BIN" schema-test --vocab "$gpt2" --json $files >"$tmp/mb.jsonl" 2>"$tmp/mb.err" || fail "maskbench subset exit $?"
    [ "$(wc -l <"$tmp/mb.jsonl")" -eq "$nf" ] || fail "maskbench subset: $(wc -l <"$tmp/mb.jsonl") lines for $nf files"
    grep -q '"status":"invalidation_error"' "$tmp/mb.jsonl" && fail "invalidation error: $(grep invalidation_error "$tmp/mb.jsonl" | cut -c1-200)"
    np=$(grep -c '"status":"pass"' "$tmp/mb.jsonl")
    echo "maskbench subset: $np of $nf pass"
    [ "$np" -ge $((nf * 6 / 10)) ] || fail "maskbench subset: only $np of $nf pass"
fi
[ $fails -eq 0 ] && echo "schema_test: ok"
[ $fails -eq 0 ]
