"""TensorFlow's counterpart of tests/ddp_gradients_check.py, run by tests/test_scale_out_tf.py: two local
workers under ``MultiWorkerMirroredStrategy`` on CPU (TF_CONFIG on free localhost ports, as the
``engine`` launcher sets them), float64, one replica each, each fed its own shard of a global batch.

Each worker runs the benchmarked path: ``TensorflowBackend.setup`` (threads, then the strategy),
``build`` (the family's model, variables and Adam under ``strategy.scope()``) and ``wrap`` (the family's
own ``train_step`` through ``strategy.run``, in the cell's mode), then one step. What the optimizer
applied is read back from Adam's first moment (after one step from zero moments Keras holds
m = (1 - beta_1) x the all-reduced gradient). Against single-process models built by the family's own
``build`` outside the strategy, each worker writes to OUT/rank<k>.json, per model:

- ``reduced_vs_sum_of_shards``: the all-reduced gradient against the sum of the single-process gradients
  of the shards, each shard normalised on its own (Keras 3's optimizer all-reduces with SUM);
- ``reduced_vs_n_global``: against N x one process's gradient of the concatenated global batch (the
  losses are batch means and the shards equal, so the sum is N x the global mean): equal for the VAE;
  the GAN's BatchNorm normalises each shard with its own statistics, so it differs there;
- VAE: ``step_vs_global_eps_over_n``: the parameters after the step against one process's Adam step on
  the global batch with epsilon / N (Adam of N x g with epsilon equals Adam of g with epsilon / N),
  and ``step_vs_global`` with the spec's epsilon (the SUM's only effect: reported, bounded);
- GAN: each worker's BatchNorm moving statistics after the step (``aggregation="none"``: never
  synchronised) against a single-process step on its own shard, the other shard and the global batch.

By hand: ``python tests/tf_distribute_gradients_check.py OUT [MODE]`` starts both workers (MODE: eager,
the 2-rank cells' mode, or function) and waits for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cell import Cell  # noqa: E402
from bench.frameworks.tensorflow.ranks import rank_env  # noqa: E402
from bench.launchers.engine import free_ports  # noqa: E402
from bench.results.records import RunSettings  # noqa: E402

WORLD = 2
PER_RANK = 4
MODELS = ("vae-mnist", "dcgan-mnist")
MODES = ("eager", "function")
# 2 threads for the slot, split as a cell's are: 1 intra-op and 1 inter-op thread per rank.
SETTINGS = RunSettings(intra_op_threads=WORLD, inter_op_threads=WORLD, seed=0)


def launch(out: Path, mode: str, timeout_s: float = 240.0) -> int:
    """Start the WORLD workers (no TensorFlow in this process), wait; 0 when every one exits 0."""
    out.mkdir(parents=True, exist_ok=True)
    ports = free_ports(WORLD)
    procs = []
    for rank in range(WORLD):
        env = {**os.environ, **rank_env(WORLD, rank, ports), "PYTHONPATH": str(ROOT),
               "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
        log = open(out / f"rank{rank}.log", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
        procs.append((subprocess.Popen([sys.executable, __file__, "--worker", str(rank), str(out), mode],
                                       env=env, stdout=log, stderr=subprocess.STDOUT), log))
    deadline = time.monotonic() + timeout_s
    # A worker that dies leaves its peer waiting in a collective: stop the rest at the first failure.
    while time.monotonic() < deadline and any(p.poll() is None for p, _ in procs):
        if any(p.returncode not in (None, 0) for p, _ in procs):
            break
        time.sleep(0.2)
    for p, log in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
    failed = [(k, p.returncode) for k, (p, _) in enumerate(procs) if p.returncode != 0]
    for k, rc in failed:
        tail = (out / f"rank{k}.log").read_text(encoding="utf-8", errors="replace")[-3000:]
        print(f"worker {k} exited {rc}:\n{tail}", file=sys.stderr)
    return 1 if failed else 0


# ---------------------------------------------------------------- in each worker (imports TensorFlow)
def parts(model: Any) -> list[tuple[list[Any], Any]]:
    """(trainable variables, their Adam) of each network group, in the order of the gradients."""
    if hasattr(model, "optimizer"):
        return [(model.variables, model.optimizer)]
    return [(model.generator.trainable_variables, model.g_opt),
            (model.discriminator.trainable_variables, model.d_opt)]


def gradients(model: Any, batch: tuple[Any, ...]) -> list[np.ndarray]:
    """One process's gradients of ``batch`` (no update), in the order of ``parts``."""
    got = model.losses_and_gradients(*batch)
    grads = got[1] if len(got) == 2 else [*got[2], *got[3]]
    return [np.asarray(g, np.float64) for g in grads]


