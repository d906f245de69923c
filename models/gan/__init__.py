"""The GAN family: the DCGANs (dcgan-mnist, dcgan-64) in TensorFlow (Keras 3) and PyTorch.

``spec`` (hyperparameters), ``arch`` (the one architecture), ``weights`` (canonical weights and their
transfer), ``flops`` (analytic FLOPs) and ``data`` (the (real, noise) inputs) need no framework;
``tf_dcgan`` imports TensorFlow and ``torch_dcgan`` imports PyTorch. A train step returns the named
losses {"g": generator loss, "d": discriminator loss}. Nothing here times, logs or writes files.
"""

from __future__ import annotations

from ..family import ModelFamily
from ..generate import GenerateHooks, single_call_inputs
from .data import check_data, make_batches
from .flops import generate_flops, train_step_flops
from .spec import SPECS

FAMILY = ModelFamily(
    # quick's generation (15 minutes on 2 CPU cores): one model, the cheaper DCGAN.
    default_run_scenarios={"generate": ("dcgan-mnist",)},
    name="gan",
    specs=SPECS,
    losses=("g", "d"),
    loss_labels={"g": "G", "d": "D"},
    make_inputs=make_batches,
    train_step_flops=train_step_flops,
    implementations={"tensorflow": "models.gan.tf_dcgan", "torch": "models.gan.torch_dcgan"},
    check_data=check_data,
    scenario_hooks={"generate": GenerateHooks(
        what="the generator from noise z ~ N(0, I), BatchNorm on its running statistics, no dropout",
        make_inputs=single_call_inputs(lambda spec: (spec.noise_dim,)), call_flops=generate_flops)},
    parity_note=("{frameworks} start from identical initial weights and see identical batches "
                 "(models/gan/weights.py), but their dropout masks differ, so the curves are expected to "
                 "be close, not identical."),
    # Keras' BatchNormalization casts bf16 inputs to float32 and back; torch's CPU autocast leaves
    # batch_norm to its input dtype (bf16 in and out, float32 statistics inside the kernel).
    bf16_scopes={
        "tensorflow": {"convolution": "bf16", "dense (matmul)": "bf16", "batch norm": "fp32",
                       "leaky ReLU": "bf16", "ReLU": "bf16", "dropout": "bf16", "tanh": "bf16"},
        "torch": {"convolution": "bf16", "dense (matmul)": "bf16", "batch norm": "bf16",
                  "leaky ReLU": "bf16", "ReLU": "bf16", "dropout": "bf16", "tanh": "bf16"},
    },
)
