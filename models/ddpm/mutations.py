"""The DDPM family's contract mutations, run by scripts/contract_mutations.py (format: see that script).

Each breaks one item of models/ddpm/CONTRACT.md with a one-line source edit; the DDPM equivalence tests
must go red for every one of them. (torch's own defaults that the spec chose, AdamW eps 1e-8 and
weight decay 0.01, cannot be broken by "forgetting" them on the torch side: no row for those.)
"""

from __future__ import annotations

TESTS = ["tests/test_models_ddpm_equivalence.py"]
TF, TORCH, WEIGHTS = "models/ddpm/tf_ddpm.py", "models/ddpm/torch_ddpm.py", "models/ddpm/weights.py"

MUTATIONS: list[dict] = [
    {"id": "ddpm-gn-eps-keras-default", "description": "Keras GroupNormalization epsilon left at Keras' 1e-3",
     "file": TF, "old": "GroupNormalization(groups=layer.groups, epsilon=self.spec.gn_epsilon, **kw)",
     "new": "GroupNormalization(groups=layer.groups, **kw)", "tests": TESTS},
    {"id": "ddpm-gn-eps-torch-default", "description": "torch GroupNorm eps left at torch's 1e-5",
     "file": TORCH, "old": "eps=spec.gn_epsilon", "new": "eps=1e-5", "tests": TESTS},
    {"id": "ddpm-down-pad-symmetric",
     "description": "stride-2 3×3 conv padded symmetrically (torch padding=1) instead of TF's (0, 1)",
     "file": TORCH, "old": "self.down(F.pad(x, (before, after, before, after)))",
     "new": "self.down(F.pad(x, (1, 1, 1, 1)))", "tests": TESTS},
    {"id": "ddpm-attn-scale", "description": "attention logits scaled by 1/C instead of 1/√C",
     "file": TORCH, "old": "self.scale = c ** -0.5", "new": "self.scale = 1.0 / c", "tests": TESTS},
    {"id": "ddpm-attn-nchw-reshape",
     "description": "torch NCHW reshaped straight to (B, H·W, C) tokens (channels and positions mixed)",
     "file": TORCH, "old": "tokens = self.norm(x).reshape(b, c, hh * ww).transpose(1, 2)",
     "new": "tokens = self.norm(x).reshape(b, hh * ww, c)", "tests": TESTS},
    {"id": "ddpm-attn-keras-heads-axis",
     "description": "keras.ops.dot_product_attention given torch's (B, heads, L, C), not (B, L, heads, C)",
     "file": TF, "old": "ops.reshape(x, (-1, h * w, 1, c))", "new": "ops.reshape(x, (-1, 1, h * w, c))",
     "tests": TESTS},
    {"id": "ddpm-upsample-bilinear", "description": "torch upsampling bilinear instead of Keras' nearest",
     "file": TORCH, "old": 'mode="nearest"', "new": 'mode="bilinear"', "tests": TESTS},
    {"id": "ddpm-temb-cos-first", "description": "time embedding [cos, sin], not Ho et al.'s [sin, cos]",
     "file": TORCH, "old": "torch.cat([torch.sin(args), torch.cos(args)], dim=1)",
     "new": "torch.cat([torch.cos(args), torch.sin(args)], dim=1)", "tests": TESTS},
    {"id": "ddpm-skip-concat-order", "description": "skip concatenated as [skip, h] instead of [h, skip]",
     "file": TORCH, "old": "torch.cat([h, hs.pop()], dim=1)", "new": "torch.cat([hs.pop(), h], dim=1)",
     "tests": TESTS},
    {"id": "ddpm-dense-layout",
     "description": "Dense kernel (in, out) reshaped to Linear's (out, in) instead of transposed",
     "file": WEIGHTS, "old": 'a = a.transpose(3, 2, 0, 1) if layer.kind == "conv" else a.T',
     "new": 'a = a.transpose(3, 2, 0, 1) if layer.kind == "conv" else a.reshape(a.shape[::-1])',
     "tests": TESTS},
    {"id": "ddpm-conv-kernel-layout", "description": "conv kernels moved HWIO->OIHW with kh and kw swapped",
     "file": WEIGHTS, "old": "a = a.transpose(3, 2, 0, 1)", "new": "a = a.transpose(3, 2, 1, 0)",
     "tests": TESTS},
    {"id": "ddpm-init-torch-default",
     "description": "torch keeps its own default init instead of the canonical initial weights",
     "file": TORCH, "old": "        set_weights(self, initial_weights(spec, seed))\n", "new": "\n",
     "tests": TESTS, "k": "initial_weights"},
    {"id": "ddpm-adamw-wd-keras-default", "description": "Keras AdamW weight decay left at Keras' 0.004",
     "file": TF, "old": "weight_decay=spec.weight_decay,", "new": "", "tests": TESTS,
     "k": "adamw or three_steps"},
    {"id": "ddpm-adamw-wd-not-lr-scaled",
     "description": "torch decay not scaled by lr (tf-addons' AdamW: θ −= λθ)",
     "file": TORCH, "old": "weight_decay=spec.weight_decay,",
     "new": "weight_decay=spec.weight_decay / spec.learning_rate,", "tests": TESTS,
     "k": "adamw or three_steps"},
    {"id": "ddpm-adamw-eps-keras-default", "description": "Keras AdamW epsilon left at Keras' 1e-7",
     "file": TF, "old": "beta_2=spec.adam_beta2, epsilon=spec.adam_epsilon)",
     "new": "beta_2=spec.adam_beta2)", "tests": TESTS, "k": "adamw or three_steps"},
]
