"""The generate scenario without a framework: its registration, every family's hooks and inputs, and
the rule that a phase runs until both its count and its duration are reached."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from bench.scenarios import get_scenario, scenario_names
from bench.scenarios.generate import _Run
from models.generate import run_loop
from models.registry import family_of, model_names


def test_generate_is_registered_and_every_model_supports_it():
    assert "generate" in scenario_names()
    assert get_scenario("generate").name == "generate"
    for model in model_names():
        assert "generate" in family_of(model).scenarios, model


@pytest.mark.parametrize("model", model_names())
def test_inputs_are_the_seeds_and_flops_positive(model):
    family = family_of(model)
    hooks, spec = family.scenarios["generate"], family.specs[model]
    steps = 3 if hooks.denoising else 1
    first, per_step = hooks.make_inputs(spec, 2, 7, steps)
    again, per_again = hooks.make_inputs(spec, 2, 7, steps)
    other, _ = hooks.make_inputs(spec, 2, 8, steps)
    assert first.dtype == np.float32 and first.shape[0] == 2
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert len(per_step) == steps
    for a, b in zip(per_step, per_again, strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_array_equal(x, y)
    assert hooks.call_flops(spec, 2, steps) == 2 * hooks.call_flops(spec, 1, steps) > 0


def test_ddpm_inputs_carry_each_steps_timestep_noise_and_coefficients():
    hooks = family_of("ddpm-32").scenarios["generate"]
    spec = family_of("ddpm-32").specs["ddpm-32"]
    first, per_step = hooks.make_inputs(spec, 2, 0, 4)
    assert first.shape == (2, 32, 32, 3)
    assert [int(t[0]) for t, _z, _c in per_step] == [999, 666, 333, 0]
    assert all(z.shape == first.shape and c.shape == (2, 3) for _t, z, c in per_step)
    assert per_step[-1][2][0, 2] == 0.0  # no noise at the last step
    assert hooks.call_flops(spec, 1, 4) == 4 * hooks.call_flops(spec, 1, 1)


def test_run_loop_threads_x_through_every_step():
    assert run_loop(lambda x: x + 1, 0, [()]) == 1
    assert run_loop(lambda x, a, b: x * a + b, 1, [(2, 0), (3, 1)]) == 7


class _Clock:
    """A backend whose every call takes ``call_s`` seconds (no clock is read)."""

    def __init__(self, call_s: float) -> None:
        self.call_s = call_s
        self.calls = 0

    def time_steps(self, start: int, n: int):
        self.calls += n
        return [(self.call_s, {"image_mean": 0.5})] * n

    def time_window(self, start: int, n: int):
        self.calls += n
        return n * self.call_s, [{"image_mean": 0.5}] * n


def _run(backend: _Clock) -> _Run:
    run = _Run.__new__(_Run)
    run.backend, run.records, run.step = backend, [], 0
    run.spec = SimpleNamespace(cell=SimpleNamespace(cell_id="c"), repeat=1)
    return run


@pytest.mark.parametrize(("call_s", "count", "min_s", "calls"), [
    (0.125, 3, 1.0, 8),  # the duration decides (binary fractions: exact sums)
    (0.125, 5, 0.25, 5),  # the count decides
    (0.3, 1, 1.0, 4),  # whole calls: 4 × 0.3 s ≥ 1 s
    (0.125, 0, 0.0, 1),  # at least one call
])
def test_a_phase_runs_until_both_its_count_and_its_duration(call_s, count, min_s, calls):
    backend = _Clock(call_s)
    run = _run(backend)
    times = run._calls("timed", count, min_s)
    assert len(times) == backend.calls == calls == len(run.records)
    assert [r.step for r in run.records] == list(range(calls))


def test_throughput_windows_repeat_until_the_duration():
    backend = _Clock(0.125)
    calls, seconds = _run(backend)._windows(3, 1.0)
    assert (calls, seconds) == (9, 1.125)


def test_generate_estimates_come_from_call_flops_and_durations_and_never_feed_train_estimates():
    from bench.cell import Cell
    from bench.plan.estimates import PastTimings, generate_process_seconds, process_seconds
    from bench.results.records import CellResult, RunSettings

    s = RunSettings(generate_min_s=2.0, generate_warmup_min_s=0.5, denoising_steps=4)
    gan = Cell(model="dcgan-mnist", framework="torch", mode="eager", device="cpu", precision="fp32",
               batch_size=64, variant="default", scenario="generate")
    # A cheap call: the durations decide (0.5 + 2 + 2 s of calls, beside start-up).
    assert process_seconds(gan, s) == generate_process_seconds(gan, s)
    assert generate_process_seconds(gan, s) - generate_process_seconds(gan, RunSettings(
        generate_min_s=0.0, generate_warmup_min_s=0.0)) == pytest.approx(4.5, abs=0.5)
    # A sampler's S multiplies its calls.
    ddpm = Cell(model="ddpm-32", framework="torch", mode="eager", device="cpu", precision="fp32",
                batch_size=4, variant="default", scenario="generate")
    assert generate_process_seconds(ddpm, RunSettings(denoising_steps=50)) > generate_process_seconds(ddpm, s)
    past = PastTimings()
    past.add(CellResult(cell=gan, status="ok", step_time_median_s=0.001, time_to_first_step_s=0.1,
                        wall_s=9.0))
    assert not past.step_s and not past.start_s
