"""The compiled torch step the harness runs: the family's modules compiled (``compile_modules``), the
step around them eager. It gives the eager losses, and the FLOPs it executes, counted with the profiler
(bench/frameworks/torch/flopcount.py), are the eager step's: exactly for the VAE and the DDPM; for the
GAN plus exactly the work AOTAutograd's fixed compiled backward adds (the discriminator's weight
gradients on the generator's backward call, and its first layer's input gradient on the
discriminator's: CONTRACT.md). Compiling the whole step instead computes every gradient on both
backward calls. Compiling takes tens of seconds on 2 cores: the compile tests are slow."""

from __future__ import annotations

import numpy as np
import pytest

from models.gan.arch import networks
from models.gan.flops import layer_flops
from models.registry import family_of, get_spec

torch = pytest.importorskip("torch")
tb = pytest.importorskip("bench.frameworks.torch.backend")
fc = pytest.importorskip("bench.frameworks.torch.flopcount")

B = 2
MODELS = {"dcgan-mnist": {"dropout": False}, "vae-mnist": {}, "ddpm-32": {}}


def _build(model: str, **kw):
    family, spec = family_of(model), get_spec(model)
    m = family.implementation("torch").build(spec, batch_size=B, seed=1, **MODELS[model], **kw)
    batches = m.to_framework_batches(*family.make_inputs(spec, B, 3, 3, "synthetic"))
    return m, batches, family


def _run(step, batches, names):
    """Losses of steps 0 and 1, and the FLOPs counted on step 2."""
    losses = [[float(step(*b)[n]) for n in names] for b in batches[:2]]
    return np.array(losses), fc.count_flops(lambda: step(*batches[2])).total


def test_eager_count_is_flopcountermodes_and_the_analytic_count():
    from torch.utils.flop_counter import FlopCounterMode

    for model in ("dcgan-mnist", "vae-mnist"):
        m, batches, family = _build(model)
        with FlopCounterMode(display=False) as counter:
            m.train_step(*batches[0])
        counted = fc.count_flops(lambda m=m, b=batches[1]: m.train_step(*b))
        assert counted.total == counter.get_total_flops() == family.train_step_flops(get_spec(model), B)


def test_eager_mode_is_the_train_step_and_a_family_without_the_hook_compiles_the_step():
    m, _, _ = _build("vae-mnist")
    step, scope = tb.compiled_step(m, "eager")
    assert step == m.train_step and scope == "nothing"

    class NoHook:
        def train_step(self):
            return {}

    _, scope = tb.compiled_step(NoHook(), "compile")
    assert scope == "train_step"
    with pytest.raises(ValueError, match="unknown torch mode"):
        tb.compiled_step(m, "jit")


def _gan_waste(batch: int) -> int:
    """What the compiled discriminator's fake-path backward adds: its weight gradients (= its forward
    FLOPs) on the generator's backward, its first layer's input gradient on the discriminator's."""
    layers = networks(get_spec("dcgan-mnist"))["discriminator"]
    per = [f for f in (layer_flops(ly, batch) for ly in layers) if f]
    return sum(per) + per[0]


@pytest.mark.slow
@pytest.mark.parametrize("model", list(MODELS))
def test_compiled_modules_give_the_eager_losses_and_flops(model):
    eager, batches, family = _build(model)
    want_losses, want_flops = _run(eager.train_step, batches, family.losses)
    torch._dynamo.reset()
    compiled, batches, _ = _build(model)
    step, scope = tb.compiled_step(compiled, "compile")
    assert scope == "modules" and compiled.flags["compiled"] != "nothing"
    losses, flops = _run(step, batches, family.losses)
    np.testing.assert_allclose(losses[0], want_losses[0], rtol=1e-4, atol=1e-5)
    # After one Adam step, looser: its first update is lr·sign(g), so a gradient element that Inductor's
    # reordered sums round to the other sign moves its weight by 2·lr (models/gan/CONTRACT.md, "Why
    # float64"). The VAE's small KL term shows it first: 0.75% apart on a Zen 4 (AVX-512) machine.
    np.testing.assert_allclose(losses[1], want_losses[1], rtol=2e-2, atol=1e-5)
    assert flops == want_flops + (_gan_waste(B) if model == "dcgan-mnist" else 0)


@pytest.mark.slow
def test_compiling_the_whole_gan_step_computes_every_gradient_twice():
    eager, batches, family = _build("dcgan-mnist")
    _, eager_flops = _run(eager.train_step, batches, family.losses)
    torch._dynamo.reset()
    whole, batches, _ = _build("dcgan-mnist")
    _, flops = _run(torch.compile(whole.train_step), batches, family.losses)
    assert flops > eager_flops + _gan_waste(B)  # the former harness structure: +59%
