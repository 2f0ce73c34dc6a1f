#!/bin/sh
# The command line's own contract (issue 20):
#  - every command (`pagoda help --commands`) answers --help and -h with its
#    usage on stdout, nothing on stderr, exit 0; `pagoda help CMD` says the
#    same; `pagoda`, `pagoda --help`, `pagoda help`, `pagoda --version`;
#  - README.md matches the usage tables: the command table and every
#    command's flag table appear verbatim (`pagoda help --markdown [CMD]`),
#    and every option line that `CMD --help` prints is a row of the README;
#  - shared argument rules: repeated single-value flags, non-numbers,
#    unknown options, missing values (exit 2, one line on stderr);
#    repeatable flags may repeat; a config file may not repeat a name;
#  - `bench tokenize` without a vocabulary says what it needs; `info -m`;
#    quantize type names in any letter case, with its fallbacks reported.
# To compare another README block with the binary (the server's endpoint
# list, for example), add one line below the others:
#     readme_has "endpoint list" "$("$BIN" help --markdown endpoints)"
# Needs $PAGODA_BIN; the parts that read models skip without test data.
BIN=${PAGODA_BIN:-build/pagoda}
TD=${PAGODA_TESTDATA:-../shared}
README=${README:-README.md}
if [ ! -x "$BIN" ]; then echo "FAIL: no binary at $BIN"; exit 1; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-help.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# readme_has WHAT TEXT: TEXT (several lines) appears verbatim in the README.
readme_has() {
    printf '%s\n' "$2" >"$tmp/block"
    python3 - "$README" "$tmp/block" <<'PY' || fail "README.md: the $1 differs from what pagoda prints (pagoda help --markdown ...)"
import sys
readme = open(sys.argv[1], encoding="utf-8").read()
block = open(sys.argv[2], encoding="utf-8").read()
if not block.strip() or block not in readme:
    # show the first line that is missing, to make the fix obvious
    for line in block.splitlines():
        if line and line not in readme.splitlines():
            print("  missing line: " + line)
            break
    sys.exit(1)
PY
}

# expect_usage_error WHAT PATTERN CMD...: exit 2, nothing on stdout, one
# stderr line matching PATTERN.
expect_usage_error() {
    what=$1; pat=$2; shift 2
    "$@" >"$tmp/o" 2>"$tmp/e" </dev/null; rc=$?
    [ $rc -eq 2 ] || fail "$what: exit $rc (want 2): $(cat "$tmp/e")"
    [ -s "$tmp/o" ] && fail "$what: wrote to stdout"
    [ "$(wc -l <"$tmp/e")" -eq 1 ] || fail "$what: want one line on stderr, got: $(cat "$tmp/e")"
    grep -q -- "$pat" "$tmp/e" || fail "$what: stderr lacks '$pat': $(cat "$tmp/e")"
}

"$BIN" help --commands >"$tmp/cmds" || fail "help --commands"
[ "$(wc -l <"$tmp/cmds")" -ge 11 ] || fail "help --commands lists $(wc -l <"$tmp/cmds") commands"
while IFS= read -r cmd; do
    for h in --help -h; do
        # shellcheck disable=SC2086 # "bench serve" is two words
        "$BIN" $cmd $h >"$tmp/out" 2>"$tmp/err"; rc=$?
        [ $rc -eq 0 ] || fail "pagoda $cmd $h: exit $rc"
        [ -s "$tmp/err" ] && fail "pagoda $cmd $h: wrote to stderr: $(cat "$tmp/err")"
        head -n1 "$tmp/out" | grep -q "^usage: pagoda $cmd " || fail "pagoda $cmd $h: no usage line: $(head -n1 "$tmp/out")"
    done
    # shellcheck disable=SC2086
    "$BIN" help $cmd >"$tmp/out2" 2>&1 || fail "pagoda help $cmd"
    cmp -s "$tmp/out" "$tmp/out2" || fail "pagoda help $cmd differs from pagoda $cmd -h"
    # help after other arguments still helps
    # shellcheck disable=SC2086
    "$BIN" $cmd --json --help >/dev/null 2>&1 || fail "pagoda $cmd ... --help: not exit 0"
    # every option line of --help is a README row: "  -m, --model FILE   text"
    sed -n 's/^  \(-[^ ].*\)$/\1/p' "$tmp/out" | sed 's/  .*//' | grep -v '^-h, --help$' >"$tmp/labels"
    [ -s "$tmp/labels" ] || fail "pagoda $cmd --help lists no options"
    while IFS= read -r label; do
        grep -qF -- "| \`$label\` |" "$README" || fail "README.md has no row for '$label' of pagoda $cmd"
    done <"$tmp/labels"
    # shellcheck disable=SC2086
    readme_has "flag table of '$cmd'" "$("$BIN" help --markdown $cmd)"
done <"$tmp/cmds"
readme_has "command table" "$("$BIN" help --markdown)"
"$BIN" bench --help >"$tmp/out" 2>&1 || fail "pagoda bench --help"
grep -q "throughput" "$tmp/out" || fail "bench --help lists no subcommands"

# top level
for a in --help -h help; do
    "$BIN" $a >"$tmp/out" 2>"$tmp/err" || fail "pagoda $a: not exit 0"
    while IFS= read -r cmd; do
        grep -q "^  pagoda $cmd " "$tmp/out" || fail "pagoda $a does not list $cmd"
    done <"$tmp/cmds"
    grep -q -- "--max-connections-per-ip" "$tmp/out" || fail "pagoda $a does not list serve's flags"
