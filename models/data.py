"""Training images as numpy arrays, framework-free, for any family that trains on images.

Nothing is ever downloaded. ``synthetic_images`` draws smooth random images from a seeded ``rng``;
``load_mnist`` reads local MNIST files: Keras' ``mnist.npz`` (arrays x_train, y_train, x_test, y_test;
x_train is used) or an IDX images file (``train-images-idx3-ubyte``, optionally gzipped). Bad files
raise ``models.family.DataError`` with a one-line message naming the path.
"""

from __future__ import annotations

import gzip
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .family import DataError

MNIST_FORMATS = ("a Keras mnist.npz (arrays x_train, y_train, x_test, y_test of 28x28 uint8 images) "
                 "or an IDX images file (idx3-ubyte, optionally gzipped)")
MNIST_SHAPE = (28, 28, 1)
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def synthetic_images(shape: tuple[int, int, int], n: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random images in [-1, 1]: a sum of a few random plane waves per channel, through tanh."""
    h, w, c = shape
    yy, xx = np.meshgrid(np.linspace(0, 1, h, dtype=np.float32), np.linspace(0, 1, w, dtype=np.float32),
                         indexing="ij")
    waves = 3
    freq = rng.uniform(0.5, 4.0, (n, 1, 1, c, waves, 2)).astype(np.float32) * 2 * np.pi
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1, c, waves)).astype(np.float32)
    arg = freq[..., 0] * yy[None, :, :, None, None] + freq[..., 1] * xx[None, :, :, None, None] + phase
    return np.tanh(1.5 * np.sin(arg).sum(axis=-1)).astype(np.float32)


def sample_images(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` images of ``pool`` in a seeded permutation, cycled when the pool holds fewer than ``n``."""
    order = np.concatenate([rng.permutation(len(pool)) for _ in range(-(-n // len(pool)))])[:n]
    return pool[order]


def step_images(spec: Any, batch_size: int, n_batches: int, rng: np.random.Generator,
                data: str = "synthetic", family_specs: Mapping[str, Any] | None = None) -> np.ndarray:
    """(n_batches, B, *spec.image_shape) images in [-1, 1]: synthetic, or drawn from a local MNIST file
    (DataError when MNIST's 28x28x1 images do not fit the model, naming those of ``family_specs`` they
    fit)."""
    if batch_size < 1 or n_batches < 1:
        raise ValueError(f"batch_size and n_batches must be >= 1 (got {batch_size}, {n_batches})")
    n = batch_size * n_batches
    if data == "synthetic":
        images = synthetic_images(spec.image_shape, n, rng)
    else:
        if spec.image_shape != MNIST_SHAPE:
            h, w, c = spec.image_shape
            fits = [name for name, other in (family_specs or {}).items() if other.image_shape == MNIST_SHAPE]
            which = f"fit only {', '.join(fits)}," if fits else "do not fit"
            raise DataError(f"{data}: MNIST images are 28x28x1 and {which} not {spec.name} ({h}x{w}x{c}); "
                            "use data 'synthetic'")
        images = sample_images(load_mnist(data), n, rng)
    return images.reshape(n_batches, batch_size, *spec.image_shape)


def check_mnist(spec: Any, data: str) -> None:
    """DataError unless ``data`` is "synthetic" or a readable MNIST file (checked once, up front).

    Whether the images fit the model is left to the family's inputs: a model they do not fit fails its
    own cells (with a one-line DataError), the rest of the run goes on.
    """
    if data != "synthetic":
        load_mnist(data)


def load_mnist(path: str | Path) -> np.ndarray:
    """MNIST training images as (N, 28, 28, 1) float32 in [-1, 1]; DataError when unreadable."""
    p = Path(path)
    if not p.is_file():
        what = "no such file" if not p.exists() else "not a regular file (a device, FIFO or directory)"
        raise DataError(f"{path}: {what}; expected {MNIST_FORMATS}")
    try:
        head = p.read_bytes()[:4]
        # .npz is a zip archive ("PK"); gzip starts with 1f 8b; anything else is tried as raw IDX.
        raw = _read_npz(p) if head[:2] == b"PK" else _read_idx(p, gzipped=head[:2] == b"\x1f\x8b")
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, struct.error, zlib.error) as e:
        raise DataError(f"{path}: unreadable ({type(e).__name__}); expected {MNIST_FORMATS}") from None
    if raw.ndim != 3 or raw.shape[1:] != (28, 28) or len(raw) == 0:
        raise DataError(f"{path}: images of shape {raw.shape}, expected (N, 28, 28); "
                        f"expected {MNIST_FORMATS}")
    return ((raw.astype(np.float32) - 127.5) / 127.5).reshape(-1, *MNIST_SHAPE)


def _read_npz(p: Path) -> np.ndarray:
    with np.load(p, allow_pickle=False) as z:
        missing = [k for k in _NPZ_KEYS if k not in z.files]
        if missing:
            raise DataError(f"{p}: npz lacks {', '.join(missing)}; expected {MNIST_FORMATS}")
        x = z["x_train"]
    if x.dtype != np.uint8:
        raise DataError(f"{p}: x_train has dtype {x.dtype}, expected uint8; expected {MNIST_FORMATS}")
    return x


def _read_idx(p: Path, gzipped: bool) -> np.ndarray:
    data = gzip.decompress(p.read_bytes()) if gzipped else p.read_bytes()
    # IDX header: two zero bytes, type code (0x08 = unsigned byte), number of dimensions, then sizes.
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08 or data[3] != 3:
        raise DataError(f"{p}: not an IDX unsigned-byte 3-D images file (bad magic number); "
                        f"expected {MNIST_FORMATS}")
    dims = struct.unpack(">3I", data[4:16])
    size = dims[0] * dims[1] * dims[2]
    if len(data) != 16 + size:
        raise DataError(f"{p}: IDX header says {dims[0]}x{dims[1]}x{dims[2]} bytes of images but the file "
                        f"holds {len(data) - 16}; expected {MNIST_FORMATS}")
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(dims)
