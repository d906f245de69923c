"""models.data and models.gan.data: deterministic synthetic batches, MNIST from local files,
one-line DataErrors (models' own error: models never imports bench)."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.data import load_mnist
from models.family import DataError
from models.gan import FAMILY
from models.gan.data import check_data, make_batches
from models.registry import get_spec

MNIST = get_spec("dcgan-mnist")
D64 = get_spec("dcgan-64")


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


def _write_npz(path, x: np.ndarray) -> None:
    np.savez(path, x_train=x, y_train=np.zeros(len(x), np.uint8), x_test=x[:2],
             y_test=np.zeros(2, np.uint8))


def _idx_bytes(x: np.ndarray) -> bytes:
    return b"\0\0\x08\x03" + struct.pack(">3I", *x.shape) + x.tobytes()


@pytest.mark.parametrize("spec", [MNIST, D64], ids=lambda s: s.name)
def test_synthetic_batches_shape_range_and_determinism(spec):
    real, noise = make_batches(spec, 3, 2, seed=4)
    assert real.shape == (2, 3, *spec.image_shape) and real.dtype == np.float32
    assert noise.shape == (2, 3, spec.noise_dim) and noise.dtype == np.float32
    assert real.min() >= -1 and real.max() <= 1 and real.std() > 0.2
    again = make_batches(spec, 3, 2, seed=4)
    np.testing.assert_array_equal(real, again[0])
    np.testing.assert_array_equal(noise, again[1])
    other = make_batches(spec, 3, 2, seed=5)
    assert not np.array_equal(real, other[0]) and not np.array_equal(noise, other[1])


def test_mnist_npz_is_read_scaled_and_cycled(tmp_path):
    x = _images(5)
    path = tmp_path / "mnist.npz"
    _write_npz(path, x)
    pool = load_mnist(path)
    assert pool.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(pool[..., 0], (x.astype(np.float32) - 127.5) / 127.5)
    real, noise = make_batches(MNIST, 4, 3, seed=1, data=str(path))  # 12 images from 5: cycled
    assert real.shape == (3, 4, 28, 28, 1) and noise.shape == (3, 4, 100)
    flat = real.reshape(12, -1)
    assert all(any(np.array_equal(row, p.ravel()) for p in pool) for row in flat)
    np.testing.assert_array_equal(real, make_batches(MNIST, 4, 3, seed=1, data=str(path))[0])


@pytest.mark.parametrize("gzipped", [False, True])
def test_mnist_idx_plain_and_gzipped(tmp_path, gzipped):
    x = _images(6, seed=2)
    raw = _idx_bytes(x)
    path = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gzipped else ""))
    path.write_bytes(gzip.compress(raw) if gzipped else raw)
    pool = load_mnist(path)
    np.testing.assert_allclose(pool[..., 0], (x.astype(np.float32) - 127.5) / 127.5)
    real, _ = make_batches(MNIST, 2, 2, seed=0, data=str(path))
    assert real.shape == (2, 2, 28, 28, 1)


def _bad_files(tmp_path):
    x = _images(3)
    cases = {}
    cases["missing"] = tmp_path / "nope.npz"
    p = tmp_path / "text.npz"
    p.write_text("not an archive")
    cases["not a data file"] = p
    p = tmp_path / "keys.npz"
    np.savez(p, images=x)
    cases["npz without x_train"] = p
    p = tmp_path / "shape.npz"
    _write_npz(p, np.zeros((3, 32, 32), np.uint8))
    cases["npz wrong image size"] = p
    p = tmp_path / "dtype.npz"
    _write_npz(p, x.astype(np.float32))
    cases["npz float images"] = p
    p = tmp_path / "labels-idx1-ubyte"
    p.write_bytes(b"\0\0\x08\x01" + struct.pack(">I", 3) + bytes(3))
    cases["idx labels file"] = p
    p = tmp_path / "short-idx3-ubyte"
    p.write_bytes(_idx_bytes(x)[:-10])
    cases["truncated idx"] = p
    p = tmp_path / "broken.gz"
    p.write_bytes(gzip.compress(_idx_bytes(x))[:30])
    cases["truncated gzip"] = p
    p = tmp_path / "empty"
    p.write_bytes(b"")
    cases["empty file"] = p
    return cases


def test_malformed_or_missing_files_give_one_line_data_error(tmp_path):
    for what, path in _bad_files(tmp_path).items():
        with pytest.raises(DataError) as info:
            make_batches(MNIST, 2, 1, seed=0, data=str(path))
        msg = str(info.value)
        assert str(path) in msg, f"{what}: message does not name the path: {msg}"
        assert "\n" not in msg and "mnist.npz" in msg and "IDX" in msg, f"{what}: {msg}"


def test_data_error_is_a_value_error_and_models_import_no_bench():
    assert issubclass(DataError, ValueError)
    code = ("import sys, models.registry, models.data, models.gan.data, models.gan.parity\n"
            "models.registry.families()\n"
            "print(sorted(m for m in sys.modules if m == 'bench' or m.startswith('bench.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_family_inputs_and_data_check(tmp_path):
    assert FAMILY.make_inputs is make_batches
    inputs = FAMILY.make_inputs(MNIST, 2, 3, 0, "synthetic")
    assert [a.shape[0] for a in inputs] == [3, 3]  # a leading n_batches axis on every input
    path = tmp_path / "mnist.npz"
    _write_npz(path, _images(4))
    FAMILY.check_data(MNIST, str(path))
    FAMILY.check_data(D64, "synthetic")
    check_data(D64, str(path))  # a readable file; that it does not fit dcgan-64 fails those cells only
    with pytest.raises(DataError, match="no such file"):
        check_data(D64, str(tmp_path / "missing.npz"))
    p = tmp_path / "bad.npz"
    p.write_text("junk")
    with pytest.raises(DataError, match="bad magic number"):
        FAMILY.check_data(MNIST, str(p))


def test_mnist_for_dcgan_64_is_a_data_error(tmp_path):
    path = tmp_path / "mnist.npz"
    _write_npz(path, _images(4))
    with pytest.raises(DataError, match="dcgan-mnist") as info:
        make_batches(D64, 2, 1, seed=0, data=str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)
