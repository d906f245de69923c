"""vae-mnist, TensorFlow vs PyTorch: the same model, proven equal (models/vae/CONTRACT.md, "Tests").

The DCGANs' standard (tests/test_models_equivalence.py): fresh random weights and data every run, from
one seed printed in every assertion message (rerun a failure with ``FRAMEBENCH_EQ_SEED=<seed>``);
float32 for the outputs (what the benchmark runs); float64, with torch given Keras' exact Adam
arithmetic, for the losses, the gradients and the parameters after 3 steps.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from models.vae import FAMILY, arch, flops, parity
from models.vae.data import make_batches
from models.vae.weights import initial_weights

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")
from models.vae import tf_vae, torch_vae  # noqa: E402  (after the importorskips)

pytestmark = pytest.mark.equivalence

SPEC = FAMILY.specs["vae-mnist"]
SEED = int(os.environ.get("FRAMEBENCH_EQ_SEED") or int.from_bytes(os.urandom(4), "little") % 2**31)
BATCH = 8
STEPS = 3
WHY = f"seed={SEED} (rerun: FRAMEBENCH_EQ_SEED={SEED})"
# The Keras example's model.summary(): encoder 69,076 and decoder 65,089 trainable parameters.
KERAS_EXAMPLE_PARAMS = {"encoder": 69_076, "decoder": 65_089}


def _worst(errors: dict[str, float]) -> tuple[str, float]:
    name = max(errors, key=errors.get)
    return name, errors[name]


@pytest.fixture(scope="module")
def built():
    """One fp32 VAE per framework, built from different seeds (so a transfer that does nothing fails)."""
    return (tf_vae.build(SPEC, batch_size=BATCH, seed=SEED),
            torch_vae.build(SPEC, batch_size=BATCH, seed=SEED + 1))


@pytest.fixture(scope="module")
def transferred():
    """Canonical weights taken out of a TensorFlow VAE: what the probes load (TF -> torch)."""
    return tf_vae.get_weights(tf_vae.build(SPEC, batch_size=BATCH, seed=SEED))


@pytest.fixture(scope="module")
def fp32(transferred):
    kw = {"weights": transferred, "batch_size": BATCH, "seed": SEED, "steps": 1}
    return parity.probe("tensorflow", SPEC, **kw), parity.probe("torch", SPEC, **kw)


@pytest.fixture(scope="module")
def fp64(transferred):
    kw = {"weights": transferred, "batch_size": BATCH, "seed": SEED, "steps": STEPS, "precision": "fp64"}
    return parity.probe("tensorflow", SPEC, **kw), parity.probe("torch", SPEC, keras_adam=True, **kw)


# -- structure ----------------------------------------------------------------------------------
def test_param_counts_equal_layer_by_layer(built):
    tv, pv = built
    expected = {net: {ly.name: ly.param_count() for ly in arch.weight_layers(layers)}
                for net, layers in arch.networks(SPEC).items()}
    assert tf_vae.layer_param_counts(tv) == expected, "Keras counts != architecture"
    assert torch_vae.layer_param_counts(pv) == expected, "torch counts != architecture"
    assert {net: sum(c.values()) for net, c in expected.items()} == KERAS_EXAMPLE_PARAMS
    assert arch.param_count(SPEC) == 134_165
    assert tv.encoder.count_params() + tv.decoder.count_params() == 134_165


def test_build_loads_the_canonical_initial_weights():
    want = initial_weights(SPEC, SEED)
    for mod in (tf_vae, torch_vae):
        got = mod.get_weights(mod.build(SPEC, batch_size=2, seed=SEED))
        for net in want:
            for k in want[net]:
                np.testing.assert_array_equal(got[net][k], want[net][k],
                                              err_msg=f"{mod.__name__} {net}/{k} {WHY}")


def test_initial_weights_are_keras_default_initialisation():
    """glorot_uniform kernels (compared with Keras' own GlorotUniform) and zero biases, unlike torch's
    kaiming_uniform(a=√5) weights and uniform biases."""
    w = initial_weights(SPEC, SEED)
    for net, layers in arch.networks(SPEC).items():
        for layer in arch.weight_layers(layers):
            for p, shape in layer.param_shapes().items():
                a = w[net][f"{layer.name}.{p}"]
                assert a.shape == shape and a.dtype == np.float32, f"{net}/{layer.name}.{p}"
                if p == "bias":
                    assert not a.any(), f"{net}/{layer.name}.bias is not zero"
                elif a.size >= 1000:
                    k = np.asarray(tf.keras.initializers.GlorotUniform(seed=1)(shape))
                    assert np.abs(a).max() <= np.abs(k).max() * 1.001 + 1e-7, f"{net}/{layer.name} {WHY}"
                    assert abs(a.std() / k.std() - 1) < 0.1, f"{net}/{layer.name} {WHY}"


# -- weight transfer ----------------------------------------------------------------------------
def test_weight_transfer_both_ways_is_exact(built):
    tv, pv = built
    rng = np.random.default_rng(SEED)
    images, eps = make_batches(SPEC, BATCH, 1, SEED)
    for src, dst, name in ((tf_vae, torch_vae, "TF -> torch"), (torch_vae, tf_vae, "torch -> TF")):
        w = {net: {k: (rng.standard_normal(v.shape) * 0.05).astype(np.float32) for k, v in ws.items()}
             for net, ws in initial_weights(SPEC, 0).items()}
        v_src, v_dst = (tv, pv) if src is tf_vae else (pv, tv)
        src.set_weights(v_src, w)
        dst.set_weights(v_dst, src.get_weights(v_src))
        back = dst.get_weights(v_dst)
        for net in w:
            for k in w[net]:
                np.testing.assert_array_equal(back[net][k], w[net][k], err_msg=f"{name} {net}/{k} {WHY}")
        a = tf_vae.forward(tv, *tv.to_framework_batches(images, eps)[0])
        b = torch_vae.forward(pv, *pv.to_framework_batches(images, eps)[0])
        # 1e-4: random weights (not fan-in scaled) make small outputs; a wrong mapping errs by O(1).
        for k in parity.OUTPUTS:
            err = parity.rel_err(a[k], b[k])
            assert err < 1e-4, f"{name}: {k} rel err {err:.2e} {WHY}"


# -- forward, float32 ---------------------------------------------------------------------------
def test_outputs_equal_fp32(fp32):
    a, b = fp32
    errs = {k: parity.rel_err(a["outputs"][k], b["outputs"][k]) for k in parity.OUTPUTS}
    assert max(errs.values()) < 1e-5, f"outputs differ: {errs} {WHY}"
    for k in ("loss", "reconstruction"):
        assert parity.rel_err(a["losses0"][k], b["losses0"][k]) < 1e-5, (
            f"fp32 {k}: {a['losses0'][k]} vs {b['losses0'][k]} {WHY}")
    # KL = Σ −½(1 + lv − m² − e^lv) cancels O(1) terms down to ~1e-3 at initialisation, so its float32
    # error is relative to the size of those terms, not to the KL (measured up to 8e-6 of the KL).
    m, lv = (np.asarray(b["outputs"][k], np.float64) for k in ("z_mean", "z_log_var"))
    terms = float((0.5 * (1 + np.abs(lv) + m**2 + np.exp(lv))).sum(axis=1).mean())
    diff = abs(a["losses0"]["kl"] - b["losses0"]["kl"])
    assert diff < 1e-5 * terms, f"fp32 kl: {a['losses0']['kl']} vs {b['losses0']['kl']} {WHY}"


# -- losses, gradients, 3 steps, float64 ---------------------------------------------------------
def test_losses_are_the_example_losses(fp64):
    """Each framework's losses equal the definition recomputed in numpy from its own latents and
    logits, and its z is z_mean + exp(½·z_log_var)·ε: a definition both could share wrongly."""
    for probe, name in zip(fp64, ("TF", "torch"), strict=True):
        ref = parity.reference_losses(probe["outputs"], probe["images"], probe["eps"])
        assert ref.pop("z_err") < 1e-12, f"{name}: z is not z_mean + exp(0.5 z_log_var) eps {WHY}"
        for k, want in ref.items():
            err = parity.rel_err(probe["losses0"][k], want)
            assert err < 1e-9, f"{name} {k}: {probe['losses0'][k]!r} vs definition {want!r} {WHY}"


def test_losses_equal(fp64):
    a, b = fp64
    for k in parity.LOSSES:
        err = parity.rel_err(a["losses0"][k], b["losses0"][k])
        assert err < 1e-6, f"{k}: TF {a['losses0'][k]!r} torch {b['losses0'][k]!r} {WHY}"
    for i, (la, lb) in enumerate(zip(a["losses"], b["losses"], strict=True)):
        for k in parity.LOSSES:
            assert parity.rel_err(la[k], lb[k]) < 1e-6, f"{k} of step {i + 1}: TF {la} torch {lb} {WHY}"


def test_every_gradient_tensor_equal(fp64):
    a, b = fp64
    errs = {f"{n}/{k}": parity.rel_err(a["grads"][n][k], b["grads"][n][k])
            for n in b["grads"] for k in b["grads"][n]}
    name, worst = _worst(errs)
    assert worst < 1e-3, f"gradient {name} rel err {worst:.2e} {WHY}"


def test_parameters_after_three_steps(fp64, transferred):
    a, b = fp64
    errs = {f"{n}/{k}": parity.step_rel_err(a["after"][n][k], b["after"][n][k], transferred[n][k])
            for n in b["after"] for k in b["after"][n]}
    name, worst = _worst(errs)
    assert worst < 0.01, f"after {STEPS} steps {name}: ‖θ_tf−θ_torch‖/‖θ_torch−θ_0‖ = {worst:.2e} {WHY}"


# -- optimiser ----------------------------------------------------------------------------------
def test_adam_settings_and_epsilon_hat(built):
    tv, pv = built
    want = (SPEC.learning_rate, SPEC.adam_beta1, SPEC.adam_beta2, SPEC.adam_epsilon)
    opt = tv.optimizer
    got = (float(opt.learning_rate), opt.beta_1, opt.beta_2, opt.epsilon)
    assert np.allclose(got, want, rtol=1e-6, atol=0), f"Keras Adam {got} != spec {want}"
    g = pv.optimizer.param_groups[0]
    got = (g["lr"], *g["betas"], g["eps"])
    assert np.allclose(got, want, rtol=1e-12, atol=0), f"torch Adam {got} != spec {want}"
    assert len(pv.optimizer.param_groups[0]["params"]) == len(tv.variables) == 18  # one Adam, both nets

    # Behaviour, float64, gradients spanning 1e-12..1 (where epsilon matters): Keras' optimiser is
    # epsilon-hat Adam; torch's, given keras_adam_as_torch's per-step (lr, eps), makes the same steps.
    rng = np.random.default_rng(SEED)
    x0 = rng.standard_normal(400)
    grads = [rng.standard_normal(400) * 10.0 ** rng.uniform(-12, 0, 400) for _ in range(STEPS)]
    var = tf.Variable(x0, dtype=tf.float64)
    k_opt = tf_vae.make_optimizer(SPEC)
    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    t_opt = torch_vae.make_optimizer([p], SPEC)
    m = v = np.zeros_like(x0)
    ref = x0.copy()
    b1, b2, lr32 = SPEC.adam_beta1, SPEC.adam_beta2, float(np.float32(SPEC.learning_rate))
    for t, grad in enumerate(grads, start=1):
        k_opt.apply_gradients([(tf.constant(grad), var)])
        t_opt.param_groups[0]["lr"], t_opt.param_groups[0]["eps"] = parity.keras_adam_as_torch(SPEC, t)
        p.grad = torch.tensor(grad)
        t_opt.step()
        # Keras 3 Adam, written out (epsilon added before the bias correction of v).
        m, v = m + (grad - m) * (1 - b1), v + (grad * grad - v) * (1 - b2)
        b1r, b2r = float(np.float32(b1)), float(np.float32(b2))
        alpha = lr32 * np.sqrt(1 - b2r**t) / (1 - b1r**t)
        ref = ref - m * alpha / (np.sqrt(v) + SPEC.adam_epsilon)
    moved = np.linalg.norm(ref - x0)
    assert np.linalg.norm(var.numpy() - ref) / moved < 1e-9, "Keras Adam is not epsilon-hat Adam"
    assert np.linalg.norm(p.detach().numpy() - ref) / moved < 1e-9, "torch Adam (mapped) is not Keras' Adam"


# -- FLOPs --------------------------------------------------------------------------------------
def test_flops_match_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    b = 4
    vae = torch_vae.build(SPEC, batch_size=b, seed=SEED)
    ((images, eps),) = vae.to_framework_batches(*make_batches(SPEC, b, 1, SEED))
    with FlopCounterMode(display=False) as counter:
        vae.train_step(images, eps)
    assert counter.get_total_flops() == flops.train_step_flops(SPEC, b)
    assert flops.train_step_flops(SPEC, 2 * b) == 2 * flops.train_step_flops(SPEC, b)
    assert flops.train_step_flops(SPEC, 1) == 39_852_672  # per image, stated in CONTRACT.md
