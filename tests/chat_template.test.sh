#!/bin/sh
# `pagoda chat-template`: renders cases of shared/templates/golden.json
# byte for byte (and every case of golden-tools.json, with `tools`), fails an expected-error case with exit 1 and the message on
# stderr, falls back to ChatML (with a warning) for a model without a chat
# template, and rejects bad usage with exit 2. Needs $PAGODA_BIN, python3
# (to cut cases out of golden.json) and the shared data (else skip, 77).
BIN=${PAGODA_BIN:-build/pagoda}
TD=${PAGODA_TESTDATA:-../shared}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
if [ ! -f "$TD/templates/golden.json" ]; then echo "SKIP: test data not found ($TD)"; exit 77; fi
if [ -z "$PY" ]; then echo "SKIP: python3 not found"; exit 77; fi
if [ ! -x "$BIN" ]; then echo "FAIL: no binary at $BIN"; exit 1; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-chat.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# extract TEMPLATE CONVERSATION NAME: writes NAME.case.json and
# NAME.expected (or NAME.error) into $tmp.
extract() {
    "$PY" - "$TD/templates/golden.json" "$1" "$2" "$tmp/$3" <<'PY'
import json, sys
cases = json.load(open(sys.argv[1], encoding="utf-8"))
c = next(c for c in cases if c["template"] == sys.argv[2] and c["conversation"] == sys.argv[3])
json.dump(c, open(sys.argv[4] + ".case.json", "w", encoding="utf-8"), ensure_ascii=False)
if "expected" in c:
    open(sys.argv[4] + ".expected", "wb").write(c["expected"].encode("utf-8"))
else:
    open(sys.argv[4] + ".error", "wb").write(c["expected_error"].encode("utf-8"))
PY
}

render_ok() { # TEMPLATE CONVERSATION NAME
    extract "$1" "$2" "$3" || { fail "cannot extract $1/$2"; return; }
    "$BIN" chat-template --template "$TD/templates/$1" --case "$tmp/$3.case.json" >"$tmp/$3.out" 2>"$tmp/$3.err"
    rc=$?
    [ $rc -eq 0 ] || { fail "$1/$2: exit $rc: $(cat "$tmp/$3.err")"; return; }
    cmp -s "$tmp/$3.out" "$tmp/$3.expected" || fail "$1/$2: output differs from golden.json"
    echo "ok: $1/$2 ($(wc -c <"$tmp/$3.out") bytes)"
}

# strftime_now + unicode; tool_use macros + namespace; tojson/filters
render_ok meta-llama-Llama-3.2-3B-Instruct.jinja unicode llama32
render_ok CohereForAI-c4ai-command-r-plus-tool_use.jinja system_multi_turn cohere
render_ok NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja whitespace hermes
render_ok test-ai-sage-GigaChat-20B-A3B-instruct.jinja system_user gigachat

# every case of golden-tools.json (conversations with `tools`, tool_calls and
# tool messages): byte for byte, or exit 1 for an expected error
if [ -f "$TD/templates/golden-tools.json" ]; then
    "$PY" - "$TD/templates" "$BIN" "$tmp" <<'PY' || fail "golden-tools.json cases"
import json, os, subprocess, sys
tdir, binary, tmp = sys.argv[1:4]
cases = json.load(open(os.path.join(tdir, "golden-tools.json"), encoding="utf-8"))
ok = bad = 0
for i, c in enumerate(cases):
    path = os.path.join(tmp, "tools%d.case.json" % i)
    json.dump(c, open(path, "w", encoding="utf-8"), ensure_ascii=False)
    r = subprocess.run([binary, "chat-template", "--template", os.path.join(tdir, c["template"]), "--case", path],
                       capture_output=True)
    name = "%s/%s" % (c["template"], c["conversation"])
    if "expected_error" in c:
        good = r.returncode == 1 and not r.stdout
        why = "exit %d, want 1 (expected error %r)" % (r.returncode, c["expected_error"])
    else:
        good = r.returncode == 0 and r.stdout == c["expected"].encode("utf-8")
        why = "exit %d: %s" % (r.returncode, r.stderr.decode("utf-8", "replace").strip()[:200]) \
            if r.returncode else "output differs from golden-tools.json"
    if good:
        ok += 1
    else:
        bad += 1
        print("FAIL: tools case %d %s: %s" % (i, name, why))
print("golden-tools.json: %d of %d cases pass" % (ok, len(cases)))
sys.exit(1 if bad or not ok else 0)
PY
fi

# an expected error: exit 1, the template's message on stderr, nothing on stdout
extract mistralai-Mistral-Nemo-Instruct-2407.jinja assistant_first nemo || fail "cannot extract error case"
"$BIN" chat-template --template "$TD/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja" \
    --case "$tmp/nemo.case.json" >"$tmp/nemo.out" 2>"$tmp/nemo.err"
rc=$?
[ $rc -eq 1 ] || fail "error case: exit $rc, want 1"
grep -qF "$(cat "$tmp/nemo.error")" "$tmp/nemo.err" || fail "error case: stderr '$(cat "$tmp/nemo.err")'"
[ -s "$tmp/nemo.out" ] && fail "error case wrote to stdout"

# a template that does not parse: exit 1 with a line number
printf '{%% for x in messages %%}\n{{ x }\n' >"$tmp/bad.jinja"
"$BIN" chat-template --template "$tmp/bad.jinja" --case "$tmp/nemo.case.json" >/dev/null 2>"$tmp/bad.err"
rc=$?
[ $rc -eq 1 ] || fail "parse error: exit $rc, want 1"
grep -q "line 2" "$tmp/bad.err" || fail "parse error message: '$(cat "$tmp/bad.err")'"

# -m with a model that has no chat template: ChatML fallback + warning
m=$TD/models/stories260K.gguf
if [ -f "$m" ]; then
    "$BIN" chat-template -m "$m" --case "$tmp/cohere.case.json" >"$tmp/fb.out" 2>"$tmp/fb.err"
    rc=$?
    [ $rc -eq 0 ] || fail "-m fallback: exit $rc: $(cat "$tmp/fb.err")"
    grep -qi "warning" "$tmp/fb.err" || fail "-m fallback: no warning on stderr"
    "$PY" - "$tmp/cohere.case.json" "$tmp/fb.want" <<'PY'
import json, sys
c = json.load(open(sys.argv[1], encoding="utf-8"))
s = "".join("<|im_start|>%s\n%s<|im_end|>\n" % (m["role"], m["content"]) for m in c["messages"])
if c["add_generation_prompt"]:
    s += "<|im_start|>assistant\n"
open(sys.argv[2], "wb").write(s.encode("utf-8"))
PY
    cmp -s "$tmp/fb.out" "$tmp/fb.want" || fail "-m fallback: output is not ChatML"
fi

# usage
"$BIN" chat-template >/dev/null 2>&1
[ $? -eq 2 ] || fail "no arguments: want exit 2"
"$BIN" chat-template --template "$tmp/bad.jinja" -m "$m" --case x >/dev/null 2>&1
[ $? -eq 2 ] || fail "--template with -m: want exit 2"

if [ $fails -ne 0 ]; then echo "chat_template.test.sh: $fails failure(s)"; exit 1; fi
echo "chat_template.test.sh: all ok"
exit 0
