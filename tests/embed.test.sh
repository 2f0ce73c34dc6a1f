#!/bin/sh
# `pagoda embed` / `pagoda rerank` against ../shared/embeddings/golden.json:
# emb-bert mean pooling and arch-qwen2-q8_0 --pooling last by cosine >= 0.9999
# and unit norm, --base64 decoding to the same floats, --no-normalize,
# rr-bert rerank scores within 1e-4 (sorted, with indices); refusals: an
# input over the context (exit 1 with the token count and the limit, then
# --truncate), --dimensions on a model that is not Matryoshka, a chat model
# without --pooling, `run` on an encoder, rerank on an embedding model, and
# bad usage (exit 2). Skips (77) without the test data.
BIN=${PAGODA_BIN:-build/pagoda}
TD=${PAGODA_TESTDATA:-../shared}
G=$TD/embeddings/golden.json
if [ ! -f "$G" ]; then echo "SKIP: test data not found ($TD)"; exit 77; fi
if [ ! -x "$BIN" ]; then echo "FAIL: no binary at $BIN"; exit 1; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-emb.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
EMB=$TD/embeddings/emb-bert.gguf
RR=$TD/embeddings/rr-bert.gguf
QW=$TD/models/arch-qwen2-q8_0.gguf

python3 - "$BIN" "$G" "$EMB" "$QW" "$RR" <<'PY' || fail "goldens through the CLI"
import base64, json, math, struct, subprocess, sys
bin_, gpath, emb, qw, rr = sys.argv[1:]
g = json.load(open(gpath))
bad = 0
def run(args):
    p = subprocess.run([bin_] + args, capture_output=True, text=True)
    if p.returncode != 0:
        print("command failed:", args[:3], p.stderr); sys.exit(1)
    return json.loads(p.stdout)
def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
for model, extra, key in ((emb, [], "embeddings_mean"), (qw, ["--pooling", "last"], "embeddings_last")):
    out = run(["embed", "-m", model] + extra + ["--"] + g["texts"])
    b64 = run(["embed", "-m", model, "--base64"] + extra + ["--"] + g["texts"])
    assert len(out["data"]) == len(g["texts"])
    for i, (d, want) in enumerate(zip(out["data"], g[key])):
        v = d["embedding"]; c = cos(v, want); n = math.sqrt(sum(x * x for x in v))
        print(f"{key} {i}: cosine {c:.7f} norm {n:.7f}")
        if len(v) != len(want) or c < 0.9999 or abs(n - 1) > 1e-5: bad += 1; print("  BAD")
        raw = base64.b64decode(b64["data"][i]["embedding"])
        fl = struct.unpack("<%df" % (len(raw) // 4), raw)
        if list(fl) != [struct.unpack("<f", struct.pack("<f", x))[0] for x in v]: bad += 1; print("  base64 differs")
    assert out["prompt_tokens"] == sum(d["tokens"] for d in out["data"])
# --no-normalize: same direction, not unit length
raw = run(["embed", "-m", emb, "--no-normalize", g["texts"][1]])["data"][0]["embedding"]
n = math.sqrt(sum(x * x for x in raw))
if abs(n - 1) < 1e-3 or cos(raw, g["embeddings_mean"][1]) < 0.9999: bad += 1; print("--no-normalize wrong", n)
for case, want in zip(g["rerank"], g["rerank_scores"]):
    out = run(["rerank", "-m", rr, "--query", case["query"], "--"] + case["documents"])
    res = out["results"]
    scores = [r["relevance_score"] for r in res]
    if scores != sorted(scores, reverse=True): bad += 1; print("not sorted")
    for r in res:
        w = want[r["index"]]
        print(f"rerank {case['query']!r} doc {r['index']}: {r['relevance_score']:.7f} want {w:.7f}")
        if abs(r["relevance_score"] - w) > 1e-4: bad += 1; print("  BAD")
    if sorted(r["index"] for r in res) != list(range(len(want))): bad += 1
sys.exit(1 if bad else 0)
PY

# refusals: exit 1 and one clear line on stderr
long=$(python3 -c 'print(" ".join(["word"] * 600))')
"$BIN" embed -m "$EMB" "$long" >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 1 ] || fail "too long: exit $rc"
grep -q "602 tokens, more than the limit of 512" "$tmp/e" || fail "too long message: $(cat "$tmp/e")"
"$BIN" embed -m "$EMB" --truncate "$long" >"$tmp/o" 2>"$tmp/e" || fail "--truncate failed: $(cat "$tmp/e")"
grep -q '"tokens": 512' "$tmp/o" || fail "--truncate: not 512 tokens"
"$BIN" embed -m "$EMB" --dimensions 64 hello >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 1 ] && grep -q "does not support the dimensions parameter" "$tmp/e" || fail "dimensions on a non-Matryoshka model: $rc $(cat "$tmp/e")"
"$BIN" embed -m "$EMB" --matryoshka --dimensions 64 hello >"$tmp/o" 2>"$tmp/e" || fail "--matryoshka --dimensions 64: $(cat "$tmp/e")"
grep -q '"dim": 64' "$tmp/o" || fail "--dimensions 64 gave another size"
"$BIN" embed -m "$QW" hello >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 1 ] && grep -q "does not support embeddings" "$tmp/e" || fail "chat model without --pooling: $rc $(cat "$tmp/e")"
"$BIN" run -m "$EMB" -p hello -n 2 >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 1 ] && grep -q "does not support generation" "$tmp/e" || fail "run on an encoder: $rc $(cat "$tmp/e")"
"$BIN" rerank -m "$EMB" --query q doc >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 1 ] && grep -q "does not support reranking" "$tmp/e" || fail "rerank on an embedding model: $rc $(cat "$tmp/e")"
"$BIN" embed -m "$RR" hello >"$tmp/o" 2>"$tmp/e"; rc=$?
[ $rc -eq 1 ] && grep -q "reranker" "$tmp/e" || fail "embed on a reranker: $rc $(cat "$tmp/e")"
# --pooling none: one vector per token ([CLS] hello world [SEP])
"$BIN" embed -m "$EMB" --pooling none "hello world" | python3 -c 'import json,sys; d=json.load(sys.stdin); e=d["data"][0]["embedding"]; sys.exit(d["pooling"] != "none" or len(e) != 4 or any(len(r) != 128 for r in e))' || fail "--pooling none output"
# info reports what each model can serve
"$BIN" info "$RR" | grep -qx "capabilities: rerank (pooling rank)" || fail "info rr-bert capabilities"
"$BIN" info "$EMB" | grep -qx "capabilities: embed (pooling mean)" || fail "info emb-bert capabilities"
"$BIN" info "$QW" | grep -qx "capabilities: generate" || fail "info qwen2 capabilities"
"$BIN" info --json "$EMB" | python3 -c 'import json,sys; f=json.load(sys.stdin)["features"]; sys.exit(f["capabilities"] != ["embed"] or f["pooling"] != "mean")' || fail "info --json capabilities"
# usage errors: exit 2
"$BIN" embed -m "$EMB" >/dev/null 2>&1; [ $? -eq 2 ] || fail "embed without texts: not exit 2"
"$BIN" embed -m "$EMB" --pooling bogus x >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --pooling: not exit 2"
"$BIN" rerank -m "$RR" doc >/dev/null 2>&1; [ $? -eq 2 ] || fail "rerank without --query: not exit 2"
"$BIN" embed -m "$TD/none.gguf" x >/dev/null 2>&1; [ $? -eq 1 ] || fail "missing model: not exit 1"

[ $fails -eq 0 ] || exit 1
echo "embed.test.sh: ok"
