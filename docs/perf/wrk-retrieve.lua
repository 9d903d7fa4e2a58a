-- wrk script: Retrieve Entity by id over ids seeded by seed.sh (GET /ngsi-ld/v1/entities/{id}).
-- usage: wrk -t2 -c64 -d20s -s docs/perf/wrk-retrieve.lua http://127.0.0.1:1026
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  math.randomseed(os.time() + tid)
end
function request()
  return wrk.format("GET", "/ngsi-ld/v1/entities/urn:ngsi-ld:Seed:" .. math.random(0, 9999))
end
