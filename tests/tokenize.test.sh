#!/bin/sh
# `pagoda tokenize`: ids output, --no-bos, --special, --json, --file, a
# missing model file (exit 1, one line on stderr) and bad usage (exit 2).
# Uses the vocabulary-only GGUF files of the shared test data (skips with 77
# without them) and $PAGODA_BIN.
BIN=${PAGODA_BIN:-build/pagoda}
TD=${PAGODA_TESTDATA:-../shared}
if [ ! -d "$TD/tokenizer" ]; then echo "SKIP: test data not found ($TD)"; exit 77; fi
if [ ! -x "$BIN" ]; then echo "FAIL: no binary at $BIN"; exit 1; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-tok.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect() { # expect NAME WANT GOT
    [ "$2" = "$3" ] || fail "$1: want '$2', got '$3'"
}

spm=$TD/tokenizer/ggml-vocab-llama-spm.gguf
phi=$TD/tokenizer/ggml-vocab-phi-3.gguf
gpt2=$TD/tokenizer/ggml-vocab-gpt-2.gguf
bert=$TD/tokenizer/ggml-vocab-bert-bge.gguf

# ids: BOS added by default for llama vocabularies, not with --no-bos
expect "spm ids" "1 15043 3186" "$("$BIN" tokenize -m "$spm" "Hello world" 2>"$tmp/err")"
expect "spm --no-bos" "15043 3186" "$("$BIN" tokenize -m "$spm" --no-bos "Hello world")"
expect "gpt-2 ids" "15496 995" "$("$BIN" tokenize -m "$gpt2" "Hello world")"
expect "bert ids" "101 7592 2088 102" "$("$BIN" tokenize -m "$bert" "Hello world")"
[ -s "$tmp/err" ] && fail "stderr not empty on success: $(cat "$tmp/err")"

# special tokens: text unless --special
expect "gpt-2 special" "64 50256 65" "$("$BIN" tokenize -m "$gpt2" --special "a<|endoftext|>b")"
out=$("$BIN" tokenize -m "$gpt2" "a<|endoftext|>b")
case " $out " in *" 50256 "*) fail "gpt-2: <|endoftext|> parsed without --special: $out";; esac
expect "phi-3 special" "32010 7251 32007" "$("$BIN" tokenize -m "$phi" --no-bos --special "<|user|>hi<|end|>")"

# --file, with the trailing newline kept
printf 'Hello world\n' >"$tmp/in.txt"
expect "--file" "15496 995 198" "$("$BIN" tokenize -m "$gpt2" --file "$tmp/in.txt")"

# --json: tokens and pieces (byte pieces that are half a character: U+FFFD)
"$BIN" tokenize -m "$spm" --json "Hello wörld 🦙" >"$tmp/json" || fail "--json exit $?"
if command -v python3 >/dev/null 2>&1; then
    python3 - "$tmp/json" <<'PY' || fail "--json content: $(cat "$tmp/json")"
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
assert d["tokens"][:3] == [1, 15043, 281], d
assert len(d["pieces"]) == len(d["tokens"]), d
assert d["pieces"][:3] == ["<s>", " Hello", " w"], d
assert "".join(d["pieces"][1:5]) == " Hello wörld", d
assert d["pieces"][-1] == "\ufffd", d
PY
else
    grep -q '"tokens":\[1,15043,281' "$tmp/json" || fail "--json tokens: $(cat "$tmp/json")"
fi

# errors: missing file -> exit 1 with one line; usage -> exit 2
"$BIN" tokenize -m "$tmp/missing.gguf" "x" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "missing model exit" 1 $rc
expect "missing model stderr lines" 1 "$(wc -l <"$tmp/err" | tr -d ' ')"
"$BIN" tokenize -m "$gpt2" --file "$tmp/missing.txt" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "missing --file exit" 1 $rc
"$BIN" tokenize "x" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "no -m exit" 2 $rc
"$BIN" tokenize -m "$gpt2" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "no text exit" 2 $rc
"$BIN" tokenize -m "$gpt2" --bogus "x" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "bad option exit" 2 $rc
# a file that is not GGUF
printf 'not a gguf file at all' >"$tmp/bad.gguf"
"$BIN" tokenize -m "$tmp/bad.gguf" "x" >"$tmp/out" 2>"$tmp/err"; rc=$?
expect "bad gguf exit" 1 $rc

if [ $fails -ne 0 ]; then echo "tokenize.test.sh: $fails failures"; exit 1; fi
echo "tokenize.test.sh: ok"
