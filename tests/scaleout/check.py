#!/usr/bin/env python3
"""The scale-out checks of tests/scaleout.test.sh (issue 28), against a front
started by deploy/local/replicas.sh with 3 replicas.

Usage: check.py FRONT_URL RUN_DIR SPANS_FILE
RUN_DIR holds replica-I.pid and replica-I.log (replicas.sh -d); SPANS_FILE is
where tests/scaleout/otlp_receiver.py writes the spans it receives.
Prints "ok: ..." per check, "FAIL: ..." per failure; exit 1 on any failure."""
import collections
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.parse

FRONT, RUN, SPANS = sys.argv[1], sys.argv[2], sys.argv[3]
U = urllib.parse.urlparse(FRONT)
fails = 0


def ok(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        fails += 1
    return cond


def post(body, headers=None, timeout=120):
    """Non-streaming POST /v1/completions: (status, headers dict, json or text)."""
    c = http.client.HTTPConnection(U.hostname, U.port, timeout=timeout)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    c.request("POST", "/v1/completions", json.dumps(body), h)
    r = c.getresponse()
    data = r.read()
    hd = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    try:
        return r.status, hd, json.loads(data)
    except ValueError:
        return r.status, hd, data.decode("utf-8", "replace")


class Stream(threading.Thread):
    """One streaming completion; records status, replica, chunks, finish, usage, [DONE]."""

    def __init__(self, body, headers=None):
        super().__init__(daemon=True)
        self.body = dict(body, stream=True, stream_options={"include_usage": True})
        self.headers = headers or {}
        self.status = None
        self.replica = None
        self.chunks = 0
        self.finish = None
        self.usage = None
        self.done = False
        self.error = None
        self.first = threading.Event()

    def run(self):
        try:
            c = http.client.HTTPConnection(U.hostname, U.port, timeout=120)
            h = {"Content-Type": "application/json"}
            h.update(self.headers)
            c.request("POST", "/v1/completions", json.dumps(self.body), h)
            r = c.getresponse()
            self.status = r.status
            self.replica = r.getheader("x-pagoda-replica")
            if r.status != 200:
                self.error = r.read().decode("utf-8", "replace")[:300]
                return
            while True:
                line = r.readline()
                if not line:
                    break
                line = line.strip()
                if not line.startswith(b"data: "):
                    continue
                d = line[6:]
                if d == b"[DONE]":
                    self.done = True
                    break
                o = json.loads(d)
                if "error" in o:
                    self.error = str(o["error"])
                    break
                if o.get("usage"):
                    self.usage = o["usage"]
                for ch in o.get("choices", []):
                    self.chunks += 1
                    self.first.set()
                    if ch.get("finish_reason"):
                        self.finish = ch["finish_reason"]
            c.close()
        except Exception as e:  # noqa: BLE001 - any failure is the stream's failure
            self.error = repr(e)
        finally:
            self.first.set()


def pid_of(name):
    with open(os.path.join(RUN, name + ".pid")) as f:
        return int(f.read())


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] not in ("Z", "X")
    except OSError:
        return False


# 1. 48 concurrent streams through the front: all succeed, every replica serves some
streams = [Stream({"prompt": "Once upon a time", "max_tokens": 16, "temperature": 0.8, "seed": i}) for i in range(48)]
for s in streams:
    s.start()
for s in streams:
    s.join(180)
good = [s for s in streams if s.status == 200 and s.done and s.finish and not s.error]
ok(len(good) == 48, "48 streams through the front: %d succeeded%s" % (
    len(good), "" if len(good) == 48 else " (first failure: %r)" % next(
        ((s.status, s.error) for s in streams if s not in good), None)))
seen = collections.Counter(s.replica for s in streams)
ok(set(seen) == {"replica-1", "replica-2", "replica-3"}, "the streams reached every replica: %s" % dict(seen))

# 2. one session id, a shared prefix of a few hundred tokens: one replica, cached prompt tokens
prefix = ("Once upon a time, there was a little girl named Lily. She loved to play in the park with her "
          "friends. One day, she saw a big red ball under a tree. She ran to the ball and picked it up. "
          "Her mom said, \"Lily, be careful!\" Lily smiled and threw the ball to her friend Tom. Tom laughed "
          "and ran after it. They played all day until the sun went down. Then they went home and ate soup "
          "with bread. Lily was happy. She said, \"Thank you, mom, for a fun day.\" Her mom gave her a hug. ")
rep, cached, prompt_toks = set(), [], []
for i in range(8):
    st, hd, js = post({"prompt": prefix + "Question %d:" % i, "max_tokens": 4}, {"x-session-id": "conversation-42"})
    if not ok(st == 200, "session request %d: status %d" % (i, st)):
        continue
    rep.add(hd.get("x-pagoda-replica"))
    prompt_toks.append(js["usage"]["prompt_tokens"])
    cached.append(js["usage"].get("prompt_tokens_details", {}).get("cached_tokens", 0))
ok(len(rep) == 1, "8 requests with one x-session-id landed on one replica: %s" % sorted(map(str, rep)))
ok(prompt_toks and min(prompt_toks) >= 200, "the shared prefix is a few hundred tokens: %s" % prompt_toks[:1])
ok(len(cached) == 8 and all(c >= min(prompt_toks) - 32 for c in cached[1:]),
   "requests 2..8 report cached prompt tokens (usage.prompt_tokens_details.cached_tokens): %s" % cached)

# 5. spans reach the OTLP receiver with the request's trace id
trace = os.urandom(16).hex()
parent = os.urandom(8).hex()
st, hd, js = post({"prompt": "The cat", "max_tokens": 8}, {"traceparent": "00-%s-%s-01" % (trace, parent)})
ok(st == 200 and hd.get("traceparent", "").split("-")[1:2] == [trace],
   "a request with a traceparent: 200 and the trace id kept in the answer's traceparent")
