"""A fake bench.worker for the orchestration tests: obeys the worker protocol without a framework.

Behaviour per cell: env ORCH_FAKE_PLAN = JSON {substring of cell_id: behaviour}; the first key found
in the cell id wins, else "ok". Behaviours: ok, crash, hang, oom (MemoryError), kill (SIGKILL
itself), noresult (exit 0 without a result), garbage (writes an unparsable result).
Each start appends "<cell_id>\n" to ORCH_FAKE_LOG (when set) and writes its pid to <work_dir>/pid.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from bench import watchdog
from bench.records import Cell, CellResult, StepRecord
from bench.store import atomic_write_text, dumps, write_steps
from models.registry import family_of


def main() -> int:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    # The real worker's watchdog: a "hang" must not survive a SIGKILLed parent.
    watchdog.guard_cell(spec["settings"].get("time_limit_s"))
    cell = Cell.from_dict(spec["cell"])
    cid = cell.cell_id
    os.makedirs(os.path.join(spec["work_dir"], "inductor-cache", "sub"), exist_ok=True)  # a compile cache
    with open(os.path.join(spec["work_dir"], "pid"), "w") as f:
        f.write(str(os.getpid()))
    if os.environ.get("ORCH_FAKE_LOG"):
        with open(os.environ["ORCH_FAKE_LOG"], "a") as f:
            f.write(cid + "\n")
    plan = json.loads(os.environ.get("ORCH_FAKE_PLAN", "{}"))
    behaviour = next((b for k, b in plan.items() if k in cid), "ok")
    print(f"fake worker starting {cid}: {behaviour}", file=sys.stderr, flush=True)
    if behaviour == "crash":
        print("Traceback (most recent call last):\n  File 'x.py', line 1\nRuntimeError: boom in fake worker",
              file=sys.stderr)
        return 1
    if behaviour == "hang":
        time.sleep(3600)
    if behaviour == "oom":
        print("MemoryError: Unable to allocate 4.00 GiB", file=sys.stderr)
        return 1
    if behaviour == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if behaviour == "noresult":
        return 0
    if behaviour == "garbage":
        atomic_write_text(spec["result_path"], '{"cell_id": ')
        return 0
    settings = spec["settings"]
    # Schema 2: losses by the model family's loss names.
    losses = {name: 1.0 + i for i, name in enumerate(family_of(cell.model).losses)}
    times = [0.01 + 0.001 * i for i in range(settings["steps"])]
    result = CellResult(cell=cell, status="ok", settings=settings, flags={"fake": True},
                        versions={"fake": "1.0"}, time_to_first_step_s=0.5, n_steps=len(times),
                        step_time_median_s=sorted(times)[len(times) // 2],
                        window_steps=settings["window_steps"],
                        throughput_img_s=1000.0, peak_flops=spec["peak_flops"], final_losses=dict(losses))
    write_steps(spec["steps_path"],
                [StepRecord(cid, i, "timed", t, dict(losses)) for i, t in enumerate(times)])
    atomic_write_text(spec["result_path"], dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
