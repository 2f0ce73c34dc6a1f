#!/usr/bin/env python3
"""Usage and cost accounting checks of tests/usage.test.sh (issue 28).

Usage: usage_check.py URL
The server at URL runs with --api-key-file (keys "alice-key" named alice,
"bob-key" named bob), --admin-key adm, --cost-per-hour 3.6 and an
--otlp-endpoint where nothing listens. Sends requests as alice and bob,
sums the `usage` fields of the responses and checks that GET /v1/usage
(group_by key and model) and the /metrics counters hold exactly those sums,
that the cost figures follow from the compute seconds, the admin-key and
parameter errors, and that the failed span exports are counted as drops."""
import http.client
import json
import re
import sys
import time
import urllib.parse

U = urllib.parse.urlparse(sys.argv[1])
fails = 0


def ok(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        fails += 1
    return cond


def req(method, path, body=None, key=None):
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=60)
    h = {"Content-Type": "application/json"}
    if key:
        h["Authorization"] = "Bearer " + key
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse()
    data = r.read().decode("utf-8", "replace")
    c.close()
    return r.status, data


def stream_usage(path, body, key):
    st, data = req("POST", path, dict(body, stream=True, stream_options={"include_usage": True}), key)
    usage = None
    for ln in data.splitlines():
        if ln.startswith("data: {"):
            o = json.loads(ln[6:])
            if o.get("usage"):
                usage = o["usage"]
    return st, usage


sums = {}


def add(key, u):
    s = sums.setdefault(key, {"requests": 0, "prompt_tokens": 0, "cached_tokens": 0, "generated_tokens": 0})
    s["requests"] += 1
    s["prompt_tokens"] += u["prompt_tokens"]
    s["cached_tokens"] += u.get("prompt_tokens_details", {}).get("cached_tokens", 0)
    s["generated_tokens"] += u["completion_tokens"]


story = "Once upon a time, there was a little bird who lived in a tall tree near a quiet river. " * 3
t0 = time.time()
plan = [
    ("alice", "/v1/completions", {"prompt": story, "max_tokens": 12}),
    ("alice", "/v1/completions", {"prompt": story, "max_tokens": 7}),  # the same prefix: cached tokens
    ("alice", "/v1/completions", {"prompt": ["A cat", "A dog"], "max_tokens": 5}),  # two prompts
    ("alice", "/v1/completions", {"prompt": "The sun", "max_tokens": 9, "n": 2, "seed": 3}),
    ("alice", "/v1/chat/completions", {"messages": [{"role": "user", "content": "Tell me a story"}], "max_tokens": 10}),
    ("bob", "/v1/completions", {"prompt": "Lily had a ball", "max_tokens": 15}),
    ("bob", "/v1/completions", {"prompt": story, "max_tokens": 3}),
]
for who, path, body in plan:
    st, data = req("POST", path, body, who + "-key")
    if ok(st == 200, "%s %s: %d" % (who, path, st)):
        add(who, json.loads(data)["usage"])
