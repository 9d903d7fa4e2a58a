#!/usr/bin/env python3
"""Tiny logging reverse proxy for looking at what a client library sends.

Usage: python3 logproxy.py LISTEN_PORT TARGET_PORT [LOGFILE] [strip-slash]
"strip-slash" removes a trailing "/" from the path before forwarding (workaround mode).
"""
import http.client, json, sys, time, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTEN = int(sys.argv[1]) if len(sys.argv) > 1 else 1027
THOST, TPORT = "127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 1026
LOG = sys.argv[3] if len(sys.argv) > 3 else "/tmp/ngsi-proxy.log"
STRIP = len(sys.argv) > 4 and sys.argv[4] == "strip-slash"
lock = threading.Lock()
HDRS = ("content-type", "accept", "link", "ngsild-tenant", "fiware-service", "fiware-servicepath", "user-agent")

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def _any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "keep-alive", "transfer-encoding", "content-length")}
        c = http.client.HTTPConnection(THOST, TPORT, timeout=30)
        fwd = self.path
        if STRIP:
            pth, q, qs = fwd.partition("?")
            if len(pth) > 1 and pth.endswith("/"):
                fwd = pth[:-1] + q + qs
        c.request(self.command, fwd, body=body if body or self.command in ("POST","PUT","PATCH") else None, headers=hdrs)
        r = c.getresponse(); rb = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(rb)))
        self.end_headers(); self.wfile.write(rb)
        with lock, open(LOG, "a") as f:
            f.write(f"=== {time.strftime('%H:%M:%S')} {self.command} {self.path}" + (f"  [forwarded as {fwd}]" if fwd != self.path else "") + "\n")
            for k, v in self.headers.items():
                if k.lower() in HDRS: f.write(f"  > {k}: {v}\n")
            if body: f.write(f"  > body: {body[:600].decode(errors='replace')}\n")
            f.write(f"  < {r.status} ct={r.getheader('Content-Type')} loc={r.getheader('Location')} count={r.getheader('NGSILD-Results-Count')}\n")
            if rb: f.write(f"  < body: {rb[:600].decode(errors='replace')}\n")
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

ThreadingHTTPServer(("127.0.0.1", LISTEN), H).serve_forever()
