#!/usr/bin/env bash
# The federation target of issue 14: what a query federated over 3 local context sources
# adds to the slowest source's own time. Starts 3 source brokers and a federating one
# (release binary), seeds each source with the same N entities through rigel-bench, registers
# the 3 sources with the federating broker, then measures query-value at one connection
# (latency, not throughput) against one source and against the federating broker.
#   usage: docs/perf/federation.sh [N]   (default 1000)
set -euo pipefail
n=${1:-1000}
bin=target/release/rigel
bench=target/release/rigel-bench
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
base=1060
for i in 0 1 2 3; do
  "$bin" --port $((base + i)) --admin-port $((base + 100 + i)) --data-dir "$work/b$i" \
    --request-log false --log-level warn --egress-allow 127.0.0.1 >"$work/b$i.log" 2>&1 &
done
url() { echo "http://127.0.0.1:$((base + $1))/ngsi-ld/v1"; }
for i in 0 1 2 3; do
  for _ in $(seq 100); do curl -sf "$(url $i)/types" >/dev/null && break; sleep 0.1; done
done
for i in 1 2 3; do
  "$bench" --url "$(url $i)" --scenario query-value --seed-count "$n" --duration 1s \
    --connections 1 >/dev/null
  curl -sf -X POST "$(url 0)/csourceRegistrations" -H 'Content-Type: application/json' -d "
  {\"type\": \"ContextSourceRegistration\",
   \"information\": [{\"entities\": [{\"type\": \"BenchVehicle\"}]}],
   \"endpoint\": \"http://127.0.0.1:$((base + i))\"}"
done
for target in 1 0; do
  echo "# query-value, 1 connection, against $([ $target = 0 ] && echo 'the federating broker (3 sources)' || echo 'one source')"
  "$bench" --url "$(url $target)" --scenario query-value --seed-count 1 --duration 15s \
    --connections 1
done
