#!/bin/sh
# The Kubernetes manifests (issue 28): `kubectl apply --dry-run=client
# --validate=false -f deploy/kubernetes/` passes, and the objects it reads
# carry what a deployment of pagoda needs (probes, grace, resources, the
# read-only model volume, the autoscaler on the queue-depth metric and its
# adapter rule, the disruption budget, a config file pagoda accepts).
# kubectl maps kinds to resources through the API's discovery documents even
# in client dry-run, so the command runs against tests/scaleout/kube_stub.py
# (discovery only, every object NotFound, writes refused). Skips (77) without
# kubectl (Debian package kubernetes-client) or python3.
cd "$(dirname "$0")/.." || exit 1
BIN=${PAGODA_BIN:-$PWD/build/pagoda}
command -v kubectl >/dev/null 2>&1 || { echo "SKIP: kubectl is not installed (Debian package kubernetes-client; scripts/deps.sh)"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/pagoda-kube.XXXXXX") || exit 1
SPID=""
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 1' INT TERM
python3 tests/scaleout/kube_stub.py "$TMP/port" 2>"$TMP/stub.err" &
SPID=$!
i=0
while [ ! -s "$TMP/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$TMP/port" ] || { echo "FAIL: the API stub did not start"; cat "$TMP/stub.err"; exit 1; }
export KUBECONFIG="$TMP/kubeconfig" # none: nothing from the user's config
K="kubectl --server=http://127.0.0.1:$(cat "$TMP/port") --cache-dir=$TMP/cache"
fail=0

$K apply --dry-run=client --validate=false -f deploy/kubernetes/ >"$TMP/out" 2>"$TMP/err"; rc=$?
cat "$TMP/out"
if [ $rc -ne 0 ]; then echo "FAIL: kubectl apply --dry-run=client exit $rc:"; cat "$TMP/err"; fail=1; fi
for obj in configmap/pagoda-config deployment.apps/pagoda service/pagoda horizontalpodautoscaler.autoscaling/pagoda \
           poddisruptionbudget.policy/pagoda configmap/prometheus-adapter-pagoda; do
    grep -qx "$obj created (dry run)" "$TMP/out" || { echo "FAIL: kubectl did not apply $obj"; fail=1; }
done
if [ -s "$TMP/stub.err" ]; then echo "FAIL: the API stub saw:"; cat "$TMP/stub.err"; fail=1; fi

# the objects as kubectl read them
$K apply --dry-run=client --validate=false -o json -f deploy/kubernetes/ >"$TMP/objs.json" 2>"$TMP/err" || {
    echo "FAIL: kubectl -o json:"; cat "$TMP/err"; fail=1; }
"$BIN" serve --help >"$TMP/flags" 2>&1
python3 - "$TMP/objs.json" "$TMP/flags" <<'PY' || fail=1
import json, re, sys
raw = open(sys.argv[1]).read()
objs = []
dec = json.JSONDecoder()
i = 0
while i < len(raw):  # one object per manifest document, or a List
    while i < len(raw) and raw[i].isspace():
        i += 1
    if i >= len(raw):
        break
    o, i = dec.raw_decode(raw, i)
    objs.extend(o["items"] if o.get("kind") == "List" else [o])
flags = set(re.findall(r"--([a-z][a-z0-9-]*)", open(sys.argv[2]).read()))
bad = 0
def ok(c, what):
    global bad
    print(("ok: " if c else "FAIL: ") + what)
    bad += not c
by = {}
for o in objs:
    by.setdefault(o["kind"], []).append(o)
dep = by["Deployment"][0]["spec"]["template"]["spec"]
c = dep["containers"][0]
ok(c["readinessProbe"]["httpGet"]["path"] == "/ready", "readiness probe on /ready")
ok(c["livenessProbe"]["httpGet"]["path"] == "/health", "liveness probe on /health")
sp = c["startupProbe"]
ok(sp["httpGet"]["path"] == "/health" and sp["periodSeconds"] * sp["failureThreshold"] >= 300,
   "startup probe allows %d s for model loading" % (sp["periodSeconds"] * sp["failureThreshold"]))
cm = [o for o in by["ConfigMap"] if o["metadata"]["name"] == "pagoda-config"][0]
conf = {}
for line in cm["data"]["serve.conf"].splitlines():
    line = line.strip()
    if line and not line.startswith("#"):
        k, v = [x.strip() for x in line.split("=", 1)]
        conf[k] = v
unknown = [k for k in conf if k not in flags]
ok(not unknown, "every option of serve.conf is a flag of pagoda serve%s" % (": unknown %s" % unknown if unknown else ""))
grace = float(conf.get("shutdown-grace", 30))
ok(dep["terminationGracePeriodSeconds"] > grace, "terminationGracePeriodSeconds %d > shutdown-grace %g"
   % (dep["terminationGracePeriodSeconds"], grace))
ok("--config=/etc/pagoda/serve.conf" in c["args"], "the container reads the ConfigMap's serve.conf")
r = c.get("resources", {})
ok(r.get("requests", {}).get("cpu") and r.get("requests", {}).get("memory") and r.get("limits", {}).get("memory"),
   "resources: cpu and memory requests, memory limit")
vols = {v["name"]: v for v in dep["volumes"]}
mounts = {m["name"]: m for m in c["volumeMounts"]}
ok(mounts["model"].get("readOnly") is True and vols["model"]["persistentVolumeClaim"].get("readOnly") is True
   and conf.get("model", "").startswith(mounts["model"]["mountPath"] + "/"),
   "the model comes from a read-only volume (%s)" % conf.get("model"))
hpa = by["HorizontalPodAutoscaler"][0]["spec"]
m = hpa["metrics"][0]
ok(m["type"] == "Pods" and m["pods"]["metric"]["name"] == "pagoda_num_requests_waiting"
   and hpa["scaleTargetRef"]["name"] == "pagoda", "the HPA scales the Deployment on pagoda_num_requests_waiting")
ad = [o for o in by["ConfigMap"] if o["metadata"]["name"] == "prometheus-adapter-pagoda"][0]
rule = ad["data"]["config.yaml"]
ok("pagoda:num_requests_waiting" in rule and "pagoda_num_requests_waiting" in rule,
   "the Prometheus adapter rule exposes pagoda:num_requests_waiting as pagoda_num_requests_waiting")
ok(by["PodDisruptionBudget"][0]["spec"].get("maxUnavailable") == 1, "PodDisruptionBudget: one replica at a time")
svc = [o for o in by["Service"] if o["metadata"]["name"] == "pagoda"][0]
ok(svc["spec"]["selector"] == by["Deployment"][0]["spec"]["selector"]["matchLabels"], "the Service selects the pods")
sys.exit(1 if bad else 0)
PY
# the metric the autoscaler needs is one pagoda exports
grep -q '"num_requests_waiting"' src/server/metrics.c || { echo "FAIL: pagoda:num_requests_waiting is not in metrics.c"; fail=1; }
[ $fail -eq 0 ] && echo "kubernetes tests passed"
exit $fail
