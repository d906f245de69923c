"""A fake bench.probe: ORCH_FAKE_INSTALLED (comma list, default both) installed; ORCH_FAKE_CUDA=1: CUDA."""

import json
import os
import sys

fw = sys.argv[1]
installed = fw in os.environ.get("ORCH_FAKE_INSTALLED", "tensorflow,torch").split(",")
cuda = os.environ.get("ORCH_FAKE_CUDA") == "1"
print(json.dumps({"framework": fw, "installed": installed, "version": "9.9" if installed else None,
                  "cuda": "12.4" if cuda else None,
                  "devices": (["cpu", "cuda:0"] if cuda else ["cpu"]) if installed else [],
                  "reason": None if installed else f"{fw} not installed"}))
