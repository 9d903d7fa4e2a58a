-- wrk script: Create Entity with a fresh id per request (POST /ngsi-ld/v1/entities).
-- usage: wrk -t2 -c64 -d20s -s docs/perf/wrk-create.lua http://127.0.0.1:1026
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  prefix = "urn:ngsi-ld:Bench:" .. tid .. "-" .. os.time() .. "-"
  n = 0
end
function request()
  n = n + 1
  local body = '{"id":"' .. prefix .. n .. '","type":"Bench",'
    .. '"temperature":{"type":"Property","value":' .. (n % 40) .. ',"unitCode":"CEL","observedAt":"2024-01-01T00:00:00Z"},'
    .. '"status":{"type":"Property","value":"ok"},'
    .. '"owner":{"type":"Relationship","object":"urn:ngsi-ld:Owner:' .. (n % 10) .. '"},'
    .. '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[2.35,48.85]}}}'
  return wrk.format("POST", "/ngsi-ld/v1/entities", {["Content-Type"] = "application/json"}, body)
end
function response(status, headers, body)
  if status ~= 201 then
    errors = (errors or 0) + 1
  end
end
