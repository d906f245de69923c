"""What each deployed runtime costs to build, per model: export seconds, load seconds, artefact bytes, and
the artefact's max abs error against the framework's eager output (bench/frameworks/<fw>/runtimes.py).

One framework per process (the other is never imported). Each model's generative module: the DCGANs'
generator (noise in), the VAE's decoder (latent in, logits out; its initial weights x3, as in
tests/test_runtimes.py, so the error bound is not met trivially), the DDPM U-Net (x_t and t in; the
parity probe weights, its initial output convolution being zero). Batch ``--batch`` (the export's
example; the batch axis stays dynamic). No latency here: the generate scenario measures that.

    python scripts/runtime_exports.py --framework torch [--models dcgan-mnist,vae-mnist] [--threads 2]
    python scripts/runtime_exports.py --framework tensorflow --models ddpm-32 --json out.json

Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
MODELS = ("dcgan-mnist", "dcgan-64", "vae-mnist", "ddpm-32")


def _module(framework: str, model: str, batch: int):
    """(module, example inputs, eager function) of ``model``'s generative path in ``framework``."""
    from models.registry import get_spec

    spec = get_spec(model)
    rng = np.random.default_rng(0)
    family = model.split("-")[0]
    if framework == "torch":
        import torch

        if family == "dcgan":
            from models.gan import torch_dcgan as impl
            m = impl.build(spec, batch_size=batch).generator
            inputs = (rng.standard_normal((batch, spec.noise_dim)).astype(np.float32),)
        elif family == "vae":
            from models.vae import torch_vae as impl
            from models.vae.weights import initial_weights
            vae = impl.build(spec, batch_size=batch)
            impl.set_weights(vae, {n: {k: np.asarray(v) * 3 for k, v in w.items()}
                                   for n, w in initial_weights(spec, 0).items()})
            m = vae.decoder
            inputs = (rng.standard_normal((batch, spec.latent_dim)).astype(np.float32),)
        else:
            from models.ddpm import parity
            from models.ddpm import torch_ddpm as impl
            ddpm = impl.build(spec, batch_size=batch)
            impl.set_weights(ddpm, parity.probe_weights(spec, 1))
            m = ddpm.unet
            h, w, c = spec.image_shape
            inputs = (rng.standard_normal((batch, c, h, w)).astype(np.float32),
                      rng.integers(0, spec.timesteps, batch).astype(np.int64))
        m.eval()

        def eager(*xs):
            with torch.inference_mode():
                return m(*(torch.from_numpy(x) for x in xs)).numpy()
        return m, inputs, eager

    if family == "dcgan":
        from models.gan import tf_dcgan as impl
        m = impl.build(spec, batch_size=batch).generator
        inputs = (rng.standard_normal((batch, spec.noise_dim)).astype(np.float32),)
    elif family == "vae":
        from models.vae import tf_vae as impl
        from models.vae.weights import initial_weights
        vae = impl.build(spec, batch_size=batch)
        impl.set_weights(vae, {n: {k: np.asarray(v) * 3 for k, v in w.items()}
                               for n, w in initial_weights(spec, 0).items()})
        m = vae.decoder
        inputs = (rng.standard_normal((batch, spec.latent_dim)).astype(np.float32),)
    else:
        from models.ddpm import parity
        from models.ddpm import tf_ddpm as impl
        ddpm = impl.build(spec, batch_size=batch)
        impl.set_weights(ddpm, parity.probe_weights(spec, 1))
        m = ddpm.unet
        inputs = (rng.standard_normal((batch, *spec.image_shape)).astype(np.float32),
                  rng.integers(0, spec.timesteps, batch).astype(np.int32))

    def eager(*xs):
        return np.asarray(m(list(xs) if len(xs) > 1 else xs[0], training=False))
    return m, inputs, eager


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--framework", required=True, choices=("torch", "tensorflow"))
    p.add_argument("--models", default="dcgan-mnist,vae-mnist")
    p.add_argument("--modes", default="", help="comma-separated runtimes (default: all of the framework's)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = p.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    bad = [m for m in models if m not in MODELS]
    if bad or args.batch < 1 or args.threads < 1:
        print(f"error: models must be among {', '.join(MODELS)}; --batch and --threads >= 1", file=sys.stderr)
        return 2
    import importlib

    from bench.frameworks.runtime import RuntimeUnsupported

    rt = importlib.import_module(f"bench.frameworks.{args.framework}.runtimes")
    modes = [m for m in args.modes.split(",") if m] or list(rt.RUNTIMES)
    if any(m not in rt.RUNTIMES for m in modes):
        print(f"error: {args.framework} runtimes are {', '.join(rt.RUNTIMES)}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="runtime-exports-") as tmp:
        for model in models:
            module, inputs, eager = _module(args.framework, model, args.batch)
            reference = eager(*inputs)
            for mode in modes:
                row: dict = {"framework": args.framework, "model": model, "mode": mode, "batch": args.batch}
                try:
                    h = rt.build_runtime(mode, module, inputs, Path(tmp) / model / mode, args.threads)
                    err = float(np.abs(h.call(*inputs) - reference).max())
                    row.update(export_s=round(h.export_s, 2), load_s=round(h.load_s, 3),
                               artefact_bytes=h.artefact_bytes, max_abs_err=err, threads=h.threads,
                               versions=h.runtime_versions)
                    print(f"{model:12s} {mode:12s} export {h.export_s:7.2f} s  load {h.load_s:6.3f} s  "
                          f"{h.artefact_bytes / 1e6:7.2f} MB  max abs err {err:.1e}", flush=True)
                except RuntimeUnsupported as e:
                    row["unsupported"] = str(e)
                    print(f"{model:12s} {mode:12s} unsupported: {e}", flush=True)
                rows.append(row)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