for who, path, body in [("alice", "/v1/completions", {"prompt": "Tom ran", "max_tokens": 11}),
                        ("bob", "/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6})]:
    st, u = stream_usage(path, body, who + "-key")
    if ok(st == 200 and u, "%s streaming %s with include_usage: %d" % (who, path, st)):
        add(who, u)
# a refused request (400) is not usage
st, _ = req("POST", "/v1/completions", {"prompt": "x", "max_tokens": -1}, "alice-key")
ok(st == 400, "a bad request: 400 (%d)" % st)
wall = time.time() - t0
ok(sums.get("alice", {}).get("cached_tokens", 0) > 0, "alice's repeated prefix reported cached tokens: %s" % sums.get("alice"))

# GET /v1/usage, by key
st, data = req("GET", "/v1/usage?group_by=key", None, "adm")
ok(st == 200, "GET /v1/usage?group_by=key with the admin key: %d" % st)
rep = json.loads(data) if st == 200 else {"data": [], "total": {}}
rows = {r["key"]: r for r in rep["data"]}
ok(set(rows) == {"alice", "bob"}, "rows per key name (never the key): %s" % sorted(rows))
for who, s in sums.items():
    r = rows.get(who, {})
    got = {k: r.get(k) for k in s}
    ok(got == s, "%s: /v1/usage %s == the sum of the responses' usage %s" % (who, got, s))
    ok(r.get("total_tokens") == s["prompt_tokens"] + s["generated_tokens"], "%s: total_tokens" % who)
    cs = r.get("compute_seconds", 0)
    ok(cs > 0, "%s: compute seconds %.6f > 0" % (who, cs))
    ok(abs(r.get("estimated_cost", -1) - cs * 3.6 / 3600) <= 1e-12 + 1e-9 * cs,
       "%s: estimated_cost = compute_seconds x 3.6 / 3600 (%s)" % (who, r.get("estimated_cost")))
    tok = s["prompt_tokens"] + s["generated_tokens"]
    ok(abs(r.get("cost_per_1k_tokens", -1) - r.get("estimated_cost", 0) * 1000 / tok) <= 1e-12,
       "%s: cost_per_1k_tokens = estimated_cost x 1000 / tokens" % who)
total_cs = sum(r.get("compute_seconds", 0) for r in rows.values())
ok(total_cs <= wall, "compute seconds (%.4f) within the wall time of the requests (%.4f): step time is shared, not copied"
   % (total_cs, wall))
tot = rep["total"]
ok(tot.get("requests") == sum(s["requests"] for s in sums.values()) and abs(tot.get("compute_seconds", 0) - total_cs) < 1e-9,
   "total row = the sum of the rows: %s" % tot)

# by model
st, data = req("GET", "/v1/usage?group_by=model", None, "adm")
m = json.loads(data) if st == 200 else {"data": []}
ok(st == 200 and len(m["data"]) == 1 and m["data"][0].get("model") == "stories260K"
   and m["data"][0]["generated_tokens"] == sum(s["generated_tokens"] for s in sums.values())
   and m["data"][0]["prompt_tokens"] == sum(s["prompt_tokens"] for s in sums.values()),
   "group_by=model: one row for stories260K with the same sums")

# the window: nothing before the server started, nothing in the future
now = int(time.time())
st, data = req("GET", "/v1/usage?since=%d&until=%d" % (now + 120, now + 240), None, "adm")
ok(st == 200 and json.loads(data)["data"] == [] and json.loads(data)["total"]["requests"] == 0,
   "since in the future: no rows")
st, data = req("GET", "/v1/usage?since=%d&until=%d" % (now - 3600, now + 60), None, "adm")
ok(st == 200 and json.loads(data)["total"]["requests"] == tot.get("requests"), "the last hour: every request")

# /metrics holds the same sums, labelled by key name
st, met = req("GET", "/metrics")
ok(st == 200, "/metrics: %d" % st)


def metric(name, key):
    m_ = re.search(r'^pagoda:%s\{model_name="stories260K",key="%s"\} (\S+)$' % (name, key), met, re.M)
    return float(m_.group(1)) if m_ else None


for who, s in sums.items():
    got = {"requests": metric("usage_requests_total", who), "prompt_tokens": metric("usage_prompt_tokens_total", who),
           "cached_tokens": metric("usage_cached_tokens_total", who),
           "generated_tokens": metric("usage_generated_tokens_total", who)}
    ok(got == {k: float(v) for k, v in s.items()}, "%s: /metrics counters %s" % (who, got))
    ok(abs((metric("usage_compute_seconds_total", who) or -1) - rows.get(who, {}).get("compute_seconds", 0)) < 1e-6,
       "%s: pagoda:usage_compute_seconds_total matches /v1/usage" % who)
    ok(metric("usage_estimated_cost_total", who) is not None and metric("usage_cost_per_1k_tokens", who) is not None,
       "%s: cost series exported" % who)
ok("alice-key" not in met and "bob-key" not in met, "no key secret in /metrics")

# errors
for q, want in [("?since=abc", 400), ("?since=100&until=50", 400), ("?group_by=user", 400), ("?until=-5", 400)]:
    st, data = req("GET", "/v1/usage" + q, None, "adm")
    ok(st == want and "error" in json.loads(data), "GET /v1/usage%s: %d (want %d)" % (q, st, want))
for k, want in [(None, 401), ("wrong", 401), ("alice-key", 401)]:
    st, _ = req("GET", "/v1/usage", None, k)
    ok(st == want, "GET /v1/usage with key %r: %d (want %d)" % (k, st, want))

# spans to an endpoint where nothing listens: dropped and counted
deadline = time.time() + 15
dropped = 0
while time.time() < deadline:
    _, met = req("GET", "/metrics")
    m_ = re.search(r'^pagoda:otlp_spans_dropped_total\{model_name="stories260K",reason="export_failed"\} (\d+)$', met, re.M)
    dropped = int(m_.group(1)) if m_ else 0
    if dropped > 0:
        break
    time.sleep(0.3)
ok(dropped >= 4, "failed span exports counted: pagoda:otlp_spans_dropped_total{reason=export_failed} = %d" % dropped)
ok(re.search(r'^pagoda:otlp_spans_exported_total\{model_name="stories260K"\} 0$', met, re.M) is not None,
   "nothing counted as exported")
sys.exit(1 if fails else 0)
