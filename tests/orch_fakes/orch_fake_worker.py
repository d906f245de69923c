"""A fake bench.worker.main for the orchestration tests: obeys the worker protocol without a framework.

Behaviour per cell: env ORCH_FAKE_PLAN = JSON {substring of cell_id: behaviour}; the first key found
in the cell id wins, else "ok". Behaviours: ok, crash, hang, oom (MemoryError), kill (SIGKILL
itself), noresult (exit 0 without a result), garbage (writes an unparsable result), slow<F> (an ok
result whose step times are F times longer, e.g. slow1.5), jitter<F> (each process's step times
scaled by a factor in [1 - F, 1 + F], fixed by its cell id and repeat: a noisy machine);
FRAMEBENCH_INJECT_SLOWDOWN=x makes them 1 + x times longer still. With ORCH_FAKE_MODULE_LOG, each
process appends where it imported bench from.
Each start appends "<cell_id>\n" to ORCH_FAKE_LOG (when set; with ORCH_FAKE_LOG_REPEATS=1,
"<cell_id>#r<k>") and writes its pid to <work_dir>/pid. A behaviour "<name>@r<k>" applies to that
process only (the cell's other processes are ok). The result and steps carry the spec's repeat, block
and order, as the real worker's do.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import zlib

from bench.results.records import Cell, CellResult, StepRecord
from bench.results.write import atomic_write_text, dumps, write_steps
from bench.scenarios.base import peak_for_precision
from bench.worker import watchdog
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
    repeat = spec.get("repeat", 1)
    if os.environ.get("ORCH_FAKE_LOG"):
        with open(os.environ["ORCH_FAKE_LOG"], "a") as f:
            f.write((f"{cid}#r{repeat}" if os.environ.get("ORCH_FAKE_LOG_REPEATS") else cid) + "\n")
    plan = json.loads(os.environ.get("ORCH_FAKE_PLAN", "{}"))
    behaviour = next((b for k, b in plan.items() if k in cid), "ok")
    if "@r" in behaviour:
        name, _, only = behaviour.partition("@r")
        behaviour = name if int(only) == repeat else "ok"
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
    factor = float(behaviour[4:]) if behaviour.startswith("slow") else 1.0
    if behaviour.startswith("jitter"):
        u = zlib.crc32(f"{cid}#r{repeat}".encode()) / 2**32
        factor = 1.0 + float(behaviour[6:]) * (2.0 * u - 1.0)
    # The real worker's calibration aid (bench.worker.faults), on the fake's times: A/B tests slow one side.
    factor *= 1.0 + float(os.environ.get("FRAMEBENCH_INJECT_SLOWDOWN") or 0.0)
    # Where each process imported the project from (A/B tests: a revision's checkout, never the run).
    if os.environ.get("ORCH_FAKE_MODULE_LOG"):
        import bench

        with open(os.environ["ORCH_FAKE_MODULE_LOG"], "a") as f:
            f.write(f"{cid}#r{repeat} {bench.__file__} {os.getcwd()}\n")
    times = [(0.01 + 0.001 * i) * factor for i in range(settings["steps"])]
    place = {"repeat": repeat, "block": spec.get("block"), "order": spec.get("order")}
    result = CellResult(cell=cell, status="ok", **place, settings=settings, flags={"fake": True},
                        versions={"fake": "1.0"}, time_to_first_step_s=0.5, n_steps=len(times),
                        step_time_median_s=sorted(times)[len(times) // 2],
                        window_steps=settings["window_steps"],
                        throughput_img_s=1000.0 / factor, final_losses=dict(losses),
                        peak_flops=peak_for_precision(spec["peak_flops"], cell.precision))
    write_steps(spec["steps_path"],
                [StepRecord(cid, i, "timed", t, dict(losses), repeat) for i, t in enumerate(times)])
    atomic_write_text(spec["result_path"], dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
