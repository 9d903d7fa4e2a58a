#!/usr/bin/env bash
# Parking-spot sensors: 10 spots in each of lots lotA and lotB, 7 m apart along a street, publish
# `{"sensor_id", "status", "level", "timestamp", "location"}` on sensors/parking/<lot> (level:
# the sensor's battery, %). Round 1: every
# spot occupied. Round 2: spots 3, 5 and 8 of each lot become vacant. Then one broken message.
# Usage: simulate.sh MQTT_PORT
set -euo pipefail
port=${1:?MQTT port}
publish() { mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t "$1" -m "$2"; }
spot() { # lot index status minute battery
  local lon lat
  lon=$(printf '2.35%02d' "$2")
  if [ "$1" = lotA ]; then lat=48.8500; else lat=48.8600; fi
  publish "sensors/parking/$1" "{\"sensor_id\": \"$1-$(printf %03d "$2")\", \"status\": \"$3\", \"level\": $5, \"timestamp\": \"2026-12-05T08:$4:00Z\", \"location\": {\"type\": \"Point\", \"coordinates\": [$lon, $lat]}}"
}
for lot in lotA lotB; do
  for i in $(seq 1 10); do spot "$lot" "$i" occupied 00 $((90 + i)); done
done
sleep 1
for lot in lotA lotB; do
  for i in 3 5 8; do spot "$lot" "$i" vacant 05 $((80 + i)); done
done
publish sensors/parking/lotA '{"sensor_id": "lotA-011", "status": "on fire", "timestamp": "2026-12-05T08:06:00Z"}'
