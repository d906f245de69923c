"""vae-mnist's family entry and step inputs (framework-free): registered by its package alone, images
in [0, 1] and ε drawn with numpy from the seed, MNIST files scaled as the Keras example (x / 255)."""

from __future__ import annotations

import numpy as np
import pytest

from models.family import DataError
from models.registry import family_of, get_spec, model_names
from models.vae import FAMILY
from models.vae.data import check_data, make_batches

SPEC = get_spec("vae-mnist")


def test_registered_by_its_package():
    assert "vae-mnist" in model_names()
    assert family_of("vae-mnist") is FAMILY
    assert FAMILY.losses == ("loss", "reconstruction", "kl")
    assert set(FAMILY.implementations) == {"tensorflow", "torch"}
    assert SPEC.batch_size == 128 and SPEC.image_shape == (28, 28, 1) and SPEC.latent_dim == 2


def test_inputs_are_images_in_unit_range_and_seeded_noise():
    images, eps = FAMILY.make_inputs(SPEC, 4, 3, 7, "synthetic")
    assert images.shape == (3, 4, 28, 28, 1) and eps.shape == (3, 4, 2)
    assert images.dtype == eps.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.std() > 0.1
    again = make_batches(SPEC, 4, 3, 7)
    np.testing.assert_array_equal(images, again[0])
    np.testing.assert_array_equal(eps, again[1])
    assert not np.array_equal(eps, make_batches(SPEC, 4, 3, 8)[1])
    big = make_batches(SPEC, 256, 4, 0)[1]
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05


def test_mnist_file_is_scaled_like_the_example(tmp_path):
    raw = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=raw, y_train=np.zeros(5), x_test=raw[:1], y_test=np.zeros(1))
    check_data(SPEC, str(path))
    images, _ = make_batches(SPEC, 5, 1, 0, data=str(path))
    got = np.sort(images.reshape(5, -1), axis=0)
    want = np.sort(raw.reshape(5, -1).astype(np.float64) / 255.0, axis=0)
    np.testing.assert_allclose(got, want, atol=1e-6)  # a permutation of x / 255
    with pytest.raises(DataError, match="no such file"):
        check_data(SPEC, str(tmp_path / "missing.npz"))
