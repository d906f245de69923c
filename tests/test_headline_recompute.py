"""Every headline number recomputed from the stored per-process results alone (the JSON files, read
here without bench): each side's median step time, the ratio of the two medians printed, and its
interval from the paired processes, their variance moderated by the run's pooled between-process spread
(4 degrees of freedom); then found, as printed, on the front page."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from orch_helpers import fakes, set_plan  # noqa: F401 (fixture)
from scipy.stats import t as student

from bench.analysis.headline import headlines
from bench.analysis.tables import comparison_frame
from bench.cli import main
from bench.markdown import fmt_ms
from bench.plan import adaptive
from bench.report.build import write_report
from bench.results.load import load_runs

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "reports" / "runs" / "20261125T043336Z"
# The shipped defaults on CPU, declared before the data: TensorFlow function, torch eager.
DEFAULTS = {"tensorflow": "function", "torch": "eager"}


def process_medians(run: Path) -> dict[str, dict[int, float]]:
    """cell_id -> {schedule block: that process's median step time}, ok training processes only."""
    out: dict[str, dict[int, float]] = {}
    for f in sorted((run / "cells").glob("*/r*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        if d["status"] == "ok" and d.get("step_time_median_s") and d.get("scenario", "train") == "train":
            out.setdefault(d["cell_id"], {})[d["block"]] = d["step_time_median_s"]
    return out


def pooled_var(meds: dict[str, dict[int, float]]) -> tuple[float, float]:
    """The variance of log process medians within cells, pooled over every cell, and its df."""
    ss = df = 0.0
    for by_block in meds.values():
        logs = np.log(list(by_block.values()))
        if len(logs) >= 2:
            ss, df = ss + logs.var(ddof=1) * (len(logs) - 1), df + len(logs) - 1
    return ss / df, df


def recomputed(meds: dict[str, dict[int, float]], model: str, batch: int) -> dict[str, object]:
    """The shipped-default comparison of one model: medians, ratio (slower / faster) and interval."""
    ids = {fw: f"{model}__{fw}__{mode}__cpu__fp32__b{batch}__default" for fw, mode in DEFAULTS.items()}
    median = {fw: float(np.median(list(meds[cid].values()))) for fw, cid in ids.items()}
    fast, slow = sorted(median, key=median.get)
    ratio = median[slow] / median[fast]
    common = [k for k in meds[ids[fast]] if k in meds[ids[slow]]]
    d = np.log([meds[ids[slow]][k] / meds[ids[fast]][k] for k in common])
    pool, pool_df = pooled_var(meds)
    d0 = min(4.0, pool_df)
    var = (d0 * 2 * pool + (len(d) - 1) * d.var(ddof=1)) / (d0 + len(d) - 1)
    half = student.ppf(0.975, d0 + len(d) - 1) * math.sqrt(var / len(d)) * math.sqrt(math.pi / 2)
    return {"median": median, "fast": fast, "ratio": ratio, "n": len(d),
            "low": math.exp(math.log(ratio) - half), "high": math.exp(math.log(ratio) + half)}


def check(run: Path, tmp: Path) -> list[dict[str, object]]:
    meds = process_medians(run)
    runs = load_runs([run])
    heads = headlines(comparison_frame(runs))
    assert heads
    write_report([run], tmp / "reports")
    page = (tmp / "reports" / "README.md").read_text(encoding="utf-8")
    out = []
    for h in heads:
        want = recomputed(meds, h.key["model"], int(h.key["batch_size"]))
        for fw, p in h.default.items():
            assert p.row["mode"] == DEFAULTS[fw]
            assert p.row["step_time_median_s"] == pytest.approx(want["median"][fw], rel=1e-12)
            assert f"{DEFAULTS[fw]}: {fmt_ms(want['median'][fw])} ms/step [" in page
        r = h.default_ranking.ratio
        assert h.default_ranking.picks[0][0] == want["fast"] and r.n == want["n"]
        assert r.method == "paired+prior"
        for k in ("ratio", "low", "high"):
            assert getattr(r, k) == pytest.approx(want[k], rel=1e-12), k
        # the ratio is that of the two medians printed beside it
        assert r.ratio == pytest.approx(max(want["median"].values()) / min(want["median"].values()))
        printed = f"{want['ratio']:.2f}× [{want['low']:.2f}–{want['high']:.2f}, 95%]"
        assert printed in page, printed
        out.append(want)
    return out


def test_the_committed_run_recomputes(tmp_path: Path) -> None:
    """The committed quick run (schema 3, before ABBA pairs: its default cells share each block)."""
    got = check(COMMITTED, tmp_path)
    assert len(got) == 3 and all(w["n"] == 3 for w in got)


def test_a_run_with_abba_pairs_and_added_pairs_recomputes(fakes: Path,  # noqa: F811
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    set_plan(monkeypatch, {"__torch__eager__": "jitter0.4"})
    monkeypatch.setattr(adaptive, "can_decide", lambda ratio, more: True)  # not futile: pairs are added
    assert main(["all", "--models", "dcgan-mnist", "--frameworks", "tensorflow,torch", "--modes",
                 "function,eager", "--devices", "cpu", "--precisions", "fp32", "--variants", "default",
                 "--steps", "3", "--warmup", "1", "--window-steps", "2", "--extra-pairs", "2",
                 "--no-report", "--out", "run"]) == 0
    (want,) = check(fakes / "run", fakes)
    assert want["n"] == 5  # 3 planned pairs and 2 added by the adaptive phase
