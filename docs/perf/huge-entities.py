"""Builds 48 entities of 100,000 attributes each, then queries them all at once and
reports the broker's peak and settled RSS (docs/performance.md, memory bounds).

Usage: python3 docs/perf/huge-entities.py http://127.0.0.1:1026/ngsi-ld/v1 BROKER_PID
(BUILD=0 skips creating the entities, to query them again.)"""
import json, os, sys, time, urllib.error, urllib.request
base = sys.argv[1]
pid = int(sys.argv[2])
def req(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(base + path, data=data, method=method,
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(r, timeout=600) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
def rss():
    d = {}
    for line in open(f"/proc/{pid}/status"):
        k, v = line.split(":", 1)
        d[k] = v.strip()
    return d["VmRSS"], d["VmHWM"]
if os.environ.get("BUILD", "1") == "1":
    for e in range(48):
        eid = f"urn:ngsi-ld:Big:{e}"
        attrs = {f"a{i}": {"type": "Property", "value": i} for i in range(40000)}
        s, b = req("POST", "/entities", {"id": eid, "type": "Big", **attrs})
        assert s == 201, (s, b[:200])
        for part in (1, 2):
            attrs = {f"a{i}": {"type": "Property", "value": i} for i in range(40000 * part, min(40000 * (part + 1), 100000))}
            s, b = req("POST", f"/entities/{eid}/attrs", attrs)
            assert s == 204, (s, b[:200])
print("before query: rss/hwm", rss())
t = time.time()
s, b = req("GET", "/entities?type=Big&limit=100")
print("query:", s, len(b), "bytes", round(time.time() - t, 1), "s", b[:300] if s != 200 else "")
print("after query: rss/hwm", rss())
time.sleep(10)
print("10 s later: rss/hwm", rss())
