"""The diffusion family: a DDPM ε-prediction U-Net (ddpm-32) in TensorFlow (Keras 3) and PyTorch.

``spec`` (hyperparameters), ``arch`` (the one architecture and the forward program both frameworks
walk), ``schedule`` (noise schedule and embedding frequencies), ``weights`` (canonical weights and their
transfer), ``flops`` (analytic FLOPs) and ``data`` (the (images, t, eps) inputs) need no framework;
``tf_ddpm`` imports TensorFlow and ``torch_ddpm`` imports PyTorch. A train step returns the named loss
{"mse": ...}. Nothing here times, logs or writes files. See models/ddpm/CONTRACT.md.
"""

from __future__ import annotations

from ..family import ModelFamily
from ..generate import GenerateHooks
from .data import check_data, make_generate_inputs, make_inputs
from .flops import generate_flops, train_step_flops
from .spec import SPECS

FAMILY = ModelFamily(
    name="ddpm",
    specs=SPECS,
    losses=("mse",),
    loss_labels={"mse": "MSE"},
    make_inputs=make_inputs,
    train_step_flops=train_step_flops,
    implementations={"tensorflow": "models.ddpm.tf_ddpm", "torch": "models.ddpm.torch_ddpm"},
    check_data=check_data,
    scenario_hooks={"generate": GenerateHooks(
        what=("Ho et al.'s ancestral sampler from x_T ~ N(0, I): per denoising step the U-Net and the "
              "update rule, S steps respaced on the model's β schedule"),
        make_inputs=make_generate_inputs, call_flops=generate_flops, denoising=True)},
    # On 2 cores its cold torch.compile takes ~95 s and its XLA and eager TF processes ~30 s each: with
    # three processes per cell it alone would take ~8 of the quick profile's 15 minutes.
    in_quick_profile=False,
    parity_note=("{frameworks} start from identical initial weights (models/ddpm/weights.py) and see "
                 "identical images, timesteps and noise; the U-Net has no dropout, so the curves differ "
                 "only by float32 rounding and each framework's AdamW arithmetic (CONTRACT.md)."),
    # Keras' GroupNormalization computes in float32 and keras.ops.dot_product_attention scales and
    # softmaxes in float32; torch's CPU autocast keeps group_norm (float32 statistics inside the
    # kernel) and the fused attention kernel in bf16. The time embedding is float32 on both sides.
    bf16_scopes={
        "tensorflow": {"convolution": "bf16", "dense (matmul)": "bf16", "group norm": "fp32",
                       "sigmoid/SiLU": "bf16", "attention matmuls": "bf16", "attention softmax": "fp32",
                       "time embedding": "fp32"},
        "torch": {"convolution": "bf16", "dense (matmul)": "bf16", "group norm": "bf16",
                  "sigmoid/SiLU": "bf16", "attention matmuls": "bf16", "attention softmax": "bf16",
                  "time embedding": "fp32"},
    },
)
