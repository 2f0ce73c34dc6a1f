#!/usr/bin/env python3
"""A stand-in for a Kubernetes API server, just enough for
`kubectl apply --dry-run=client --validate=false` (tests/kubernetes.test.sh):
kubectl needs the API discovery documents to map each manifest's kind to a
resource, and GETs each object to compute the patch; with --dry-run=client
it then prints what it would do and sends nothing. This stub answers the
discovery of the groups the manifests use (v1, apps/v1, autoscaling/v2,
policy/v1) and 404 (NotFound) for every object, so every manifest is shown
as "created (dry run)". Any other request is logged to stderr and answered
404; a write (POST/PUT/PATCH/DELETE) would mean kubectl did not dry-run and
is refused with 405 and logged.

Usage: kube_stub.py PORTFILE   (listens on 127.0.0.1, a free port)"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

R = {  # group/version -> [(plural, kind, namespaced, short names)]
    "v1": [("configmaps", "ConfigMap", True, ["cm"]), ("services", "Service", True, ["svc"]),
           ("persistentvolumeclaims", "PersistentVolumeClaim", True, ["pvc"]), ("secrets", "Secret", True, []),
           ("namespaces", "Namespace", False, ["ns"]), ("pods", "Pod", True, ["po"])],
    "apps/v1": [("deployments", "Deployment", True, ["deploy"])],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ["hpa"])],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True, ["pdb"])],
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def resource_list(gv):
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": [{"name": p, "singularName": k.lower(), "namespaced": ns, "kind": k, "verbs": VERBS,
                           "shortNames": sn} for p, k, ns, sn in R[gv]]}


def group_list():
    groups = {}
    for gv in R:
        if "/" in gv:
            g, v = gv.split("/")
            groups.setdefault(g, []).append(v)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": g, "versions": [{"groupVersion": g + "/" + v, "version": v} for v in vs],
         "preferredVersion": {"groupVersion": g + "/" + vs[0], "version": vs[0]}} for g, vs in groups.items()]}


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        p = self.path.split("?")[0]
        if p == "/api":
            return self.send(200, {"kind": "APIVersions", "versions": ["v1"],
                                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        if p == "/apis":
            return self.send(200, group_list())
        if p == "/api/v1":
            return self.send(200, resource_list("v1"))
        if p.startswith("/apis/") and p[6:] in R:
            return self.send(200, resource_list(p[6:]))
        if p == "/version":
            return self.send(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.0-stub"})
        if "/namespaces/" in p or any(p.startswith(x) for x in ("/api/v1/", "/apis/")):
            name = p.rstrip("/").split("/")[-1]
            return self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                                   "message": "%s not found" % name, "code": 404})
        sys.stderr.write("kube_stub: unexpected GET %s\n" % self.path)
        return self.send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

    def refuse(self):
        sys.stderr.write("kube_stub: WRITE %s %s (kubectl was not in dry-run)\n" % (self.command, self.path))
        self.send(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 405})

    do_POST = do_PUT = do_PATCH = do_DELETE = refuse


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
srv.serve_forever()