ours = hd.get("traceparent", "---").split("-")[2]
spans = []
deadline = time.time() + 15
while time.time() < deadline:
    try:
        with open(SPANS) as f:
            spans = [json.loads(ln) for ln in f if trace in ln]
    except OSError:
        spans = []
    if len(spans) >= 4:
        break
    time.sleep(0.2)
root = [s for s in spans if s["name"] == "POST /v1/completions"]
ok(len(root) == 1 and root[0]["spanId"] == ours and root[0]["parentSpanId"] == parent and root[0]["kind"] == 2,
   "the request's SERVER span arrived with its trace id, our span id and the caller's span as parent")
ok(bool(root) and root[0]["attributes"].get("pagoda.replica") == hd.get("x-pagoda-replica")
   and root[0]["resource"].get("service.instance.id") == hd.get("x-pagoda-replica")
   and root[0]["attributes"].get("gen_ai.usage.output_tokens") == js["usage"]["completion_tokens"],
   "its attributes name the replica and the usage")
kids = {s["name"]: s for s in spans if root and s["parentSpanId"] == root[0]["spanId"]}
ok(set(kids) == {"queue", "prefill", "decode"} and all(
    root[0]["start"] <= k["start"] <= k["end"] <= root[0]["end"] for k in kids.values())
   and kids["queue"]["end"] <= kids["prefill"]["start"] + 1000 and kids["prefill"]["end"] <= kids["decode"]["start"] + 1000,
   "queue, prefill and decode spans under it, in order and inside it: %s" % sorted(kids))

# session ids and the replica each one hashes to (for the drain check below)
aff = {}
for i in range(40):
    st, hd, _ = post({"prompt": "Hi", "max_tokens": 1}, {"x-session-id": "aff-%d" % i})
    if st == 200:
        aff.setdefault(hd.get("x-pagoda-replica"), "aff-%d" % i)
ok(len(aff) == 3, "consistent hashing spreads 40 session ids over the 3 replicas: %s" % sorted(map(str, aff)))

# 3. SIGTERM on one replica while 8 long streams run: none is lost
LONG = 800
longs = [Stream({"prompt": "Once upon a time", "max_tokens": LONG, "ignore_eos": True, "seed": i}) for i in range(8)]
for s in longs:
    s.start()
for s in longs:
    s.first.wait(60)
busy = collections.Counter(s.replica for s in longs if s.status == 200)
victim = busy.most_common(1)[0][0] if busy else "replica-1"
vpid = pid_of(victim)
os.kill(vpid, signal.SIGTERM)
t_term = time.time()
# wait until it is draining (its /ready answers 503; the signal is seen
# within ~50 ms, requests before that are still its own)
with open(os.path.join(RUN, "haproxy.cfg")) as f:
    vport = int([ln.split(":")[-1] for ln in f if ln.strip().startswith("server %s " % victim)][0])
while time.time() - t_term < 10:
    try:
        c = http.client.HTTPConnection(U.hostname, vport, timeout=5)
        c.request("GET", "/ready")
        rs = c.getresponse().status
        c.close()
    except OSError:
        rs = None
    if rs != 200:
        break
    time.sleep(0.01)
# new requests while it drains go elsewhere: those of a session that hashes
# to it too (its 503s are retried on another replica by HAProxy)
during = []
for i in range(6):
    h = {"x-session-id": aff[victim]} if victim in aff and i % 2 == 0 else {}
    st, hd, _ = post({"prompt": "A dog", "max_tokens": 4}, h)
    during.append((st, hd.get("x-pagoda-replica")))
ok(all(st == 200 and rp != victim for st, rp in during),
   "6 requests during its drain (3 with a session id that hashes to it) all succeeded elsewhere: %s" % during)
for s in longs:
    s.join(240)
lost = [s for s in longs if not (s.status == 200 and s.done and s.finish == "length" and s.usage
                                 and s.usage["completion_tokens"] == LONG and not s.error)]
ok(not lost, "SIGTERM on %s (running %d of the 8 long streams): all 8 finished with %d tokens%s" % (
    victim, busy[victim], LONG, "" if not lost else "; lost: %r" % [(s.replica, s.status, s.finish, s.error) for s in lost]))
while alive(vpid) and time.time() - t_term < 60:
    time.sleep(0.1)
ok(not alive(vpid), "%s drained and exited" % victim)
with open(os.path.join(RUN, victim + ".log")) as f:
    drain = [ln for ln in f if "draining:" in ln]
n_flight = int(drain[0].split("draining: ")[1].split()[0]) if drain else 0
ok(n_flight >= 1, "it had streams in flight when the drain began (%s)" % (drain[0].strip() if drain else "no drain line"))

# 4. SIGKILL of a replica: the next 24 requests all succeed
others = [r for r in ("replica-1", "replica-2", "replica-3") if r != victim and alive(pid_of(r))]
killed = others[0]
os.kill(pid_of(killed), signal.SIGKILL)
res = []
lock = threading.Lock()


def one(i):
    st, hd, js = post({"prompt": "The sun", "max_tokens": 8, "seed": i})
    with lock:
        res.append((st, hd.get("x-pagoda-replica")))


ths = [threading.Thread(target=one, args=(i,)) for i in range(24)]
for i in range(0, 24, 8):
    for t in ths[i:i + 8]:
        t.start()
    for t in ths[i:i + 8]:
        t.join(120)
ok(len(res) == 24 and all(st == 200 for st, _ in res),
   "after SIGKILL of %s the next 24 requests all succeeded: %s" % (killed, collections.Counter(res)))
sys.exit(1 if fails else 0)
