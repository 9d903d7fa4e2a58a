"""Shared helpers for the client-library smoke scripts: result table + notification receiver."""
import json
import os
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

BROKER_URL = os.environ.get("BROKER_URL", "http://localhost:1026")
_u = urlparse(BROKER_URL)
BROKER_HOST = _u.hostname or "localhost"
BROKER_PORT = _u.port or 1026

RESULTS = []


def step(name):
    """Decorator-ish runner: step('create')(lambda: ...) records OK/FAIL."""
    def run(fn):
        try:
            detail = fn()
            RESULTS.append((name, "OK", "" if detail is None else str(detail)[:200]))
            print(f"[OK]   {name}: {'' if detail is None else str(detail)[:200]}")
            return detail
        except Exception as e:  # noqa: BLE001
            msg = f"{type(e).__name__}: {e}"
            resp = getattr(e, "response", None)
            if resp is not None:
                msg += f" | HTTP {resp.status_code} {resp.request.method} {resp.request.url} -> {resp.text[:300]}"
            RESULTS.append((name, "FAIL", msg[:600]))
            print(f"[FAIL] {name}: {msg[:600]}")
            if os.environ.get("TRACE"):
                traceback.print_exc()
            return None
    return run


def summary():
    print("\n==== summary ====")
    for name, status, detail in RESULTS:
        print(f"{status:4}  {name:40} {detail[:160]}")
    fails = sum(1 for r in RESULTS if r[1] == "FAIL")
    print(f"{len(RESULTS) - fails} passed, {fails} failed")
    return 1 if fails else 0


class NotificationReceiver:
    """Minimal HTTP server that records POSTed notifications."""

    def __init__(self, port):
        self.port = port
        self.received = []
        recv = self.received

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                try:
                    recv.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body or b"null")})
                except ValueError:
                    recv.append({"path": self.path, "headers": dict(self.headers), "body": body.decode(errors="replace")})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/notify"

    def wait(self, predicate=lambda n: True, timeout=10.0):
        end = time.time() + timeout
        while time.time() < end:
            for n in list(self.received):
                if predicate(n):
                    return n
            time.sleep(0.2)
        raise TimeoutError(f"no matching notification within {timeout}s (got {len(self.received)} total)")

    def close(self):
        self.server.shutdown()
