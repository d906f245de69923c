"""TensorFlow vs PyTorch: the same model, proven equal (models/gan/CONTRACT.md, section "Tests").

Fresh random weights and data every run, from one seed printed in every assertion message; rerun a
failure with ``FRAMEBENCH_EQ_SEED=<seed>``. Float32 for the outputs (what the benchmark runs);
float64 for the gradient, loss and 3-step checks, where float32 rounding (amplified by cancellation
and by Adam's per-element normalisation) would hide or fake a difference (CONTRACT.md, "Why float64").
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from models.gan import FAMILY, arch, flops, parity
from models.gan.data import make_batches
from models.gan.weights import initial_weights
from models.registry import get_spec

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")
from models.gan import tf_dcgan, torch_dcgan  # noqa: E402  (after the importorskips)

MODEL_NAMES = FAMILY.model_names

pytestmark = pytest.mark.equivalence

SEED = int(os.environ.get("FRAMEBENCH_EQ_SEED") or int.from_bytes(os.urandom(4), "little") % 2**31)
BATCH = 8
STEPS = 3
WHY = f"seed={SEED} (rerun: FRAMEBENCH_EQ_SEED={SEED})"


def _per_tensor(a: dict, b: dict, fn) -> dict[str, float]:
    return {f"{net}/{k}": fn(a[net][k], b[net][k]) for net in b for k in b[net]}


def _worst(errors: dict[str, float]) -> tuple[str, float]:
    name = max(errors, key=errors.get)
    return name, errors[name]


@pytest.fixture(scope="module", params=MODEL_NAMES)
def model(request):
    return request.param


@pytest.fixture(scope="module")
def built(model):
    """One fp32 GAN per framework, built from different seeds (so a transfer that does nothing fails)."""
    spec = get_spec(model)
    return (tf_dcgan.build(spec, batch_size=BATCH, seed=SEED, dropout=False),
            torch_dcgan.build(spec, batch_size=BATCH, seed=SEED + 1, dropout=False))


@pytest.fixture(scope="module")
def transferred(model):
    """Canonical weights taken out of a TensorFlow GAN: what the probes load (TF -> torch)."""
    spec = get_spec(model)
    return tf_dcgan.get_weights(tf_dcgan.build(spec, batch_size=BATCH, seed=SEED, dropout=False))


@pytest.fixture(scope="module")
def fp32(model, transferred):
    spec = get_spec(model)
    kw = {"weights": transferred, "batch_size": BATCH, "seed": SEED, "steps": 1}
    return parity.probe("tensorflow", spec, **kw), parity.probe("torch", spec, **kw)


@pytest.fixture(scope="module")
def fp64(model, transferred):
    spec = get_spec(model)
    kw = {"weights": transferred, "batch_size": BATCH, "seed": SEED, "steps": STEPS, "precision": "fp64"}
    return (parity.probe("tensorflow", spec, **kw),
            parity.probe("torch", spec, keras_adam=True, **kw))


# -- structure ----------------------------------------------------------------------------------
def test_param_counts_equal_layer_by_layer(model, built):
    tg, pg = built
    tf_counts, torch_counts = tf_dcgan.layer_param_counts(tg), torch_dcgan.layer_param_counts(pg)
    expected = {net: {ly.name: (ly.trainable_count(), ly.non_trainable_count())
                      for ly in arch.weight_layers(ls)}
                for net, ls in arch.networks(get_spec(model)).items()}
    assert tf_counts == expected, f"Keras counts {tf_counts} != architecture {expected}"
    assert torch_counts == expected, f"torch counts {torch_counts} != architecture {expected}"


def test_build_loads_the_canonical_initial_weights(model):
    spec = get_spec(model)
    want = initial_weights(spec, SEED)
    for mod in (tf_dcgan, torch_dcgan):
        got = mod.get_weights(mod.build(spec, batch_size=2, seed=SEED))
        for net in want:
            for k in want[net]:
                np.testing.assert_array_equal(got[net][k], want[net][k],
                                              err_msg=f"{mod.__name__} {net}/{k} {WHY}")


def test_initial_weights_follow_the_spec_initialiser(model):
    spec = get_spec(model)
    w = initial_weights(spec, SEED)
    for net, layers in arch.networks(spec).items():
        for layer in arch.weight_layers(layers):
            for p, shape in layer.param_shapes().items():
                a = w[net][f"{layer.name}.{p}"]
                assert a.shape == shape and a.dtype == np.float32
                if p == "kernel" and a.size >= 1000:
                    if spec.init == "glorot_uniform":  # compare with Keras' own initialiser
                        k = np.asarray(tf.keras.initializers.GlorotUniform(seed=1)(shape))
                        limit = np.abs(k).max()
                        assert np.abs(a).max() <= limit * 1.001 + 1e-7, f"{net}/{layer.name} {WHY}"
                        assert abs(a.std() / k.std() - 1) < 0.1, f"{net}/{layer.name} {WHY}"
                    else:
                        assert abs(a.std() / 0.02 - 1) < 0.1 and abs(a.mean()) < 0.002, f"{net}/{layer.name}"
                if p == "gamma" and spec.init == "dcgan_normal" and a.size >= 256:
                    assert abs(a.mean() - 1) < 0.01 and abs(a.std() / 0.02 - 1) < 0.25, f"{net}/{layer.name}"


# -- weight transfer ----------------------------------------------------------------------------
def _random_canonical(spec, rng) -> dict:
    w = initial_weights(spec, 0)
    out = {}
    for net in w:
        out[net] = {}
        for k, v in w[net].items():
            r = rng.standard_normal(v.shape).astype(np.float32) * 0.05
            if k.endswith("moving_variance"):
                r = rng.uniform(0.5, 2.0, v.shape).astype(np.float32)
            elif k.endswith("gamma"):
                r += 1
            out[net][k] = r
    return out


def test_weight_transfer_both_ways_is_exact_and_keeps_bn_statistics(model, built):
    tg, pg = built
    spec = get_spec(model)
    rng = np.random.default_rng(SEED)
    for src, dst, name in ((tf_dcgan, torch_dcgan, "TF -> torch"), (torch_dcgan, tf_dcgan, "torch -> TF")):
        w = _random_canonical(spec, rng)
        gan_src, gan_dst = (tg, pg) if src is tf_dcgan else (pg, tg)
        src.set_weights(gan_src, w)
        dst.set_weights(gan_dst, src.get_weights(gan_src))
        back = dst.get_weights(gan_dst)
        for net in w:
            for k in w[net]:
                np.testing.assert_array_equal(back[net][k], w[net][k], err_msg=f"{name} {net}/{k} {WHY}")
        # Inference-mode outputs use the moving statistics: equal outputs prove they mean the same.
        real, noise = make_batches(spec, BATCH, 1, SEED)
        a = tf_dcgan.forward(tg, *tg.to_framework_batches(real, noise)[0], training=False)
        b = torch_dcgan.forward(pg, *pg.to_framework_batches(real, noise)[0], training=False)
        # 1e-4: random weights (not fan-in scaled) make small logits; a wrong mapping errs by O(1).
        for k, err in parity.output_errors(a, b).items():
            assert err < 1e-4, f"{name}: inference-mode {k} output rel err {err:.2e} {WHY}"


# -- forward, float32 ---------------------------------------------------------------------------
def test_outputs_equal_fp32(model, fp32):
    a, b = fp32
    errs = parity.output_errors(a["outputs"], b["outputs"])  # G(z); D on the 2B inputs of the step
    assert max(errs.values()) < 1e-5, f"generator/discriminator outputs differ: {errs} {WHY}"
    # Losses of float32 logits: the 1e-5 output error bounds them (CONTRACT.md).
    for k in ("g_loss", "d_loss"):
        assert parity.rel_err(a[k], b[k]) < 1e-5, f"fp32 {k}: {a[k]} vs {b[k]} {WHY}"


# -- losses, gradients, 3 steps, float64 ---------------------------------------------------------
def test_losses_equal(model, fp64):
    a, b = fp64
    for k in ("g_loss", "d_loss"):
        assert parity.rel_err(a[k], b[k]) < 1e-6, f"{k}: TF {a[k]!r} torch {b[k]!r} {WHY}"
    for i, (la, lb) in enumerate(zip(a["losses"], b["losses"], strict=True)):
        assert parity.rel_err(la, lb) < 1e-6, f"losses of step {i + 1}: TF {la} torch {lb} {WHY}"


def test_every_gradient_tensor_equal(model, fp64):
    a, b = fp64
    errs = _per_tensor(a["grads"], b["grads"], parity.rel_err)
    name, worst = _worst(errs)
    assert worst < 1e-3, f"gradient {name} rel err {worst:.2e} {WHY}"


def test_parameters_after_three_steps(model, fp64, transferred):
    a, b = fp64
    grads = b["grads"]  # the trainable tensors
    errs = {f"{n}/{k}": parity.step_rel_err(a["after"][n][k], b["after"][n][k], transferred[n][k])
            for n in grads for k in grads[n]}
    name, worst = _worst(errs)
    assert worst < 0.01, f"after {STEPS} steps {name}: ‖θ_tf−θ_torch‖/‖θ_torch−θ_0‖ = {worst:.2e} {WHY}"


def test_bn_running_statistics_follow_each_convention(model, fp64, transferred):
    """Keras: v ← k·v + (1−k)·var_biased; torch: v ← k·v + (1−k)·var·n/(n−1) (unbiased), k = bn_keep.
    So torch_v − k^u·v0 = n/(n−1)·(keras_v − k^u·v0) exactly, u = number of BN calls (G: 1 per step,
    D: 2 per step). Means follow the same rule without the factor."""
    a, b = fp64
    spec = get_spec(model)
    for net, layers in arch.networks(spec, dropout=False).items():
        u = STEPS * (1 if net == "generator" else 2)
        decay = spec.bn_keep**u
        for layer in layers:
            if layer.kind != "bn":
                continue
            n = BATCH if len(layer.in_shape) == 1 else BATCH * layer.in_shape[0] * layer.in_shape[1]
            key = f"{layer.name}.moving_variance"
            v0 = transferred[net][key].astype(np.float64)  # float32 arithmetic would cancel badly
            tf_part = a["after"][net][key] - decay * v0
            torch_part = b["after"][net][key] - decay * v0
            err = parity.rel_err(torch_part, n / (n - 1) * tf_part)
            assert err < 1e-9, f"{net}/{key}: not the unbiased/biased relation, rel err {err:.2e} {WHY}"
            key = f"{layer.name}.moving_mean"
            err = parity.rel_err(a["after"][net][key], b["after"][net][key])
            assert err < 1e-9, f"{net}/{key}: rel err {err:.2e} {WHY}"


# -- optimiser ----------------------------------------------------------------------------------
def test_adam_settings_and_epsilon_hat(model, built):
    spec = get_spec(model)
    tg, pg = built
    for opt in (tg.g_opt, tg.d_opt):
        got = (float(opt.learning_rate), opt.beta_1, opt.beta_2, opt.epsilon)
        want = (spec.learning_rate, spec.adam_beta1, spec.adam_beta2, spec.adam_epsilon)
        assert np.allclose(got, want, rtol=1e-6, atol=0), f"Keras Adam {got} != spec {want}"
    for opt in (pg.g_opt, pg.d_opt):
        g = opt.param_groups[0]
        got = (g["lr"], *g["betas"], g["eps"])
        want = (spec.learning_rate, spec.adam_beta1, spec.adam_beta2, spec.adam_epsilon)
        assert np.allclose(got, want, rtol=1e-12, atol=0), f"torch Adam {got} != spec {want}"

    # Behaviour, float64, gradients spanning 1e-12..1 (where epsilon matters): Keras' optimiser is
    # epsilon-hat Adam; torch's, given keras_adam_as_torch's per-step (lr, eps), makes the same steps.
    rng = np.random.default_rng(SEED)
    x0 = rng.standard_normal(400)
    grads = [rng.standard_normal(400) * 10.0 ** rng.uniform(-12, 0, 400) for _ in range(STEPS)]
    var = tf.Variable(x0, dtype=tf.float64)
    k_opt = tf_dcgan.make_optimizer(spec)
    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    t_opt = torch_dcgan.make_optimizer([p], spec)
    m = v = np.zeros_like(x0)
    ref = x0.copy()
    b1, b2, lr32 = spec.adam_beta1, spec.adam_beta2, float(np.float32(spec.learning_rate))
    for t, g in enumerate(grads, start=1):
        k_opt.apply_gradients([(tf.constant(g), var)])
        t_opt.param_groups[0]["lr"], t_opt.param_groups[0]["eps"] = parity.keras_adam_as_torch(spec, t)
        p.grad = torch.tensor(g)
        t_opt.step()
        # Keras 3 Adam, written out (epsilon added before the bias correction of v).
        m, v = m + (g - m) * (1 - b1), v + (g * g - v) * (1 - b2)
        b1r, b2r = float(np.float32(b1)), float(np.float32(b2))  # Keras casts the betas via float32
        alpha = lr32 * np.sqrt(1 - b2r**t) / (1 - b1r**t)
        ref = ref - m * alpha / (np.sqrt(v) + spec.adam_epsilon)
    moved = np.linalg.norm(ref - x0)
    err_k = np.linalg.norm(var.numpy() - ref) / moved
    err_t = np.linalg.norm(p.detach().numpy() - ref) / moved
    assert err_k < 1e-9, f"Keras Adam is not epsilon-hat Adam with epsilon={spec.adam_epsilon}: {err_k:.2e}"
    assert err_t < 1e-9, f"torch Adam with the mapped (lr, eps) is not Keras' Adam: {err_t:.2e}"


# -- FLOPs --------------------------------------------------------------------------------------
def test_flops_match_torch_flop_counter(model):
    from torch.utils.flop_counter import FlopCounterMode

    spec = get_spec(model)
    b = 4
    gan = torch_dcgan.build(spec, batch_size=b, seed=SEED)
    ((real, noise),) = gan.to_framework_batches(*make_batches(spec, b, 1, SEED))
    with FlopCounterMode(display=False) as counter:
        gan.train_step(real, noise)
    assert counter.get_total_flops() == flops.train_step_flops(spec, b)
    # Linear in the batch size, and independent of the framework (one function, no framework input).
    assert flops.train_step_flops(spec, 2 * b) == 2 * flops.train_step_flops(spec, b)
