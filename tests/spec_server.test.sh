#!/bin/sh
# Speculative decoding through the server (issue 26): the same completions
# (greedy and seeded sampling, streamed and not) from `serve` without
# speculation, with --spec ngram and with stories260K drafting for itself
# (--draft-model) are identical; the per-request opt-out "speculative":
# false is honoured and a non-boolean is a 400 naming it; /metrics and
# /v1/stats count drafted and accepted tokens and the acceptance-rate
# histogram; bad --spec combinations are refused at start-up; `pagoda run
# --spec ...` prints the tokens it prints without speculation. Skips (77)
# without python3 or the test data.
cd "$(dirname "$0")/.." || exit 1
BIN=${PAGODA_BIN:-$PWD/build/pagoda}
DATA=${PAGODA_TESTDATA:-../shared}
MODEL="$DATA/models/stories260K.gguf"
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
[ -f "$MODEL" ] || { echo "SKIP: test data absent ($MODEL)"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-spec.XXXXXX") || exit 1
PID=""
cleanup() {
    [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail=0

start() {
    log=$1; shift
    "$BIN" serve -m "$MODEL" --host 127.0.0.1 --port 0 --threads 1 "$@" >"$log" 2>&1 &
    PID=$!
    i=0
    while [ $i -lt 600 ]; do
        line=$(grep -m1 '^pagoda: listening on http://' "$log" 2>/dev/null)
        if [ -n "$line" ]; then URL=${line#pagoda: listening on }; return 0; fi
        kill -0 "$PID" 2>/dev/null || { echo "FAIL: the server exited:"; cat "$log"; exit 1; }
        sleep 0.1
        i=$((i + 1))
    done
    echo "FAIL: the server did not start"; exit 1
}
stop() {
    kill "$PID" 2>/dev/null
    wait "$PID"; rc=$?
    PID=""
    [ $rc -eq 0 ] || { echo "FAIL: server exited with $rc"; cat "$1"; fail=1; }
}

# run NAME: the request set against $URL into $TMP/NAME.json (and checks)
run() {
    python3 - "$URL" "$TMP/$1.json" "$1" <<'PY' || fail=1
import json, sys, urllib.request, urllib.error
url, out, name = sys.argv[1], sys.argv[2], sys.argv[3]
def post(path, body):
    req = urllib.request.Request(url + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
prompts = ["Once upon a time, there was a little", "The cat sat on the mat. The cat sat on the",
           "Lily and Ben went to the park. Lily and Ben", "One day a big dog"]
res = {}
for i, p in enumerate(prompts):
    for mode in ("greedy", "sampled", "optout", "stream"):
        body = {"prompt": p, "max_tokens": 60 + 10 * i, "temperature": 0}
        if mode in ("sampled", "stream"):
            body.update(temperature=0.8, top_p=0.95, seed=7 + i, logprobs=2)
        if mode == "optout":
            body["speculative"] = False
        if mode == "stream":
            body["stream"] = True
        st, txt = post("/v1/completions", body)
        if st != 200:
            print("FAIL: %s %s %d %s" % (name, mode, st, txt[:200])); sys.exit(1)
        if mode == "stream":
            text, lps = "", []
            for line in txt.splitlines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    ch = json.loads(line[6:])["choices"][0]
                    text += ch["text"]
                    if ch.get("logprobs"): lps += ch["logprobs"]["token_logprobs"]
            res["%d-%s" % (i, mode)] = [text, lps]
        else:
            ch = json.loads(txt)["choices"][0]
            res["%d-%s" % (i, mode)] = [ch["text"], ch["logprobs"]["token_logprobs"] if ch.get("logprobs") else None,
                                        ch["finish_reason"]]
st, txt = post("/v1/completions", {"prompt": "x", "max_tokens": 2, "speculative": "yes"})
if st != 400 or json.loads(txt)["error"].get("param") != "speculative":
    print("FAIL: %s: 'speculative': \"yes\" gave %d %s" % (name, st, txt[:200])); sys.exit(1)
st, txt = post("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 8,
                                        "speculative": False})
if st != 200:
    print("FAIL: %s: chat with speculative false: %d %s" % (name, st, txt[:200])); sys.exit(1)
with urllib.request.urlopen(url + "/v1/stats", timeout=30) as r:
    res["stats"] = json.loads(r.read().decode())["engine"]["speculative"]
with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
    res["metrics"] = [l for l in r.read().decode().splitlines() if l.startswith("pagoda:spec_")]
json.dump(res, open(out, "w"))
PY
}

start "$TMP/off.log"
run off
stop "$TMP/off.log"
start "$TMP/ngram.log" --spec ngram
run ngram
stop "$TMP/ngram.log"
start "$TMP/draft.log" --draft-model "$MODEL" --spec-tokens 6
run draft
stop "$TMP/draft.log"

python3 - "$TMP" <<'PY' || fail=1
import json, sys
d = sys.argv[1]
off, ng, dr = (json.load(open("%s/%s.json" % (d, n))) for n in ("off", "ngram", "draft"))
bad = 0
for k in off:
    if k in ("stats", "metrics"): continue
    for name, o in (("ngram", ng), ("draft", dr)):
        if o[k] != off[k]:
            print("FAIL: %s: %s differs from speculation off:\n  %r\n  %r" % (name, k, o[k], off[k])); bad = 1
if off["stats"]["drafted_tokens"] != 0: print("FAIL: drafts without --spec"); bad = 1
for name, o in (("ngram", ng), ("draft", dr)):
    s = o["stats"]
    if not (s["drafted_tokens"] > 0 and 0 < s["accepted_tokens"] <= s["drafted_tokens"] and sum(s["acceptance_histogram"]) > 0):
        print("FAIL: %s: stats %r" % (name, s)); bad = 1
    m = {l.split("{")[0] + ("" if "le=" not in l else l.split("le=")[1].split("}")[0]): float(l.split()[-1]) for l in o["metrics"]}
    if m.get("pagoda:spec_draft_tokens_total") != s["drafted_tokens"] or m.get("pagoda:spec_accepted_tokens_total") != s["accepted_tokens"]:
        print("FAIL: %s: /metrics %r vs /v1/stats %r" % (name, m, s)); bad = 1
    if m.get('pagoda:spec_acceptance_rate_bucket"+Inf"') != sum(s["acceptance_histogram"]):
        print("FAIL: %s: histogram %r" % (name, o["metrics"])); bad = 1
# a model drafting for itself accepts every greedy draft: its histogram has the 1.0 bucket
if dr["stats"]["acceptance_histogram"][9] == 0: print("FAIL: self-drafting never fully accepted"); bad = 1
sys.exit(bad)
PY

# pagoda run: the same tokens with --spec ngram and a self-drafting model
for samp in "" "--temp 0.9 --seed 11"; do
    # shellcheck disable=SC2086
    "$BIN" run -m "$MODEL" -p "Once upon a time, there was a" -n 120 -t 1 --json $samp >"$TMP/run-off.json" 2>/dev/null || fail=1
    for x in "--spec ngram" "--draft-model $MODEL --spec-tokens 5"; do
        # shellcheck disable=SC2086
        "$BIN" run -m "$MODEL" -p "Once upon a time, there was a" -n 120 -t 1 --json $samp $x >"$TMP/run-on.json" 2>"$TMP/run.err" || fail=1
        if ! cmp -s "$TMP/run-off.json" "$TMP/run-on.json" || ! grep -q "accepted" "$TMP/run.err"; then
            echo "FAIL: run $samp $x differs from run without speculation"; cat "$TMP/run.err"; fail=1
        fi
    done
done
"$BIN" run -m "$MODEL" -p x --spec draft >"$TMP/bad.log" 2>&1
[ $? -eq 2 ] || { echo "FAIL: run --spec draft without a draft model was not refused"; fail=1; }

# refused configurations
for args in "--spec draft" "--spec bogus" "--spec ngram --draft-model $MODEL" "--spec-tokens 17 --spec ngram"; do
    # shellcheck disable=SC2086
    "$BIN" serve -m "$MODEL" --port 0 $args >"$TMP/bad.log" 2>&1
    rc=$?
    if [ $rc -ne 2 ] || ! grep -q -- "--spec" "$TMP/bad.log"; then echo "FAIL: serve $args: rc $rc"; cat "$TMP/bad.log"; fail=1; fi
done
[ $fail -eq 0 ] && echo "spec_server tests passed"
exit $fail
