#!/usr/bin/env python3
"""Cosine of pagoda's last-position logits against the reference engine's,
for every prompt of one golden folder (no numpy needed):

    python3 scripts/golden_cosine.py arch-qwen3moe-q8_0 [build/pagoda]

Prints one line per prompt: index, prompt, token count, cosine, pagoda's
and the reference's top-1 token and the reference logit gap between them.
Reads $PAGODA_TESTDATA (default ../shared). Environment variables such as
PAGODA_CPU or PAGODA_TRACE_ROUTER pass through to pagoda. golden.jsonl
lines are decoded with replacement characters (some greedy_text fields are
not valid UTF-8), so every prompt is compared."""
import json, math, os, struct, subprocess, sys, tempfile

name = sys.argv[1]
binary = sys.argv[2] if len(sys.argv) > 2 else "build/pagoda"
td = os.environ.get("PAGODA_TESTDATA", "../shared")
gdir = os.path.join(td, "golden", name)
model = os.path.join(td, "models", name + ".gguf")
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "logits.f32")
    for raw in open(os.path.join(gdir, "golden.jsonl"), "rb"):
        d = json.loads(raw.decode("utf-8", "replace"))
        subprocess.run([binary, "logits", "-m", model, "-p", d["prompt"], "-o", out], check=True)
        a = open(out, "rb").read()
        b = open(os.path.join(gdir, d["logits_file"]), "rb").read()
        n = len(a) // 4
        x = struct.unpack("%df" % n, a)
        y = struct.unpack("%df" % n, b)
        cos = sum(p * q for p, q in zip(x, y)) / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y))
        tx = max(range(n), key=lambda i: x[i])
        ty = max(range(n), key=lambda i: y[i])
        print("%s %d %-32r %3d tokens cosine %.6f top-1 %d (reference %d, gap %.4f)"
              % (name, d["index"], d["prompt"][:30], len(d["prompt_tokens"]), cos, tx, ty, y[ty] - y[tx]))
