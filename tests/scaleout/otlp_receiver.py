#!/usr/bin/env python3
"""A small OTLP/HTTP JSON trace receiver for the tests (issue 28).

Usage: otlp_receiver.py PORTFILE OUTFILE
Listens on 127.0.0.1 (a free port, written to PORTFILE once listening),
accepts POST /v1/traces with an ExportTraceServiceRequest in JSON and appends
one line per span to OUTFILE: {"traceId", "spanId", "parentSpanId", "name",
"kind", "start", "end", "attributes": {key: value}, "resource": {...}}.
Answers 200 {} (400 on a body that is not such JSON). Runs until killed."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, OUTFILE = sys.argv[1], sys.argv[2]
lock = threading.Lock()


def value(v):
    for k in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if k in v:
            return int(v[k]) if k == "intValue" else v[k]
    return None


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        try:
            if self.path != "/v1/traces":
                raise ValueError("path " + self.path)
            if not self.headers.get("Content-Type", "").startswith("application/json"):
                raise ValueError("content type")
            req = json.loads(body)
            lines = []
            for rs in req["resourceSpans"]:
                res = {a["key"]: value(a["value"]) for a in rs["resource"]["attributes"]}
                for ss in rs["scopeSpans"]:
                    for sp in ss["spans"]:
                        lines.append(json.dumps({
                            "traceId": sp["traceId"], "spanId": sp["spanId"],
                            "parentSpanId": sp.get("parentSpanId", ""), "name": sp["name"],
                            "kind": sp["kind"], "start": int(sp["startTimeUnixNano"]),
                            "end": int(sp["endTimeUnixNano"]),
                            "attributes": {a["key"]: value(a["value"]) for a in sp.get("attributes", [])},
                            "status": sp.get("status", {}).get("code"), "resource": res}))
        except Exception as e:  # noqa: BLE001 - any malformed export is a 400
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps({"error": str(e)}).encode())
            sys.stderr.write("otlp_receiver: bad export: %s\n" % e)
            return
        with lock, open(OUTFILE, "a") as f:
            for ln in lines:
                f.write(ln + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os  # noqa: E402
os.replace(PORTFILE + ".tmp", PORTFILE)
srv.serve_forever()
