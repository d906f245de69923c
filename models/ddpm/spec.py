"""One shared spec of the DDPM U-Net's hyperparameters: both frameworks build from these values.

Framework-specific conventions (GroupNorm epsilon, 'same' padding, AdamW's epsilon and weight decay...)
are translated from this spec by each implementation; models/ddpm/CONTRACT.md lists every translation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DDPMSpec:
    name: str
    image_shape: tuple[int, int, int]  # (height, width, channels), NHWC order
    batch_size: int  # the model's default batch size
    base_channels: int  # Ho et al.'s ``ch``
    channel_mults: tuple[int, ...]  # one per resolution level; a stride-2 conv between levels
    num_res_blocks: int  # residual blocks per level on the way down (one more on the way up)
    attn_resolutions: tuple[int, ...]  # spatial sizes with a self-attention block after each res block
    groups: int  # GroupNorm groups
    gn_epsilon: float  # passed explicitly to both (Keras' default is 1e-3, torch's 1e-5)
    temb_mult: int  # time-embedding MLP width = temb_mult * base_channels
    timesteps: int  # T
    beta_start: float  # linear beta schedule from beta_start to beta_end over T steps
    beta_end: float
    learning_rate: float  # AdamW
    adam_beta1: float
    adam_beta2: float
    adam_epsilon: float  # as passed to torch.optim.AdamW (Keras' epsilon is "epsilon hat")
    weight_decay: float  # decoupled: theta -= lr * weight_decay * theta in both (CONTRACT.md)

    @property
    def temb_channels(self) -> int:
        return self.temb_mult * self.base_channels


DDPM_32 = DDPMSpec(
    name="ddpm-32",
    image_shape=(32, 32, 3),
    batch_size=64,
    base_channels=64,
    channel_mults=(1, 2, 2),
    num_res_blocks=2,
    attn_resolutions=(16,),
    groups=32,
    gn_epsilon=1e-6,  # Ho et al.'s (tf.contrib.layers.group_norm's default); neither framework's
    temb_mult=4,
    timesteps=1000,
    beta_start=1e-4,
    beta_end=0.02,
    learning_rate=2e-4,
    adam_beta1=0.9,
    adam_beta2=0.999,
    adam_epsilon=1e-8,  # Ho et al.'s (TF1 AdamOptimizer) and torch's default; Keras' is 1e-7
    weight_decay=0.01,  # torch AdamW's default; Keras AdamW's is 0.004
)

# A reduced width (16 channels, 8 groups: the same channels per group as ddpm-32) for the float64
# equivalence checks, where a full-width step would take tens of seconds. Not a benchmark model.
DDPM_TINY = DDPMSpec(**{**DDPM_32.__dict__, "name": "ddpm-tiny", "base_channels": 16, "groups": 8})

# The family's models, in report order (models.registry.get_spec looks them up by name).
SPECS: dict[str, DDPMSpec] = {DDPM_32.name: DDPM_32}