done
"$BIN" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && grep -q "^usage: pagoda" "$tmp/err" || fail "bare pagoda: exit $rc, usage on stderr"
"$BIN" --version >"$tmp/out" 2>&1 || fail "pagoda --version"
grep -q "^pagoda [0-9][0-9.]* (commit [0-9a-z-]*)$" "$tmp/out" || fail "--version: $(head -n1 "$tmp/out")"
grep -q "^compiled CPU levels: scalar" "$tmp/out" || fail "--version lacks the compiled CPU levels"
"$BIN" help --man >"$tmp/man" || fail "help --man"
grep -q '^\.TH PAGODA 1' "$tmp/man" || fail "man page header"
while IFS= read -r cmd; do
    mc=$(printf '%s' "$cmd" | sed 's/-/\\-/g') # troff writes '-' as '\-'
    grep -qF ".SS \"pagoda $mc\"" "$tmp/man" || fail "man page lacks $cmd"
done <"$tmp/cmds"
if command -v groff >/dev/null 2>&1; then
    groff -man -ww -z "$tmp/man" >"$tmp/gw" 2>&1
    [ -s "$tmp/gw" ] && fail "groff warns about the man page: $(head -n3 "$tmp/gw")"
fi
expect_usage_error "unknown command" "unknown command" "$BIN" frobnicate
expect_usage_error "help of an unknown command" "unknown command" "$BIN" help frobnicate

# shared argument rules
expect_usage_error "run -m A -m B" "more than once" "$BIN" run -m A -m B -p x
expect_usage_error "run --model A -m B" "more than once" "$BIN" run --model A -m B -p x
expect_usage_error "run --temp abc" "'abc' is not a number" "$BIN" run -m x -p y --temp abc
expect_usage_error "run -n 1x" "not a non-negative integer" "$BIN" run -m x -p y -n 1x
expect_usage_error "run --temp 3" "outside \[0, 2\]" "$BIN" run -m x -p y --temp 3
expect_usage_error "run -p" "needs a value" "$BIN" run -m x -p
expect_usage_error "run --bogus" "unknown option '--bogus'" "$BIN" run --bogus
expect_usage_error "serve --port abc" "'abc' is not" "$BIN" serve --port abc
expect_usage_error "serve --port 1 --port 2" "more than once" "$BIN" serve --port 1 --port 2
expect_usage_error "serve --kv-cache-mem lots" "not a size" "$BIN" serve --kv-cache-mem lots
# --api-key repeats: the error that follows is about the port, not the keys
expect_usage_error "serve --api-key twice" "port" "$BIN" serve --api-key a --api-key b --port x
printf 'port = 1\nmax-seqs = 2\nport = 2\n' >"$tmp/conf"
expect_usage_error "config file repeating a name" "more than once" "$BIN" serve --config "$tmp/conf"
printf 'max-seqs = many\n' >"$tmp/conf"
expect_usage_error "config file non-number" "'many' is not an integer" "$BIN" serve --config "$tmp/conf"
expect_usage_error "quantize --threads x" "not a non-negative integer" "$BIN" quantize a b q8_0 --threads x
expect_usage_error "bench serve --requests lots" "not a non-negative integer" "$BIN" bench serve --url http://x:1 --requests lots
expect_usage_error "bench kernels --k 1 --k 2" "more than once" "$BIN" bench kernels --k 1 --k 2
expect_usage_error "run without -m" "-m, --model FILE is required" "$BIN" run -p x
expect_usage_error "bench throughput without -m" "-m, --model FILE is required" "$BIN" bench throughput
expect_usage_error "chat-template without --case" "--case CASE.json is required" "$BIN" chat-template --template x
expect_usage_error "bench tokenize without a vocabulary" "needs at least one GGUF file" "$BIN" bench tokenize
expect_usage_error "info without a model" "usage" "$BIN" info
expect_usage_error "tokenize two texts" "more than one TEXT\|too many" "$BIN" tokenize -m x a b

if [ -d "$TD/models" ]; then
    m=$TD/models/stories260K.gguf
    "$BIN" info -m "$m" >"$tmp/a" 2>&1 || fail "info -m: $(cat "$tmp/a")"
    "$BIN" info "$m" >"$tmp/b" 2>&1
    cmp -s "$tmp/a" "$tmp/b" || fail "info -m MODEL differs from info MODEL"
    grep -qx "parameters: 292800 (292.80 K)" "$tmp/a" || fail "parameter count format: $(grep parameters "$tmp/a")"
    expect_usage_error "info -m A B" "more than one MODEL" "$BIN" info -m "$m" "$m"
    "$BIN" quantize "$m" "$tmp/q.gguf" Q4_K_M >"$tmp/o" 2>"$tmp/e" || fail "quantize Q4_K_M: $(cat "$tmp/e")"
    grep -q "blk.0.ffn_down.weight: row length 172 is not a multiple of q4_K's block of 256; using f16" "$tmp/e" \
        || fail "quantize does not report the ffn_down fallback: $(head -n3 "$tmp/e")"
    grep -q "asked for q4_K_M, holds q5_0 x29, f32 x11, f16 x5, q8_0 x3" "$tmp/e" \
        || fail "quantize does not report the resulting mix: $(tail -n1 "$tmp/e")"
    "$BIN" info "$tmp/q.gguf" | grep -qx "tensor types: q5_0: 29, f32: 11, f16: 5, q8_0: 3" \
        || fail "the file does not hold the reported mix"
    "$BIN" quantize "$m" "$tmp/q8.gguf" Q8_0 >"$tmp/o" 2>"$tmp/e" || fail "quantize Q8_0 (upper case): $(cat "$tmp/e")"
    expect_usage_error "quantize unknown type" "unknown type" "$BIN" quantize "$m" "$tmp/x.gguf" q9_Z
else
    echo "note: test data not found ($TD); model checks skipped"
fi

if [ $fails -ne 0 ]; then echo "help tests: $fails failures"; exit 1; fi
echo "help tests passed"
