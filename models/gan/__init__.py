"""The GAN family: the DCGANs (dcgan-mnist, dcgan-64) in TensorFlow (Keras 3) and PyTorch."""

from __future__ import annotations

from ..family import ModelFamily
from ..flops import train_step_flops
from ..spec import SPECS


def _make_inputs(spec, batch_size: int, n_batches: int, seed: int, data: str):
    from ..data import make_batches

    return make_batches(spec, batch_size, n_batches, seed, data)


FAMILY = ModelFamily(
    name="gan",
    specs=SPECS,
    losses=("g", "d"),
    loss_labels={"g": "G", "d": "D"},
    make_inputs=_make_inputs,
    train_step_flops=train_step_flops,
    implementations={"tensorflow": "models.tf_dcgan", "torch": "models.torch_dcgan"},
)
