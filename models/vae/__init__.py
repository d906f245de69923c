"""The VAE family: the convolutional VAE of the Keras example (vae-mnist) in TensorFlow and PyTorch.

``spec`` (hyperparameters), ``arch`` (the one architecture), ``weights`` (canonical weights and their
transfer), ``flops`` (analytic FLOPs) and ``data`` (the (images, eps) inputs) need no framework;
``tf_vae`` imports TensorFlow and ``torch_vae`` imports PyTorch. A train step returns the named losses
{"loss": the optimised total, "reconstruction": BCE summed over pixels, "kl": KL to N(0, I)}, each a
batch mean. Nothing here times, logs or writes files. The contract: models/vae/CONTRACT.md.
"""

from __future__ import annotations

from ..family import ModelFamily
from ..generate import GenerateHooks, single_call_inputs
from .data import check_data, make_batches
from .flops import generate_flops, train_step_flops
from .spec import SPECS

FAMILY = ModelFamily(
    name="vae",
    specs=SPECS,
    losses=("loss", "reconstruction", "kl"),
    loss_labels={"loss": "total", "reconstruction": "reconstruction", "kl": "KL"},
    make_inputs=make_batches,
    train_step_flops=train_step_flops,
    implementations={"tensorflow": "models.vae.tf_vae", "torch": "models.vae.torch_vae"},
    check_data=check_data,
    scenario_hooks={"generate": GenerateHooks(
        what="the decoder and its sigmoid from a latent z ~ N(0, I)",
        make_inputs=single_call_inputs(lambda spec: (spec.latent_dim,)), call_flops=generate_flops)},
    parity_note=("{frameworks} start from identical initial weights, see identical batches and identical "
                 "reparameterisation noise (models/vae/data.py), and nothing in the step is random, so "
                 "the curves should agree closely; they are not identical because of floating-point "
                 "rounding and Adam's epsilon convention (models/vae/CONTRACT.md)."),
    # The same on both sides: every layer in bf16; the latents and logits are cast to float32 for
    # the reparameterisation and the losses (CONTRACT.md).
    bf16_scopes={fw: {"convolution": "bf16", "dense (matmul)": "bf16", "ReLU": "bf16"}
                 for fw in ("tensorflow", "torch")},
)
