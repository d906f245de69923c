"""Break each equivalence-contract item on purpose and record which tests catch it.

For every mutation: copy models/, bench/ and the equivalence tests to a scratch directory, apply one
source edit there (the working tree is never touched), run ``pytest -m equivalence`` on the copy and
list the failing tests. Prints a Markdown table (pasted into models/gan/CONTRACT.md). A mutation that no
test catches makes the exit status 1.

    python scripts/contract_mutations.py [--only ID ...] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_models_equivalence.py"]

# (id, contract item broken, file, old, new)
MUTATIONS: list[tuple[str, str, str, str, str]] = [
    ("lrelu-torch-default", "torch LeakyReLU left at torch's default slope 0.01",
     "models/gan/torch_dcgan.py", "nn.LeakyReLU(layer.slope)", "nn.LeakyReLU()"),
    ("lrelu-keras-default", "Keras LeakyReLU left at Keras 3's default slope 0.3",
     "models/gan/tf_dcgan.py", "keras.layers.LeakyReLU(negative_slope=layer.slope, **kw)",
     "keras.layers.LeakyReLU(**kw)"),
    ("bn-momentum-convention", "torch BN momentum given Keras' convention (keep fraction)",
     "models/gan/torch_dcgan.py", "momentum=1.0 - spec.bn_keep", "momentum=spec.bn_keep"),
    ("bn-epsilon-default", "torch BN epsilon left at torch's default 1e-5",
     "models/gan/torch_dcgan.py", "eps=spec.bn_epsilon", "eps=1e-5"),
    ("convt-crop-shift", "transposed conv cropped on the wrong side (= padding=2, output_padding=1)",
     "models/gan/torch_dcgan.py", "Crop(before - sym, after - sym)", "Crop(after - sym, before - sym)"),
    ("conv-pad-shift", "stride-2 conv padded symmetrically-shifted (odd pixel top/left)",
     "models/gan/torch_dcgan.py", "nn.ZeroPad2d((before, after, before, after))",
     "nn.ZeroPad2d((after, before, after, before))"),
    ("flatten-order", "Dense/BN features not permuted between (h,w,c) and (c,h,w)",
     "models/gan/weights.py", "return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)",
     "return np.arange(h * w * c)"),
    ("kernel-layout", "conv kernels moved HWIO->OIHW with kh and kw swapped",
     "models/gan/weights.py", "a = a.transpose(3, 2, 0, 1)", "a = a.transpose(3, 2, 1, 0)"),
    ("adam-eps-torch-default", "torch Adam eps left at torch's default 1e-8",
     "models/gan/torch_dcgan.py", "eps=spec.adam_epsilon", "eps=1e-8"),
    ("adam-eps-keras-default", "Keras Adam epsilon left at Keras' default 1e-7",
     "models/gan/tf_dcgan.py", "beta_2=spec.adam_beta2, epsilon=spec.adam_epsilon)",
     "beta_2=spec.adam_beta2)"),
    ("init-torch-default", "torch keeps its own default init instead of the canonical initial weights",
     "models/gan/torch_dcgan.py", "        set_weights(self, initial_weights(spec, seed))\n", "\n"),
    ("d-grad-into-generator", "d_loss differentiated into the generator too (not the tutorial's step)",
     "models/gan/torch_dcgan.py", "scale(d_loss).backward(inputs=self.d_params)", "scale(d_loss).backward()"),
]


def run_one(mid: str, path: str, old: str, new: str, seed: str) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="fb-mut-") as tmp:
        work = Path(tmp)
        for d in ("models", "bench"):
            shutil.copytree(ROOT / d, work / d, ignore=shutil.ignore_patterns("__pycache__"))
        (work / "tests").mkdir()
        for t in TESTS:
            shutil.copy(ROOT / t, work / t)
        shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
        target = work / path
        text = target.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"mutation {mid}: expected exactly one {old!r} in {path}")
        target.write_text(text.replace(old, new))
        env = {**os.environ, "PYTHONPATH": str(work), "FRAMEBENCH_EQ_SEED": seed,
               "TF_CPP_MIN_LOG_LEVEL": "3"}
        # Guard: the mutated copy, not the (editable-)installed tree, must be the one imported.
        where = subprocess.run([sys.executable, "-c", "import models; print(models.__file__)"],
                               cwd=work, env=env, capture_output=True, text=True, check=True).stdout
        if not where.strip().startswith(str(work)):
            raise SystemExit(f"mutation {mid}: imported {where.strip()}, not the scratch copy")
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", *TESTS, "-m", "equivalence", "-q", "-rf",
             "-p", "no:cacheprovider",
             "-o", "addopts="],
            cwd=work, env=env, capture_output=True, text=True, check=False)
        failed = re.findall(r"^FAILED \S+::(\S+)", proc.stdout, re.M)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"mutation {mid}: pytest exited {proc.returncode}\n{proc.stdout[-3000:]}")
        return failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="mutation ids to run (default: all)")
    ap.add_argument("--seed", default="12345", help="FRAMEBENCH_EQ_SEED for every run")
    args = ap.parse_args()
    rows, uncaught = [], []
    for mid, what, path, old, new in MUTATIONS:
        if args.only and mid not in args.only:
            continue
        failed = run_one(mid, path, old, new, args.seed)
        if not failed:
            uncaught.append(mid)
        rows.append(f"| `{mid}` | {what} | {', '.join(f'`{f}`' for f in failed) or '**none**'} |")
        print(rows[-1], file=sys.stderr, flush=True)
    print("| mutation | contract item broken | failing tests |\n|---|---|---|")
    print("\n".join(rows))
    if uncaught:
        print(f"\nnot caught: {', '.join(uncaught)}", file=sys.stderr)
    return 1 if uncaught else 0


if __name__ == "__main__":
    sys.exit(main())
