"""Print TensorFlow-vs-PyTorch parity figures for every model with a parity module, as a Markdown table.

Each framework runs in its own process (``--probe``), from the same canonical initial weights and the
same batches; this process compares the numpy results. Families with a ``parity`` module
(``models/<family>/parity.py``: ``probe``, ``compare``, ``step_rel_err``; and ``weights.initial_weights``)
are covered: the DCGANs and vae-mnist. Columns are max relative errors over all tensors: ‖a−b‖/‖b‖ for
the outputs (DCGAN: G and D; VAE: z_mean, z_log_var, z, logits), losses and gradients of one step, and
‖θ_tf−θ_torch‖/‖θ_torch−θ_0‖ after 3 train steps. Rows: float32 as benchmarked (the same
hyperparameters passed to both Adams), float32 with torch given Keras' Adam arithmetic
(``keras_adam_as_torch`` of each family's parity module), and float64 with it (what the equivalence
tests assert). See models/gan/CONTRACT.md and models/vae/CONTRACT.md.

    python scripts/equivalence_report.py [--seed N] [--batch 8] [--steps 3] [--models NAME ...]
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.registry import families, family_of, get_spec  # noqa: E402  (framework-free)

CONFIGS = [  # (label, precision, torch given Keras' Adam arithmetic)
    ("fp32, as benchmarked", "fp32", False),
    ("fp32, Keras Adam arithmetic", "fp32", True),
    ("fp64, Keras Adam arithmetic", "fp64", True),
]


def _modules(model: str):
    """(parity module, initial_weights) of the model's family."""
    package = f"models.{family_of(model).name}"
    parity = importlib.import_module(f"{package}.parity")
    return parity, importlib.import_module(f"{package}.weights").initial_weights


def _covered_models() -> list[str]:
    covered = [f for f in families() if importlib.util.find_spec(f"models.{f.name}.parity")]
    return [m for f in covered for m in f.model_names]


def _probe_main(args) -> None:
    spec = get_spec(args.model)
    parity, initial_weights = _modules(args.model)
    result = parity.probe(args.framework, spec, weights=initial_weights(spec, args.seed),
                          batch_size=args.batch, seed=args.seed, steps=args.steps,
                          precision=args.precision, keras_adam=args.keras_adam)
    Path(args.out).write_bytes(pickle.dumps(result))


def _run_probe(framework, model, precision, keras_adam, seed, batch, steps, out) -> dict:
    cmd = [sys.executable, __file__, "--probe", framework, model, precision, str(seed), str(batch),
           str(steps), out] + (["--keras-adam"] if keras_adam and framework == "torch" else [])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"probe {framework} {model} {precision} failed:\n{proc.stderr[-3000:]}")
    return pickle.loads(Path(out).read_bytes())


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":
        ap = argparse.ArgumentParser()
        ap.add_argument("--probe", dest="framework")
        for name, typ in (("model", str), ("precision", str), ("seed", int), ("batch", int), ("steps", int),
                          ("out", str)):
            ap.add_argument(name, type=typ)
        ap.add_argument("--keras-adam", action="store_true")
        _probe_main(ap.parse_args())
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(3), "little"))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--models", nargs="*", help="models to compare (default: every covered model)")
    args = ap.parse_args()
    models = args.models or _covered_models()
    print(f"Seed {args.seed}, batch {args.batch}, {args.steps} steps, CPU, DCGAN dropout off.\n")
    print("| model | precision / Adam | outputs | losses | gradients | params after "
          f"{args.steps} steps | worst tensor after {args.steps} steps |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in models:
            spec = get_spec(model)
            parity, initial_weights = _modules(model)
            w0 = initial_weights(spec, args.seed)
            for label, precision, keras_adam in CONFIGS:
                res = {fw: _run_probe(fw, model, precision, keras_adam, args.seed, args.batch, args.steps,
                                      f"{tmp}/{fw}.pkl") for fw in ("tensorflow", "torch")}
                a, b = res["tensorflow"], res["torch"]
                fig = parity.compare(a, b, w0)
                per = {f"{n}/{k}": parity.step_rel_err(a["after"][n][k], b["after"][n][k], w0[n][k])
                       for n in b["grads"] for k in b["grads"][n]}  # the trainable tensors
                worst = max(per, key=per.get)
                print(f"| {model} | {label} | {fig['outputs']:.1e} | {fig['losses']:.1e} | "
                      f"{fig['gradients']:.1e} | {fig['params_after_steps']:.1e} | {worst} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
