"""bf16 on CPU: each family's torch step under ``torch.autocast("cpu", torch.bfloat16)`` runs its
convolutions and matmuls in bfloat16 (parameters, losses and the update stay float32), and its losses are
close to the fp32 step's from the same weights and batch (the cross-framework bf16 checks are in
tests/test_models_*precision.py)."""

from __future__ import annotations

import numpy as np
import pytest

from models.registry import family_of, get_spec

torch = pytest.importorskip("torch")
MODELS = {"dcgan-mnist": {"dropout": False}, "vae-mnist": {}, "ddpm-32": {}}


def _first_step(model: str, precision: str):
    family, spec = family_of(model), get_spec(model)
    m = family.implementation("torch").build(spec, batch_size=2, precision=precision, seed=1,
                                             device="cpu", **MODELS[model])
    batch = m.to_framework_batches(*family.make_inputs(spec, 2, 1, 3, "synthetic"))[0]
    dtypes: set[torch.dtype] = set()
    hooks = [mod.register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))
             for mod in _all_modules(m) if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d,
                                                            torch.nn.Linear))]
    out = m.train_step(*batch)
    for h in hooks:
        h.remove()
    params = {p.dtype for mod in _all_modules(m) for p in mod.parameters()}
    return m, dict(out), dtypes, params, family


def _all_modules(m):
    names = ("generator", "discriminator", "encoder", "decoder", "unet")
    nets = [getattr(m, n) for n in names if hasattr(m, n)]
    return [mod for net in nets for mod in net.modules()]


@pytest.mark.parametrize("model", list(MODELS))
def test_bf16_cpu_step_runs_in_bfloat16_and_matches_fp32(model):
    m, out, dtypes, params, family = _first_step(model, "bf16")
    assert m.autocast_dtype == torch.bfloat16 and m.scaler is None
    assert dtypes == {torch.bfloat16}, f"layer outputs in {dtypes}"
    assert params == {torch.float32}
    _, ref, ref_dtypes, _, _ = _first_step(model, "fp32")
    assert ref_dtypes == {torch.float32}
    for name in family.losses:
        assert out[name].dtype == torch.float32 and torch.isfinite(out[name])
        # Same tolerance as the cross-framework precision tests: 0.01 + 1% of the fp32 loss.
        np.testing.assert_allclose(float(out[name]), float(ref[name]), rtol=0.01, atol=0.01, err_msg=name)
