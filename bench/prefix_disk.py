#!/usr/bin/env python3
"""prefix_disk.py - TTFT of a request whose long prefix is in the disk
prefix cache after a restart, against the same request cold.

Each round (a fresh random prefix of PREFIX token ids, so nothing is cached
before it): start `pagoda serve --prefix-cache-dir DIR`, send request A
(prefix + suffix A, streamed; its TTFT is the cold one), stop the server
with SIGTERM (cached blocks are written to DIR), start it again, send
request B (prefix + a different suffix B; warm TTFT, and its usage's
cached_tokens). Prints one line per round and the medians.

usage: bench/prefix_disk.py MODEL [--rounds N] [--prefix 1950] [--suffix 24]
       [--threads 2] [--bin build/pagoda] [--dir DIR] [--max-tokens 4]
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def start(binary, model, pdir, threads, ctx, log):
    f = open(log, "w")
    p = subprocess.Popen([binary, "serve", "-m", model, "--host", "127.0.0.1", "--port", "0",
                          "--threads", str(threads), "--ctx-size", str(ctx), "--prefix-cache-dir", pdir],
                         stdout=f, stderr=subprocess.STDOUT)
    for _ in range(1200):
        with open(log) as g:
            for line in g:
                if line.startswith("pagoda: listening on http://"):
                    hostport = line.split("http://", 1)[1].strip()
                    host, port = hostport.rsplit(":", 1)
                    return p, host, int(port)
        if p.poll() is not None:
            sys.exit("server exited: " + open(log).read())
        time.sleep(0.1)
    sys.exit("server did not start")


def stop(p):
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=300)
    if rc != 0:
        sys.exit("server exited with %d" % rc)


def ttft(host, port, ids, max_tokens):
    """(seconds to the first streamed token, cached_tokens, text)"""
    body = json.dumps({"prompt": ids, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                       "stream_options": {"include_usage": True}})
    c = http.client.HTTPConnection(host, port, timeout=600)
    t0 = time.monotonic()
    c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        sys.exit("status %d: %s" % (r.status, r.read()))
    first, cached, text = None, None, ""
    for raw in r:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        ev = json.loads(line[6:])
        if ev.get("choices"):
            if first is None:
                first = time.monotonic() - t0
            text += ev["choices"][0].get("text", "")
        if ev.get("usage"):
            cached = ev["usage"]["prompt_tokens_details"]["cached_tokens"]
    c.close()
    return first, cached, text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--prefix", type=int, default=1950)
    ap.add_argument("--suffix", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=4)
    ap.add_argument("--bin", default="build/pagoda")
    ap.add_argument("--dir", default=None)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="pg-prefix-disk-")
    pdir = a.dir or os.path.join(work, "cache")
    log = os.path.join(work, "serve.log")
    ctx = a.prefix + a.suffix + a.max_tokens + 16
    rng = random.Random(12345)
    cold, warm, cached_l = [], [], []
    try:
        for rnd in range(a.rounds):
            prefix = [rng.randrange(100, 30000) for _ in range(a.prefix)]
            sa = [rng.randrange(100, 30000) for _ in range(a.suffix)]
            sb = [rng.randrange(100, 30000) for _ in range(a.suffix)]
            p, host, port = start(a.bin, a.model, pdir, a.threads, ctx, log)
            tc, cc, _ = ttft(host, port, prefix + sa, a.max_tokens)
            stop(p)
            p, host, port = start(a.bin, a.model, pdir, a.threads, ctx, log)
            tw, cw, _ = ttft(host, port, prefix + sb, a.max_tokens)
            stop(p)
            cold.append(tc)
            warm.append(tw)
            cached_l.append(cw)
            print("round %d: cold TTFT %.3f s (cached %d), after restart TTFT %.3f s (cached %d), ratio %.3f"
                  % (rnd + 1, tc, cc, tw, cw, tw / tc), flush=True)
        mc, mw = statistics.median(cold), statistics.median(warm)
        print("median: cold %.3f s, after restart %.3f s, ratio %.3f, cached_tokens %s (prefix %d tokens)"
              % (mc, mw, mw / mc, cached_l, a.prefix))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
