"""Median and range per engine of the RESULT lines of bench-0005 run files."""
import re, statistics, sys
from collections import defaultdict

vals = defaultdict(list)  # (engine, phase, field) -> [float]
for path in sys.argv[1:]:
    engine = None
    for line in open(path):
        m = re.search(r"engine=(\w+)", line)
        if line.startswith("INFO") and m:
            engine = m.group(1)
        if line.startswith("RESULT"):
            fields = dict(kv.split("=", 1) for kv in line.split()[1:])
            phase = fields.pop("phase")
            for k, v in fields.items():
                vals[(engine, phase, k)].append(float(v))
for (engine, phase, field), xs in sorted(vals.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
    print(f"{phase:16} {field:18} {engine:6} median {statistics.median(xs):>10.2f}  "
          f"range {min(xs):.2f}-{max(xs):.2f}  n={len(xs)}")
