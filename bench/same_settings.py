"""Whether two runs measured with the same settings: the fields that change what a cell measures.

A baseline keeps only runs of one set of settings (``bench.gate.baseline``), and the gate refuses to compare
a run with a baseline measured otherwise (``bench.gate.identity``): both ask here. Each difference is
named (the field, both values, the model where settings are per model).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# RunSettings fields that change what a cell measures. Not compared: repeats (the tests weigh any
# number of processes; confirmation re-runs use their own), time_limit_s, memory_sample_interval_s.
SETTINGS_COMPARED = (
    "profile", "steps", "warmup", "window_steps", "n_batches", "seed", "intra_op_threads",
    "inter_op_threads", "tf32", "cudnn_benchmark", "deterministic", "data", "compile_cache",
    # The generate scenario's (absent from runs stored before it: compared only where both have them).
    "denoising_steps", "generate_min_s", "generate_warmup_min_s",
    # The batch rule of several ranks' cells and the machines they span: every run stored before them
    # measured weak scaling on one machine (node_rank and master differ between a run's nodes).
    "scaling", "nodes",
)
# A compared setting that runs stored before it lack, and the value they all measured with.
ABSENT_MEANS = {"scaling": "weak", "nodes": 1}


def settings_of(meta_or_entry: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(settings, settings by model) of a run.json or a baseline's run entry."""
    s = meta_or_entry.get("settings")
    by = meta_or_entry.get("settings_by_model")
    return (dict(s) if isinstance(s, Mapping) else {},
            {str(k): dict(v) for k, v in by.items() if isinstance(v, Mapping)} if isinstance(by, Mapping)
            else {})


def settings_differences(base: Mapping[str, Any], new: Mapping[str, Any],
                         models: Iterable[str] = ()) -> list[str]:
    """"field: base vs new" for each compared setting that differs (per model where both runs record
    per-model settings, e.g. a model whose profile gives it more steps)."""
    b_all, b_by = settings_of(base)
    n_all, n_by = settings_of(new)
    out: list[str] = []
    pairs = [(m, b_by[m], n_by[m]) for m in sorted(set(models) & set(b_by) & set(n_by))]
    pairs = pairs or [("", b_all, n_all)]
    for model, b, n in pairs:
        for key in SETTINGS_COMPARED:
            if key in ABSENT_MEANS:
                b, n = {key: ABSENT_MEANS[key], **b}, {key: ABSENT_MEANS[key], **n}
            if key in b and key in n and b[key] != n[key]:
                item = f"{key} ({b[key]!r} vs {n[key]!r})" + (f" for {model}" if model else "")
                if item not in out:
                    out.append(item)
    return out
