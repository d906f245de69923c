"""A fake bench.worker.probe speaking its protocol: one JSON line {"framework", "installed", "version", "cuda"
(bool: a usable device), "devices" (GPU names), "reason", "cuda_build"}.

ORCH_FAKE_INSTALLED (comma list, default every registered framework): installed; ORCH_FAKE_CUDA=1: CUDA.
"""

import json
import os
import sys

from bench.frameworks.registry import framework_names

fw = sys.argv[1]
installed = fw in os.environ.get("ORCH_FAKE_INSTALLED", ",".join(framework_names())).split(",")
cuda = installed and os.environ.get("ORCH_FAKE_CUDA") == "1"
if not installed:
    reason = f"{fw} not installed"
elif not cuda:
    reason = "no CUDA device"
else:
    reason = None
print(json.dumps({"framework": fw, "installed": installed, "version": "9.9" if installed else None,
                  "cuda": cuda, "devices": ["Fake GPU"] if cuda else [], "reason": reason,
                  "cuda_build": cuda}))
