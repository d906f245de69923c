"""The DDPM family's framework-free parts: spec, architecture, schedule, inputs, FLOPs, registration."""

from __future__ import annotations

import numpy as np
import pytest

from models.ddpm import FAMILY, arch, flops
from models.ddpm.data import check_data, make_inputs
from models.ddpm.schedule import betas, embedding_frequencies, noising_tables
from models.ddpm.spec import DDPM_32, DDPM_TINY
from models.family import DataError
from models.registry import family_of, get_spec


def test_registered_as_a_family_with_one_named_loss():
    assert family_of("ddpm-32") is FAMILY and get_spec("ddpm-32") is DDPM_32
    assert FAMILY.losses == ("mse",) and "ddpm-tiny" not in FAMILY.specs  # tiny: checks only
    assert FAMILY.implementations == {"tensorflow": "models.ddpm.tf_ddpm", "torch": "models.ddpm.torch_ddpm"}


def test_the_stated_size_and_flops():
    # The figures CONTRACT.md states (and the closing note quotes).
    assert arch.param_count(DDPM_32) == 6_472_195
    assert flops.train_step_flops(DDPM_32, 1) == 9_521_102_848
    assert flops.forward_flops(DDPM_32, 1) == 3_174_891_520
    assert flops.attention_flops(DDPM_32, 1) == 509_607_936
    for b in (1, 16, 64):
        assert flops.train_step_flops(DDPM_32, b) == b * flops.train_step_flops(DDPM_32, 1)


def test_architecture_matches_ho_et_al_at_width_64():
    net = arch.unet(DDPM_32)
    # Stride-2 3×3 convs on even sizes: TF 'SAME' pads (0, 1); 32 -> 16 -> 8.
    downs = [lvl.resample for lvl in net.down if lvl.resample]
    assert [(ly.pads, ly.size) for ly in downs] == [((0, 1), 16), ((0, 1), 8)]
    ups = [lvl.resample for lvl in net.up if lvl.resample]
    assert [(ly.pads, ly.size) for ly in ups] == [((1, 1), 16), ((1, 1), 32)]
    attn = [(b.name, b.size, b.channels) for b in net.attention_blocks()]
    assert [a for a in attn if a[1] == 16] == [("down1_attn0", 16, 128), ("down1_attn1", 16, 128),
                                               ("up1_attn0", 16, 128), ("up1_attn1", 16, 128),
                                               ("up1_attn2", 16, 128)]
    assert ("mid_attn", 8, 128) in attn and len(attn) == 6
    res = [b for b in net.blocks() if isinstance(b, arch.ResBlock)]
    assert len(res) == 3 * 2 + 2 + 3 * 3
    assert all(ly.groups == 32 for ly in net.layers() if ly.kind == "gn")
    assert net.temb[0].cout == net.temb[1].cout == 256
    ops = [op for op, _ in arch.program(net)]
    assert ops.count("push") == ops.count("concat") == 9  # every skip used once
    # The tiny spec is the same graph, 4× narrower, with the same channels per group.
    tiny = arch.unet(DDPM_TINY)
    assert [(b.name, b.size) for b in tiny.blocks()] == [(b.name, b.size) for b in net.blocks()]
    assert DDPM_TINY.base_channels / DDPM_TINY.groups == DDPM_32.base_channels / DDPM_32.groups


def test_schedule_is_ho_et_al_linear():
    b = betas(DDPM_32)
    assert b.shape == (1000,) and b[0] == 1e-4 and b[-1] == pytest.approx(0.02, abs=1e-15)
    a, s = noising_tables(DDPM_32)
    np.testing.assert_allclose(a**2 + s**2, 1.0, rtol=0, atol=1e-15)
    assert a[0] ** 2 == pytest.approx(1 - 1e-4) and a[-1] ** 2 == pytest.approx(4.0358e-5, rel=1e-4)
    assert np.all(np.diff(a) < 0)
    f = embedding_frequencies(DDPM_32)
    assert f.shape == (32,) and f[0] == 1.0 and f[-1] == pytest.approx(1e-4)


def test_inputs_are_seeded_images_timesteps_and_noise():
    images, t, eps = make_inputs(DDPM_32, 4, 3, seed=7)
    assert images.shape == eps.shape == (3, 4, 32, 32, 3) and t.shape == (3, 4)
    assert images.dtype == eps.dtype == np.float32 and t.dtype == np.int32
    assert images.min() >= -1 and images.max() <= 1 and t.min() >= 0 and t.max() < 1000
    again = make_inputs(DDPM_32, 4, 3, seed=7)
    other = make_inputs(DDPM_32, 4, 3, seed=8)
    for x, y, z in zip((images, t, eps), again, other, strict=True):
        np.testing.assert_array_equal(x, y)
        assert not np.array_equal(x, z)
    with pytest.raises(ValueError):
        make_inputs(DDPM_32, 0, 1, seed=0)


def test_data_other_than_synthetic_is_one_line_error(tmp_path):
    check_data(DDPM_32, "synthetic")
    with pytest.raises(DataError, match="no such file"):
        check_data(DDPM_32, str(tmp_path / "missing.npz"))
    with pytest.raises(DataError, match="synthetic") as e:
        make_inputs(DDPM_32, 2, 1, seed=0, data=str(tmp_path / "mnist.npz"))
    assert "\n" not in str(e.value)
