"""A fake bench.roofline: ``--device D --framework F [--tf32]``, answers one JSON line at once."""

import argparse
import json

p = argparse.ArgumentParser()
p.add_argument("--device", default="cuda")
p.add_argument("--framework", required=True)
p.add_argument("--tf32", action="store_true")
args = p.parse_args()
print(json.dumps({"device": args.device, "framework": args.framework, "peak_flops": 1.0e12,
                  "bandwidth_bytes_s": 1.0e11, "tf32": args.tf32}))