def applied(model: Any) -> list[np.ndarray]:
    """The gradient Adam applied in the model's first step: Keras' m += (g - m)(1 - beta_1) from m = 0."""
    return [np.asarray(opt._momentums[opt._get_variable_index(v)], np.float64) / (1.0 - opt.beta_1)
            for variables, opt in parts(model) for v in variables]


def values(variables: list[Any]) -> list[np.ndarray]:
    return [np.array(v.numpy(), np.float64) for v in variables]


def trainable(model: Any) -> list[np.ndarray]:
    return values([v for variables, _ in parts(model) for v in variables])


def bn_statistics(gan: Any) -> list[np.ndarray]:
    return values([*gan.generator.non_trainable_variables, *gan.discriminator.non_trainable_variables])


def gap(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


def options(name: str) -> dict[str, Any]:
    # The GAN without dropout (as the torch check): masks drawn per replica have no single-process twin.
    return {} if name.startswith("vae") else {"dropout": False}


def single(family: Any, spec: Any, name: str) -> Any:
    """One process's model, built outside ``strategy.scope()``: plain variables, and an Adam under the
    default strategy (its all-reduce is the identity)."""
    return family.implementation("tensorflow").build(spec, batch_size=PER_RANK * WORLD, precision="fp64",
                                                      seed=SETTINGS.seed, device="cpu", **options(name))


def adam_steps(family: Any, spec: Any, name: str, whole: list[np.ndarray],
               after: list[np.ndarray]) -> dict[str, float]:
    """The distributed step's parameters against one process's Adam step on the global batch's gradient,
    with epsilon / N and with the spec's epsilon."""
    import tensorflow as tf

    from models.common.tf_common import make_adam

    out = {}
    for key, eps in (("step_vs_global_eps_over_n", spec.adam_epsilon / WORLD),
                     ("step_vs_global", spec.adam_epsilon)):
        ref = single(family, spec, name)
        ref.optimizer = make_adam(replace(spec, adam_epsilon=eps), "fp64")
        ref.optimizer.build(ref.variables)
        ref.optimizer.apply_gradients(zip([tf.constant(g) for g in whole], ref.variables, strict=True))
        out[key] = gap(after, trainable(ref))
    return out


def check_model(backend: Any, name: str, rank: int) -> dict[str, Any]:
    """One distributed step of ``name`` on this worker's shard, against single-process steps."""
    from models.registry import family_of, get_spec

    family, spec = family_of(name), get_spec(name)
    backend.cell = Cell(name, "tensorflow", backend.cell.mode, "cpu", "fp64", PER_RANK, workers=WORLD)
    backend.options = options(name)
    arrays = family.make_inputs(spec, PER_RANK * WORLD, 1, SETTINGS.seed, "synthetic")
    shards = [tuple(a[:, k * PER_RANK:(k + 1) * PER_RANK] for a in arrays) for k in range(WORLD)]
    backend.build(family, spec, PER_RANK, shards[rank])  # variables and Adam under strategy.scope()
    backend.wrap()  # train_step through strategy.run, in the cell's mode
    dist = backend.model
    before = trainable(dist)
    losses = backend.fetch(backend.call(0))

    singles = [single(family, spec, name) for _ in range(WORLD)]
    own = [gradients(m, m.to_framework_batches(*shards[k])[0]) for k, m in enumerate(singles)]
    whole_model = single(family, spec, name)
    whole = gradients(whole_model, whole_model.to_framework_batches(*arrays)[0])
    reduced = applied(dist)
    shard_sum = [sum(gs) for gs in zip(*own, strict=True)]
    r: dict[str, Any] = {
        "reduced_vs_sum_of_shards": gap(reduced, shard_sum),
        "reduced_vs_n_global": gap(reduced, [WORLD * g for g in whole]),
        "shards_differ": gap(own[0], own[1]),
        "scale": max(float(np.abs(g).max()) for g in shard_sum),
        "losses": losses,
    }
    if name.startswith("vae"):
        after = trainable(dist)
        r["step_scale"] = max(float(np.abs(a - b).max()) for a, b in zip(after, before, strict=True))
        r.update(adam_steps(family, spec, name, whole, after))
        # Adam's first update differs by at most lr (1 - 1/N) / (1 + 1/sqrt(N))^2 between epsilon and
        # epsilon / N (the worst gradient is |g| sqrt(1 - beta_2) = epsilon / sqrt(N)).
        r["step_bound"] = spec.learning_rate * (1 - 1 / WORLD) / (1 + WORLD ** -0.5) ** 2
        # Summation order alone: Adam's first update lr g / (|g| + e / sqrt(1 - beta_2)) moves by at most
        # lr sqrt(1 - beta_2) / e per unit of g (steepest at g = 0). Here g is the mean gradient, whose gap
        # is reduced_vs_n_global / N, and e = eps / N: the two N cancel. Plus a rounding of each parameter.
        r["step_noise_bound"] = (spec.learning_rate * (1 - spec.adam_beta2) ** 0.5 / spec.adam_epsilon
                                 * r["reduced_vs_n_global"]
                                 + 2 * max(float(np.spacing(np.abs(a).max())) for a in after))
        r["learning_rate"] = spec.learning_rate
    else:
        stats = bn_statistics(dist)
        r["stats_vs_own_shard"] = gap(stats, bn_statistics(singles[rank]))
        r["stats_vs_other_shard"] = gap(stats, bn_statistics(singles[1 - rank]))
        r["stats_vs_global"] = gap(stats, bn_statistics(whole_model))
        r["stats_scale"] = max(float(np.abs(s).max()) for s in stats)
    return r


def worker(rank: int, out: Path, mode: str) -> None:
    from bench.frameworks.tensorflow.backend import TensorflowBackend
    from bench.worker.flags import plan_flags

    class Backend(TensorflowBackend):
        """The benchmarked backend, with build options for the family (the GAN's dropout off)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.options: dict[str, Any] = {}

        def build_model(self, family: Any, spec: Any, batch_size: int, inputs: Any, **more: Any) -> None:
            super().build_model(family, spec, batch_size, inputs, **self.options, **more)

    cell = Cell(MODELS[0], "tensorflow", mode, "cpu", "fp64", PER_RANK, workers=WORLD)
    backend = Backend(cell, SETTINGS, plan_flags(cell, SETTINGS), rank=rank, world_size=WORLD)
    backend.setup()  # threads, then the strategy: once per process, as a cell's worker does
    assert backend.strategy.num_replicas_in_sync == WORLD
    results: dict[str, Any] = {"rank": rank, "mode": mode, "world": WORLD, "per_rank": PER_RANK,
                               "threads": backend.flags["intra_op_threads"]}
    for name in MODELS:
        results[name] = check_model(backend, name, rank)
    (out / f"rank{rank}.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


def main(argv: list[str]) -> int:
    if argv[:1] == ["--worker"]:
        worker(int(argv[1]), Path(argv[2]), argv[3])
        return 0
    if len(argv) not in (1, 2) or (argv[1:] and argv[1] not in MODES):
        print(f"usage: tf_distribute_gradients_check.py OUT [{'|'.join(MODES)}]", file=sys.stderr)
        return 2
    return launch(Path(argv[0]), argv[1] if argv[1:] else MODES[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
