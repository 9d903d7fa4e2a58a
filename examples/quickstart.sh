#!/usr/bin/env bash
# A tour of the entity API against a running broker (default http://localhost:1026).
set -euo pipefail
base=${RIGEL_URL:-http://localhost:1026/ngsi-ld/v1}
id=urn:ngsi-ld:ParkingSpot:example-$$
ctx='<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'

echo "# create"
curl -si -X POST "$base/entities" -H 'Content-Type: application/json' -H "Link: $ctx" -d @- <<JSON
{"id": "$id", "type": "ParkingSpot",
 "status": {"type": "Property", "value": "free", "observedAt": "2024-05-01T10:00:00Z"},
 "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}},
 "refParkingSite": {"type": "Relationship", "object": "urn:ngsi-ld:ParkingSite:1"},
 "name": {"type": "LanguageProperty", "languageMap": {"en": "Spot 1", "fr": "Place 1"}}}
JSON

echo "# retrieve (normalized, then keyValues, then GeoJSON)"
curl -s "$base/entities/$id"; echo
curl -s "$base/entities/$id?options=keyValues&lang=fr"; echo
curl -s -H 'Accept: application/geo+json' "$base/entities/$id"; echo

echo "# partial update of one attribute"
curl -si -X PATCH "$base/entities/$id/attrs/status" -H 'Content-Type: application/json' \
  -d '{"value": "occupied", "observedAt": "2024-05-01T10:05:00Z"}' | head -1

echo "# delete"
curl -si -X DELETE "$base/entities/$id" | head -1
