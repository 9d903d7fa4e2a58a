#!/usr/bin/env bash
# Seeds 10,000 entities urn:ngsi-ld:Seed:0..9999 for wrk-retrieve.lua.
set -euo pipefail
base=${1:-http://127.0.0.1:1026}/ngsi-ld/v1/entities
seq 0 9999 | xargs -P 16 -I{} curl -sf -o /dev/null -X POST "$base" -H 'Content-Type: application/json' \
  -d '{"id":"urn:ngsi-ld:Seed:{}","type":"Seed","temperature":{"type":"Property","value":21,"unitCode":"CEL"},"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[2.35,48.85]}}}'
