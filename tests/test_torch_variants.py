"""torch's performance variants: Adam's foreach and fused kernels (the same update) and channels-last on
CPU as on CUDA, in the full profile; the plan passes the Adam implementation to the model's build, and
the model records which kernel it runs."""

from __future__ import annotations

import numpy as np
import pytest
from worker_helpers import fake_cell

from bench.frameworks.torch import flags as torch_flags
from bench.frameworks.torch.descriptor import DESCRIPTOR
from bench.results.records import RunSettings


def _extras(profile, mode, device):
    return DESCRIPTOR.extra_variants(profile, mode, device, {})


def test_full_profile_adds_adam_variants_and_channels_last_on_cpu():
    assert set(_extras("full", "eager", "cpu")) == {"channels-last", "adam-foreach", "adam-fused"}
    assert set(_extras("full", "compile", "cpu")) == {"channels-last", "adam-foreach", "adam-fused",
                                                      "adam-compiled", "warm-cache"}


def test_cuda_has_no_adam_foreach_variant_since_it_is_the_default_there():
    assert set(_extras("full", "eager", "cuda")) == {"channels-last", "adam-fused", "tf32"}
    assert "adam-foreach" not in _extras("full", "reduce-overhead", "cuda")


def test_tf32_variant_is_cuda_fp32_only_and_labels_the_cell():
    from bench.worker import flags as flagplan

    assert DESCRIPTOR.variant_skip_reason("eager", "cpu", "tf32") == "tf32 applies to cuda only"
    assert DESCRIPTOR.variant_skip_reason("eager", "cuda", "tf32", "bf16") == "tf32 applies to fp32 only"
    off = flagplan.plan_flags(fake_cell(device="cuda"), RunSettings())
    on = flagplan.plan_flags(fake_cell(device="cuda", variant="tf32"), RunSettings())
    assert (off["tf32"], off["tf32_label"]) == (False, "TF32 off (both)")
    assert (on["tf32"], on["tf32_label"]) == (True, "TF32 on (matmul and conv, both)")
    assert flagplan.plan_flags(fake_cell(device="cpu"), RunSettings())["tf32_label"] is None


def test_quick_profile_adds_the_tuned_candidates_on_cpu_only():
    """quick's tuned candidates: the fused Adam kernel in eager mode, and the optimizer step compiled with
    the modules (the scope of a traced step); nothing on CUDA (the gpu profile's budget)."""
    assert _extras("quick", "eager", "cpu") == ("adam-fused",)
    assert _extras("quick", "compile", "cpu") == ("adam-compiled",)
    for mode in DESCRIPTOR.mode_names:
        assert _extras("quick", mode, "cuda") == ()
    assert DESCRIPTOR.variant_skip_reason("eager", "cpu", "adam-compiled") == (
        "adam-compiled applies to compiled modes only")


def test_plan_compiles_the_optimizer_in_compiled_modes_only():
    compiled = fake_cell(mode="compile", variant="adam-compiled")
    assert torch_flags.plan(compiled, RunSettings())["compile_optimizer"]
    assert not torch_flags.plan(fake_cell(mode="compile"), RunSettings())["compile_optimizer"]
    assert not torch_flags.plan(fake_cell(variant="adam-compiled"), RunSettings())["compile_optimizer"]


@pytest.mark.parametrize(("variant", "optimizer"), [("default", "default"), ("adam-foreach", "foreach"),
                                                     ("adam-fused", "fused"), ("channels-last", "default")])
def test_plan_names_the_adam_implementation(variant, optimizer):
    plan = torch_flags.plan(fake_cell(variant=variant), RunSettings())
    assert plan["optimizer"] == optimizer
    assert plan["channels_last"] is (variant == "channels-last")


def test_plan_describes_the_shared_sync():
    assert torch_flags.plan(fake_cell(device="cuda"), RunSettings())["sync"] == "torch.cuda.synchronize()"
    assert "synchronous" in torch_flags.plan(fake_cell(device="cpu"), RunSettings())["sync"]


def test_every_variant_applies_to_cpu_and_cuda():
    for v in ("channels-last", "adam-foreach", "adam-fused"):
        for device in ("cpu", "cuda"):
            assert DESCRIPTOR.variant_skip_reason("eager", device, v) is None


# -- the models ------------------------------------------------------------------------------------
torch = pytest.importorskip("torch")


def _gan(optimizer="default"):
    from models.gan import torch_dcgan
    from models.registry import get_spec

    return torch_dcgan.build(get_spec("dcgan-mnist"), batch_size=2, dropout=False, seed=1,
                             optimizer=optimizer)


def test_cpu_default_is_torchs_single_tensor_loop_and_the_flags_say_so():
    gan = _gan()
    assert gan.flags["optimizer"] == "default"
    assert gan.flags["adam_implementation"] == "single-tensor"  # torch defaults foreach on CUDA only
    assert _gan("foreach").flags["adam_implementation"] == "foreach"
    assert _gan("fused").flags["adam_implementation"] == "fused"
    assert _gan("single-tensor").flags["adam_implementation"] == "single-tensor"
    with pytest.raises(ValueError, match="unknown optimizer"):
        _gan("lamb")


@pytest.mark.parametrize("family", ["gan", "vae", "ddpm"])
def test_every_family_builds_with_each_adam_implementation(family):
    import importlib

    from models.registry import family_of, get_spec

    model = {"gan": "dcgan-mnist", "vae": "vae-mnist", "ddpm": "ddpm-32"}[family]
    impl = importlib.import_module(family_of(model).implementations["torch"])
    for opt in ("foreach", "fused"):
        m = impl.build(get_spec(model), batch_size=2, seed=0, optimizer=opt)
        assert m.flags["adam_implementation"] == opt


def test_foreach_and_fused_adam_train_like_the_default():
    from models.gan.data import make_batches
    from models.registry import get_spec

    data = make_batches(get_spec("dcgan-mnist"), 2, 3, seed=3)
    losses = {}
    for opt in ("default", "foreach", "fused"):
        gan = _gan(opt)
        steps = [gan.train_step(*b) for b in gan.to_framework_batches(*data)]
        losses[opt] = np.array([[float(s["g"]), float(s["d"])] for s in steps])
    for opt in ("foreach", "fused"):
        np.testing.assert_allclose(losses[opt], losses["default"], rtol=1e-5, atol=1e-6, err_msg=opt)
