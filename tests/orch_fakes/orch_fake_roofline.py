"""A fake bench.host.roofline: ``--device D --framework F [--tf32]``, answers one JSON line at once.

With ORCH_FAKE_ROOFLINE_LOG set, each call appends "<device> <framework>" to that file (tests count
the probes a run made)."""

import argparse
import json
import os

p = argparse.ArgumentParser()
p.add_argument("--device", default="cuda")
p.add_argument("--framework", required=True)
p.add_argument("--tf32", action="store_true")
args = p.parse_args()
if os.environ.get("ORCH_FAKE_ROOFLINE_LOG"):
    with open(os.environ["ORCH_FAKE_ROOFLINE_LOG"], "a") as log:
        log.write(f"{args.device} {args.framework}\n")
print(json.dumps({"device": args.device, "framework": args.framework, "peak_flops": 1.0e12,
                  "bandwidth_bytes_s": 1.0e11, "tf32": args.tf32}))
