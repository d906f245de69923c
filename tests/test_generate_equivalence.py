"""The generate scenario, TensorFlow vs PyTorch: the same images from the same weights and noise.

The training equivalence's standard (tests/test_models_equivalence.py): fresh random weights and noise
every run from one seed printed in every message (rerun with ``FRAMEBENCH_EQ_SEED=<seed>``); each
framework's model built from a different seed and given TensorFlow's weights, so a transfer that does
nothing fails. The DCGAN's BatchNorm running statistics are set to random values first, so a
generator left in training mode (batch statistics) fails too. The calls go through the scenario's own
code: each framework's generate hooks (bench/frameworks/<fw>/generate.py) around the family's
generative module, with the inputs of its ``GenerateHooks.make_inputs``.

Bounds, float32: one generator or decoder call within 1e-5 relative (‖tf − torch‖ / ‖torch‖);
the DDPM sampler (ddpm-tiny, 3 denoising steps: 3 U-Net calls and updates) within 1e-4 relative, the
per-call error compounded over the steps (each update divides by √α and adds the U-Net's rounding).
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from models.common.parity import rel_err
from models.ddpm.schedule import betas, sampling_schedule
from models.ddpm.spec import DDPM_TINY
from models.ddpm.weights import initial_weights as ddpm_weights
from models.registry import family_of

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")
from bench.frameworks.tensorflow import generate as tf_generate  # noqa: E402  (after the importorskips)
from bench.frameworks.torch import generate as torch_generate  # noqa: E402

pytestmark = pytest.mark.equivalence

SEED = int(os.environ.get("FRAMEBENCH_EQ_SEED") or int.from_bytes(os.urandom(4), "little") % 2**31)
WHY = f"seed={SEED} (rerun: FRAMEBENCH_EQ_SEED={SEED})"
BATCH = 4
ONE_CALL_BOUND = 1e-5
SAMPLER_STEPS = 3
SAMPLER_BOUND = 1e-4


def _randomised_bn(weights: dict, seed: int) -> dict:
    """The canonical weights with random BatchNorm running statistics (means N(0, 0.5²), variances in
    [0.5, 2]): a generator on its running statistics then differs from one on batch statistics. The
    biases (zero at initialisation) are drawn N(0, 0.5²) too, so that a fresh VAE's decoder does not
    output 0.5 everywhere."""
    rng = np.random.default_rng([seed, 3])
    out = {net: dict(ws) for net, ws in weights.items()}
    for ws in out.values():
        for name, w in ws.items():
            if name.endswith("moving_mean") or name.endswith(".bias"):
                ws[name] = (0.5 * rng.standard_normal(w.shape)).astype(w.dtype)
            elif name.endswith("moving_variance"):
                ws[name] = rng.uniform(0.5, 2.0, w.shape).astype(w.dtype)
    return out


def _backend(framework: str, model, mode: str = "eager") -> SimpleNamespace:
    """What the generate hooks read of a backend."""
    return SimpleNamespace(cell=SimpleNamespace(mode=mode), flags={}, model=model,
                           torch_device=torch.device("cpu"), tf_device="/CPU:0", _device_scope=None)


def generate(framework: str, family, spec, weights, inputs, mode: str = "eager") -> np.ndarray:
    """The images (NHWC numpy) of one generate call through the scenario's hooks."""
    impl = family.implementation(framework)
    model = impl.build(spec, batch_size=BATCH, seed=SEED + (framework == "torch"))
    impl.set_weights(model, weights)
    hooks = tf_generate if framework == "tensorflow" else torch_generate
    backend = _backend(framework, model, mode)
    net = hooks.network(backend, impl.generate_module(model))
    first, per_step = hooks.to_inputs(backend, *inputs)
    x = first
    ctx = torch.inference_mode() if framework == "torch" else _nothing()
    with ctx:
        for extra in per_step:
            x = net(x, *extra)
    return hooks.images_nhwc(x)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _case(model_name: str, spec=None, steps: int = 1):
    family = family_of(model_name)
    spec = spec or family.specs[model_name]
    if family.name == "ddpm":
        # Without Ho et al.'s near-zero initialisation of the last layers (scale 1e-10), whose U-Net
        # would predict almost nothing but its biases.
        weights = ddpm_weights(spec, SEED, zero_init=False)
    else:
        tf_impl = family.implementation("tensorflow")
        weights = _randomised_bn(tf_impl.get_weights(tf_impl.build(spec, batch_size=BATCH, seed=SEED)), SEED)
    inputs = family.scenarios["generate"].make_inputs(spec, BATCH, SEED, steps)
    return family, spec, weights, inputs


