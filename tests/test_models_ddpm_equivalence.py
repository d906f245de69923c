"""TensorFlow vs PyTorch: the same DDPM U-Net, proven equal (models/ddpm/CONTRACT.md, section "Tests").

Fresh random weights and data every run, from one seed printed in every assertion message; rerun a
failure with ``FRAMEBENCH_EQ_SEED=<seed>``. Float32 for the outputs at the real width (what the
benchmark runs); float64 for the loss, gradient and 3-step checks, on a 16-channel U-Net (ddpm-tiny:
the same architecture, 4× narrower) at batch 2 so that they take seconds, not minutes.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from models.ddpm import FAMILY, arch, flops, parity
from models.ddpm.data import make_inputs
from models.ddpm.spec import DDPM_32, DDPM_TINY
from models.ddpm.weights import NET, initial_weights, variance_scaling_limit

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")
from models.ddpm import tf_ddpm, torch_ddpm  # noqa: E402  (after the importorskips)

pytestmark = pytest.mark.equivalence

SEED = int(os.environ.get("FRAMEBENCH_EQ_SEED") or int.from_bytes(os.urandom(4), "little") % 2**31)
BATCH = 2
STEPS = 3
WHY = f"seed={SEED} (rerun: FRAMEBENCH_EQ_SEED={SEED})"


def _worst(errors: dict[str, float]) -> tuple[str, float]:
    name = max(errors, key=errors.get)
    return name, errors[name]


def _transferred(spec) -> dict:
    """Probe weights (glorot everywhere, random vectors) taken out of a TF model: TF -> torch."""
    model = tf_ddpm.build(spec, batch_size=BATCH, seed=SEED)
    tf_ddpm.set_weights(model, parity.probe_weights(spec, SEED))
    return tf_ddpm.get_weights(model)


@pytest.fixture(scope="module")
def fp32():
    """Both frameworks at the real width, float32: the ε prediction and the loss of one batch."""
    w = _transferred(DDPM_32)
    kw = {"weights": w, "batch_size": BATCH, "seed": SEED, "steps": 0}
    return parity.probe("tensorflow", DDPM_32, **kw), parity.probe("torch", DDPM_32, **kw)


@pytest.fixture(scope="module")
def tiny_weights():
    return _transferred(DDPM_TINY)


@pytest.fixture(scope="module")
def fp64(tiny_weights):
    kw = {"weights": tiny_weights, "batch_size": BATCH, "seed": SEED, "steps": STEPS, "precision": "fp64"}
    return (parity.probe("tensorflow", DDPM_TINY, **kw),
            parity.probe("torch", DDPM_TINY, keras_adam=True, **kw))


# -- structure ----------------------------------------------------------------------------------
def test_ddpm_param_counts_equal_layer_by_layer():
    expected = {ly.name: ly.param_count() for ly in arch.unet(DDPM_32).layers()}
    tf_counts = tf_ddpm.layer_param_counts(tf_ddpm.build(DDPM_32, batch_size=BATCH, seed=SEED))
    torch_model = torch_ddpm.build(DDPM_32, batch_size=BATCH, seed=SEED)
    assert tf_counts == expected, "Keras counts differ from the architecture"
    assert torch_ddpm.layer_param_counts(torch_model) == expected, "torch counts differ from the architecture"
    # Every parameter belongs to a canonical layer (nothing built that the contract does not list).
    assert sum(p.numel() for p in torch_model.params) == sum(expected.values()) == arch.param_count(DDPM_32)


def test_ddpm_build_loads_the_canonical_initial_weights():
    want = initial_weights(DDPM_TINY, SEED)[NET]
    for mod in (tf_ddpm, torch_ddpm):
        got = mod.get_weights(mod.build(DDPM_TINY, batch_size=BATCH, seed=SEED))[NET]
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{mod.__name__} {k} {WHY}")


def test_ddpm_initial_weights_follow_ho_et_al():
    """Variance scaling (fan_avg, uniform): scale 1 is Keras' glorot_uniform (compared with Keras' own
    initialiser), scale 1e-10 for the layers Ho et al. zero-initialise; biases 0, gamma 1, beta 0."""
    w = initial_weights(DDPM_32, SEED)[NET]
    for layer in arch.unet(DDPM_32).layers():
        for p, shape in layer.param_shapes().items():
            a = w[f"{layer.name}.{p}"]
            assert a.shape == shape and a.dtype == np.float32
            if p != "kernel":
                np.testing.assert_array_equal(a, np.ones(shape) if p == "gamma" else np.zeros(shape))
                continue
            limit = variance_scaling_limit(shape, layer.init_scale)
            assert np.abs(a).max() <= limit * (1 + 1e-6), f"{layer.name}: beyond the uniform limit {WHY}"
            if a.size >= 4096:
                assert abs(a.std() / (limit / np.sqrt(3)) - 1) < 0.1, f"{layer.name}: std {WHY}"
            if layer.init_scale == 1.0 and a.size >= 4096:
                k = np.asarray(tf.keras.initializers.GlorotUniform(seed=1)(shape))
                assert abs(np.abs(k).max() / limit - 1) < 0.01, f"{layer.name}: not glorot_uniform's limit"
    zeroed = {ly.name for ly in arch.unet(DDPM_32).layers() if ly.init_scale != 1.0}
    assert "conv_out" in zeroed and "mid_attn_proj_out" in zeroed and "down0_res0_conv2" in zeroed


# -- weight transfer ----------------------------------------------------------------------------
def test_ddpm_weight_transfer_both_ways_is_exact():
    spec = DDPM_TINY
    tm = tf_ddpm.build(spec, batch_size=BATCH, seed=SEED)
    pm = torch_ddpm.build(spec, batch_size=BATCH, seed=SEED + 1)
    data = make_inputs(spec, BATCH, 1, SEED)
    for i, (src, dst) in enumerate(((tf_ddpm, torch_ddpm), (torch_ddpm, tf_ddpm))):
        w = parity.probe_weights(spec, SEED + 10 + i)
        m_src, m_dst = (tm, pm) if src is tf_ddpm else (pm, tm)
        src.set_weights(m_src, w)
        dst.set_weights(m_dst, src.get_weights(m_src))
        back = dst.get_weights(m_dst)[NET]
        name = f"{src.__name__} -> {dst.__name__}"
        for k in w[NET]:
            np.testing.assert_array_equal(back[k], w[NET][k], err_msg=f"{name} {k} {WHY}")
        a = tf_ddpm.forward(tm, *tm.to_framework_batches(*data)[0])
        b = torch_ddpm.forward(pm, *pm.to_framework_batches(*data)[0])
        assert parity.rel_err(a, b) < 1e-5, f"{name}: outputs differ after the transfer {WHY}"


# -- forward, float32, real width ---------------------------------------------------------------
def test_ddpm_outputs_equal_fp32(fp32):
    a, b = fp32
    err = parity.rel_err(a["pred"], b["pred"])
    assert err < 1e-5, f"ε prediction rel err {err:.2e} {WHY}"
    assert parity.rel_err(a["loss"], b["loss"]) < 1e-5, f"fp32 loss {a['loss']} vs {b['loss']} {WHY}"


# -- losses, gradients, 3 steps, float64 ---------------------------------------------------------
def test_ddpm_losses_equal(fp64):
    a, b = fp64
    assert parity.rel_err(a["loss"], b["loss"]) < 1e-6, f"loss: TF {a['loss']!r} torch {b['loss']!r} {WHY}"
    for i, (la, lb) in enumerate(zip(a["losses"], b["losses"], strict=True)):
        assert parity.rel_err(la, lb) < 1e-6, f"loss of step {i + 1}: TF {la} torch {lb} {WHY}"


def test_ddpm_every_gradient_tensor_equal(fp64):
    a, b = (p["grads"][NET] for p in fp64)
    errs = {k: parity.rel_err(a[k], b[k]) for k in b if not parity.is_key_bias(k)}
    name, worst = _worst(errs)
    assert worst < 1e-3, f"gradient {name} rel err {worst:.2e} {WHY}"
    # The key biases' gradients are exactly zero (parity.is_key_bias): both must be rounding-small,
    # ~1e-18 against ~1e-2 for the key kernel's.
    for k in filter(parity.is_key_bias, b):
        scale = np.linalg.norm(b[k.replace(".bias", ".kernel")])
        for g in (a[k], b[k]):
            assert np.linalg.norm(g) < 1e-12 * scale, f"{k}: the key bias's gradient is not ~0 {WHY}"


def test_ddpm_parameters_after_three_steps(fp64, tiny_weights):
    a, b = (p["after"][NET] for p in fp64)
    w0 = tiny_weights[NET]
    errs = {k: parity.step_rel_err(a[k], b[k], w0[k]) for k in w0}
    name, worst = _worst(errs)
    assert worst < 0.01, f"after {STEPS} steps {name}: ‖θ_tf−θ_torch‖/‖θ_torch−θ_0‖ = {worst:.2e} {WHY}"


# -- optimiser ----------------------------------------------------------------------------------
def test_ddpm_adamw_settings_and_weight_decay():
    spec = DDPM_32
    want = (spec.learning_rate, spec.adam_beta1, spec.adam_beta2, spec.adam_epsilon, spec.weight_decay)
    k = tf_ddpm.make_optimizer(spec)
    got = (float(k.learning_rate), k.beta_1, k.beta_2, k.epsilon, k.weight_decay)
    assert np.allclose(got, want, rtol=1e-6, atol=0), f"Keras AdamW {got} != spec {want}"
    g = torch_ddpm.make_optimizer([torch.nn.Parameter(torch.zeros(1))], spec).param_groups[0]
    got = (g["lr"], *g["betas"], g["eps"], g["weight_decay"])
    assert np.allclose(got, want, rtol=1e-12, atol=0), f"torch AdamW {got} != spec {want}"

    # Behaviour, float64, gradients spanning 1e-12..1 (where epsilon matters) on parameters of size ~1
    # (where the decay shows): Keras' AdamW is decoupled decay then epsilon-hat Adam; torch's, given
    # keras_adamw_as_torch's per-step (lr, eps, weight_decay), takes the same steps.
    rng = np.random.default_rng(SEED)
    x0 = rng.standard_normal(400)
    grads = [rng.standard_normal(400) * 10.0 ** rng.uniform(-12, 0, 400) for _ in range(STEPS)]
    var = tf.Variable(x0, dtype=tf.float64)
    p = torch.nn.Parameter(torch.tensor(x0, dtype=torch.float64))
    t_opt = torch_ddpm.make_optimizer([p], spec)
    m = v = np.zeros_like(x0)
    ref = x0.copy()
    f32 = lambda x: float(np.float32(x))  # noqa: E731  Keras rounds lr, betas and decay via float32
    b1, b2 = spec.adam_beta1, spec.adam_beta2
    for t, grad in enumerate(grads, start=1):
        k.apply_gradients([(tf.constant(grad), var)])
        group = t_opt.param_groups[0]
        group["lr"], group["eps"], group["weight_decay"] = parity.keras_adamw_as_torch(spec, t)
        p.grad = torch.tensor(grad)
        t_opt.step()
        # Keras 3 AdamW, written out: decay θ by lr·λ first, then Adam with epsilon added before
        # the bias correction of v.
        ref = ref - ref * f32(spec.weight_decay) * f32(spec.learning_rate)
        m, v = m + (grad - m) * (1 - b1), v + (grad * grad - v) * (1 - b2)
        alpha = f32(spec.learning_rate) * np.sqrt(1 - f32(b2) ** t) / (1 - f32(b1) ** t)
        ref = ref - m * alpha / (np.sqrt(v) + spec.adam_epsilon)
    moved = np.linalg.norm(ref - x0)
    err_k = np.linalg.norm(var.numpy() - ref) / moved
    err_t = np.linalg.norm(p.detach().numpy() - ref) / moved
    assert err_k < 1e-9, f"Keras AdamW is not decoupled decay + epsilon-hat Adam (spec values): {err_k:.2e}"
    assert err_t < 1e-9, f"torch AdamW with the mapped (lr, eps, decay) is not Keras' AdamW: {err_t:.2e}"


# -- FLOPs and the attention kernel -------------------------------------------------------------
def test_ddpm_flops_match_torch_flop_counter():
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    spec = DDPM_32
    model = torch_ddpm.build(spec, batch_size=BATCH, seed=SEED)
    ((x0, t, eps),) = model.to_framework_batches(*make_inputs(spec, BATCH, 1, SEED))
    # The unfused ("math") attention runs as bmm's, which FlopCounterMode counts.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model.train_step(x0, t, eps)
    assert counter.get_total_flops() == flops.train_step_flops(spec, BATCH)
    if model.flags["sdpa_kernel"] == "flash_attention" and x0.device.type == "cpu":
        # torch's fused CPU kernel has no flop formula: FlopCounterMode sees no attention at all.
        # (This also shows the real step dispatches to the fused kernel the flags name.)
        with FlopCounterMode(display=False) as counter:
            model.train_step(x0, t, eps)
        without_attention = flops.train_step_flops(spec, BATCH) - flops.attention_flops(spec, BATCH)
        assert counter.get_total_flops() == without_attention
    assert flops.train_step_flops(spec, 2 * BATCH) == 2 * flops.train_step_flops(spec, BATCH)


def test_ddpm_attention_kernel_reaches_the_cell_flags():
    """The models name their attention op and kernel; Backend.build_model merges model.flags."""
    from bench.frameworks.base import Backend

    for framework in ("tensorflow", "torch"):
        backend = Backend.__new__(Backend)  # the shared build_model only, no framework session
        backend.cell = SimpleNamespace(framework=framework, precision="fp32", device="cpu")
        backend.settings = SimpleNamespace(seed=SEED)
        backend.flags = {}
        options = {"channels_last": False} if framework == "torch" else {}
        backend.build_model(FAMILY, DDPM_TINY, BATCH, make_inputs(DDPM_TINY, BATCH, 1, SEED), **options)
        assert backend.flags["attention_op"].endswith("dot_product_attention"), backend.flags
        assert backend.flags["sdpa_kernel"], backend.flags
    names = {"flash_attention", "efficient_attention", "math", "cudnn_attention", "overrideable"}
    assert backend.flags["sdpa_kernel"] in names, backend.flags
