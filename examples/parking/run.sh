#!/usr/bin/env bash
# The parking example end to end on this machine: mosquitto, Rigel with the parking
# ingestion rule, a subscriber told when a spot of zone lotA becomes free, the sensor
# simulator, and a query for the free spots near a point. Exits 0 when all of it did what
# it should. Needs mosquitto and mosquitto-clients (Debian: apt-get install mosquitto
# mosquitto-clients), python3 and curl. RIGEL_BIN names the broker binary (default: a
# release build of this checkout). With --keep it leaves everything running afterwards, to look
# at the spots in the web console (the address is printed), until Ctrl-C.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for tool in curl python3 mosquitto_pub; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install mosquitto-clients curl python3)"; exit 2; }
done
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$mosquitto" ] || { echo "needs mosquitto (apt-get install mosquitto)"; exit 2; }
if [ -z "${RIGEL_BIN:-}" ]; then
  (cd "$root" && cargo build --release -q)
  RIGEL_BIN="$root/target/release/rigel"
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # what, command...
  local what=$1; shift
  for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for $what"; exit 1
}
mqtt_port=$(free_port); api_port=$(free_port); admin_port=$(free_port); sub_port=$(free_port)
api="http://127.0.0.1:$api_port/ngsi-ld/v1"

printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$mqtt_port" >"$work/mosquitto.conf"
"$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 & pids+=($!)
wait_for mosquitto bash -c "exec 3<>/dev/tcp/127.0.0.1/$mqtt_port"

sed "s/@MQTT_PORT@/$mqtt_port/" "$here/rules.json.in" >"$work/rules.json"
"$RIGEL_BIN" --port "$api_port" --admin-port "$admin_port" --data-dir "$work/data" \
  --ingest-rules "$work/rules.json" --egress-allow 127.0.0.1 --log-level warn \
  >"$work/rigel.log" 2>&1 & pids+=($!)
wait_for Rigel curl -sf "$api/types"
rules="http://127.0.0.1:$api_port/ngsi-ld/ex/v1/ingestion/rules/parking"
wait_for "the ingestion rule to connect" bash -c "curl -sf $rules | grep -q '\"connected\"'"

python3 "$here/subscriber.py" "$sub_port" "$work/free.txt" & pids+=($!)
wait_for subscriber bash -c "exec 3<>/dev/tcp/127.0.0.1/$sub_port"
curl -sf -X POST "$api/subscriptions" -H 'Content-Type: application/json' -d "{
  \"type\": \"Subscription\", \"entities\": [{\"type\": \"ParkingSpot\"}],
  \"watchedAttributes\": [\"status\"], \"q\": \"status==\\\"vacant\\\";zone==\\\"urn:ngsi-ld:Zone:lotA\\\"\",
  \"notification\": {\"format\": \"keyValues\", \"attributes\": [\"zone\"],
    \"endpoint\": {\"uri\": \"http://127.0.0.1:$sub_port/notify\"}}}"

echo "== sensors publish"
"$here/simulate.sh" "$mqtt_port"
wait_for "3 free spots in lotA" bash -c "[ \$(wc -l <'$work/free.txt' 2>/dev/null || echo 0) -ge 3 ]"
wait_for "every message accounted for" bash -c "curl -sf $rules | python3 -c 'import json,sys; c=json.load(sys.stdin)[\"counters\"]; sys.exit(c[\"applied\"] + c[\"rejected\"] < 27)'"

echo "== free spots within 100 m of [2.3505, 48.85]"
near=$(curl -sfg "$api/entities?type=ParkingSpot&q=status==%22vacant%22&georel=near;maxDistance==100&geometry=Point&coordinates=[2.3505,48.85]&options=keyValues&attrs=status")
echo "$near"
echo "== the rule's counters"
counters=$(curl -sf "$rules" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["counters"]))')
echo "$counters"

expected='urn:ngsi-ld:ParkingSpot:lotA-003 urn:ngsi-ld:ParkingSpot:lotA-005 urn:ngsi-ld:ParkingSpot:lotA-008'
notified=$(sed 's/^free: \([^ ]*\) .*/\1/' "$work/free.txt" | sort | tr '\n' ' ' | sed 's/ $//')
found=$(echo "$near" | python3 -c 'import json,sys; print(" ".join(sorted(e["id"] for e in json.load(sys.stdin))))')
accounted=$(echo "$counters" | python3 -c 'import json,sys; c=json.load(sys.stdin); print(c["applied"], c["rejected"])')
status=0
[ "$notified" = "$expected" ] || { echo "FAIL: notified $notified"; status=1; }
[ "$found" = "$expected" ] || { echo "FAIL: the query found $found"; status=1; }
[ "$accounted" = "26 1" ] || { echo "FAIL: applied and rejected $accounted, not 26 1"; status=1; }
if [ "$status" -eq 0 ]; then echo "== parking example: OK"; fi
console="http://127.0.0.1:$api_port/console/#/map?type=ParkingSpot"
echo "== the spots in the web console: $console"
if [ "${1:-}" = "--keep" ]; then
  echo "(running until Ctrl-C; mosquitto on port $mqtt_port: run $here/simulate.sh $mqtt_port again)"
  wait
fi
exit "$status"
