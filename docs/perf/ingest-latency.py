"""Sensor publish to subscriber receipt, through Rigel's MQTT ingestion (docs/performance.md,
MQTT ingestion): makes an ingestion rule and a subscription through the API, publishes
sensor messages at a steady rate at QoS 1, each carrying the time it was sent, and times
each notification's arrival at a receiver in this script.

Usage: python3 docs/perf/ingest-latency.py [--rigel http://127.0.0.1:1026] [--mqtt 127.0.0.1:1883]
                                           [--rate 1000] [--seconds 20] [--sensors 100]
Needs paho-mqtt (pip install paho-mqtt); the broker must be started with
--egress-allow 127.0.0.1 (it calls the receiver and the MQTT broker on loopback).
"""
import argparse
import http.server
import json
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt

parser = argparse.ArgumentParser()
parser.add_argument("--rigel", default="http://127.0.0.1:1026")
parser.add_argument("--mqtt", default="127.0.0.1:1883")
parser.add_argument("--rate", type=float, default=1000)
parser.add_argument("--seconds", type=float, default=20)
parser.add_argument("--sensors", type=int, default=100)
parser.add_argument("--receiver-port", type=int, default=8765)
args = parser.parse_args()
mqtt_host, mqtt_port = args.mqtt.rsplit(":", 1)
run = str(int(time.time()))
delays = []
lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        now = time.time()
        self.send_response(200)
        self.end_headers()
        with lock:
            for entity in json.loads(body)["data"]:
                sent = entity.get("sent")
                if isinstance(sent, (int, float)):
                    delays.append(now - sent)

    def log_message(self, *_):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", args.receiver_port), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()


def call(method, path, body=None):
    request = urllib.request.Request(
        args.rigel + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return response.status


rule = f"latency{run}"
call("POST", "/ngsi-ld/ex/v1/ingestion/rules", {
    "id": rule,
    "broker": f"mqtt://{args.mqtt}",
    "topic": f"rigellatency/{run}/+",
    "entity": {"id": f"urn:ngsi-ld:LatencySpot:{run}-{{sensor}}", "type": f"LatencySpot{run}"},
    "attributes": {"status": {"field": "status"}, "sent": {"field": "sent"}},
})
call("POST", "/ngsi-ld/v1/subscriptions", {
    "type": "Subscription",
    "entities": [{"type": f"LatencySpot{run}"}],
    "watchedAttributes": ["status"],
    "notification": {
        "format": "keyValues",
        "attributes": ["sent"],
        "endpoint": {"uri": f"http://127.0.0.1:{args.receiver_port}/notify"},
    },
})
time.sleep(1)

client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"latency{run}")
client.connect(mqtt_host, int(mqtt_port))
client.loop_start()
total = int(args.rate * args.seconds)
start = time.time()
for n in range(total):
    due = start + n / args.rate
    pause = due - time.time()
    if pause > 0:
        time.sleep(pause)
    payload = {
        "sensor": n % args.sensors,
        "status": "occupied" if (n // args.sensors) % 2 == 0 else "vacant",
        "sent": time.time(),
    }
    client.publish(f"rigellatency/{run}/lot", json.dumps(payload), qos=1)
sent_for = time.time() - start
time.sleep(3)
client.loop_stop()
call("DELETE", f"/ngsi-ld/ex/v1/ingestion/rules/{rule}")

with lock:
    got = sorted(delays)


def pct(p):
    return got[min(len(got) - 1, int(len(got) * p / 100))] * 1000 if got else float("nan")


print(f"published {total} in {sent_for:.1f} s ({total / sent_for:.0f}/s); "
      f"{len(got)} notified; delay ms p50 {pct(50):.2f} p95 {pct(95):.2f} "
      f"p99 {pct(99):.2f} max {got[-1] * 1000 if got else float('nan'):.2f}")
