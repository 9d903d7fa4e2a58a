#!/usr/bin/env bash
# Two Rigel brokers federated: a city broker that answers for everything, and a parking
# department's broker registered with it as a context source. Starts both on free local
# ports with fresh data directories, then reads through the city broker.
#   RIGEL_BIN   the rigel binary (default target/release/rigel; build it with cargo build --release)
set -euo pipefail
bin=${RIGEL_BIN:-target/release/rigel}
city_port=${CITY_PORT:-1036}
parking_port=${PARKING_PORT:-1037}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin" --port "$city_port" --admin-port $((city_port + 1000)) --data-dir "$work/city" --alias city --egress-allow 127.0.0.1 >"$work/city.log" 2>&1 &
"$bin" --port "$parking_port" --admin-port $((parking_port + 1000)) --data-dir "$work/parking" --alias parking --egress-allow 127.0.0.1 >"$work/parking.log" 2>&1 &
city=http://127.0.0.1:$city_port/ngsi-ld/v1
parking=http://127.0.0.1:$parking_port/ngsi-ld/v1
for url in "$city" "$parking"; do
  for _ in $(seq 50); do curl -sf "$url/types" >/dev/null && break; sleep 0.1; done
done

echo "# the parking department holds its spots' occupancy"
curl -s -o /dev/null -w '%{http_code}\n' -X POST "$parking/entities" -H 'Content-Type: application/json' -d '
{"id": "urn:ngsi-ld:ParkingSpot:A-017", "type": "ParkingSpot",
 "status": {"type": "Property", "value": "occupied", "observedAt": "2026-12-05T08:00:00Z"}}'

echo "# the city holds where the spot is"
curl -s -o /dev/null -w '%{http_code}\n' -X POST "$city/entities" -H 'Content-Type: application/json' -d '
{"id": "urn:ngsi-ld:ParkingSpot:A-017", "type": "ParkingSpot",
 "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}}}'

echo "# the city registers the department as the source of ParkingSpot status"
curl -s -o /dev/null -w '%{http_code}\n' -X POST "$city/csourceRegistrations" -H 'Content-Type: application/json' -d "
{\"type\": \"ContextSourceRegistration\",
 \"information\": [{\"entities\": [{\"type\": \"ParkingSpot\"}], \"propertyNames\": [\"status\"]}],
 \"endpoint\": \"http://127.0.0.1:$parking_port\", \"contextSourceAlias\": \"parking\",
 \"mode\": \"inclusive\", \"management\": {\"timeout\": 1000}}"

echo "# one entity through the city broker: location (city) and status (department)"
curl -s "$city/entities/urn:ngsi-ld:ParkingSpot:A-017?options=keyValues"; echo
echo "# a query through the city broker: each side filters its own part of the spot"
curl -s "$city/entities?type=ParkingSpot&q=status==%22occupied%22&options=keyValues"; echo
echo "# the same with splitEntities=true: filtered after the merge, the whole spot"
curl -s "$city/entities?type=ParkingSpot&q=status==%22occupied%22&splitEntities=true&options=keyValues"; echo
echo "# the city's own data only"
curl -s "$city/entities?type=ParkingSpot&local=true&options=keyValues"; echo
echo "# who the parking broker is (the alias its registration names)"
curl -s "$parking/info/sourceIdentity"; echo