@pytest.mark.parametrize("model_name", ["dcgan-mnist", "dcgan-64", "vae-mnist"])
def test_one_generate_call_gives_the_same_images_in_both_frameworks(model_name):
    family, spec, weights, inputs = _case(model_name)
    a = generate("tensorflow", family, spec, weights, inputs)
    b = generate("torch", family, spec, weights, inputs)
    assert a.shape == b.shape == (BATCH, *spec.image_shape), WHY
    err = rel_err(a, b)
    assert err <= ONE_CALL_BOUND, f"{model_name}: relative error {err:.2e} > {ONE_CALL_BOUND:g} ({WHY})"
    # Not a trivial agreement: the images vary across the batch and are not the input.
    assert float(np.std(b)) > 1e-2, WHY


def test_the_ddpm_sampler_gives_the_same_images_in_both_frameworks():
    family, spec, weights, inputs = _case("ddpm-32", DDPM_TINY, SAMPLER_STEPS)
    a = generate("tensorflow", family, spec, weights, inputs)
    b = generate("torch", family, spec, weights, inputs)
    err = rel_err(a, b)
    assert err <= SAMPLER_BOUND, f"sampler: relative error {err:.2e} > {SAMPLER_BOUND:g} ({WHY})"
    assert rel_err(b, inputs[0]) > 1e-2, f"the sampler left x_T as it was ({WHY})"


def test_tf_function_and_xla_generate_what_eager_does():
    family, spec, weights, inputs = _case("dcgan-mnist")
    eager = generate("tensorflow", family, spec, weights, inputs)
    for mode in ("function", "xla"):
        err = rel_err(generate("tensorflow", family, spec, weights, inputs, mode), eager)
        assert err <= ONE_CALL_BOUND, f"{mode}: relative error {err:.2e} ({WHY})"


def test_the_sampler_schedule_is_ho_et_al_algorithm_2_at_full_length():
    tau, coefs = sampling_schedule(DDPM_TINY, DDPM_TINY.timesteps)
    beta = betas(DDPM_TINY)
    alpha_bar = np.cumprod(1.0 - beta)
    assert list(tau) == list(range(DDPM_TINY.timesteps - 1, -1, -1))
    np.testing.assert_allclose(coefs[:, 0], 1.0 / np.sqrt(1.0 - beta[tau]), rtol=1e-12)
    np.testing.assert_allclose(coefs[:, 1], beta[tau] / np.sqrt(1.0 - alpha_bar[tau]), rtol=1e-12)
    np.testing.assert_allclose(coefs[:-1, 2], np.sqrt(beta[tau[:-1]]), rtol=1e-12)
    assert coefs[-1, 2] == 0.0  # no noise added at the last step


def test_fewer_steps_respace_the_same_schedule():
    tau, coefs = sampling_schedule(DDPM_TINY, 4)
    assert list(tau) == [999, 666, 333, 0]
    alpha_bar = np.cumprod(1.0 - betas(DDPM_TINY))
    # The product of the respaced alphas is the schedule's alpha_bar at the first sampled step.
    assert np.prod(1.0 / coefs[:, 0] ** 2) == pytest.approx(alpha_bar[999], rel=1e-10)
