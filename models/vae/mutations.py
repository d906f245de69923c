"""The VAE family's contract mutations, run by scripts/contract_mutations.py (format: see that script).

Each breaks one item of models/vae/CONTRACT.md with a one-line source edit; the listed tests must go red.
"""

from __future__ import annotations

EQ = ["tests/test_models_vae_equivalence.py"]
TORCH = "models/vae/torch_vae.py"
TF = "models/vae/tf_vae.py"
INIT_LINE = "        set_weights(self, initial_weights(spec, seed))\n"
# What the VAE shares with the other families (an edit there breaks them too).
LAYERS, WEIGHTS = "models/common/torch_layers.py", "models/common/weights.py"
TORCH_COMMON, PARITY = "models/common/torch_common.py", "models/common/parity.py"

MUTATIONS: list[dict] = [
    {"id": "vae-conv-pad-shift",
     "description": "stride-2 3×3 'same' conv padded (1, 0) like torch's `padding=1`, not TF's (0, 1)",
     "file": LAYERS, "old": "nn.ZeroPad2d((before, after, before, after))",
     "new": "nn.ZeroPad2d((after, before, after, before))", "tests": EQ},
    {"id": "vae-convt-crop-shift",
     "description": ("stride-2 'same' ConvTranspose cropped (1, 0) like `padding=1, output_padding=1`, "
                     "not (0, 1)"),
     "file": LAYERS, "old": "Crop(before - sym, after - sym)", "new": "Crop(after - sym, before - sym)",
     "tests": EQ},
    {"id": "vae-flatten-order",
     "description": "Flatten → Dense: kernel rows not permuted (h,w,c) → (c,h,w) for torch",
     "file": WEIGHTS, "old": "a = a[hwc_to_chw(ly.in_hwc), :]", "new": "a = a[:, :]",
     "tests": EQ},
    {"id": "vae-reshape-order",
     "description": "Dense → Reshape: kernel columns not permuted (h,w,c) → (c,h,w) for torch",
     "file": WEIGHTS, "old": "a = a[:, hwc_to_chw(ly.out_hwc)]", "new": "a = a[:, :]",
     "tests": EQ},
    {"id": "vae-image-axes",
     "description": "NHWC → NCHW input conversion swaps H and W (permute(0, 3, 2, 1))",
     "file": TORCH_COMMON, "old": ".permute(0, 3, 1, 2)", "new": ".permute(0, 3, 2, 1)", "tests": EQ},
    {"id": "vae-kernel-layout",
     "description": "(transposed-)conv kernels moved to torch with kh and kw swapped",
     "file": WEIGHTS, "old": "a = a.transpose(3, 2, 0, 1)",
     "new": "a = a.transpose(3, 2, 1, 0)", "tests": EQ},
    {"id": "vae-convt-kernel-flip",
     "description": ("ConvTranspose kernels spatially flipped for torch (both are the adjoint of a "
                     "correlation)"),
     "file": WEIGHTS, "old": "a = a.transpose(3, 2, 0, 1)",
     "new": "a = a.transpose(3, 2, 0, 1)[..., ::-1, ::-1] if ly.kind == 'convt' else a.transpose(3, 2, 0, 1)",
     "tests": EQ},
    {"id": "vae-init-torch-default",
     "description": "torch keeps its own init (kaiming_uniform, uniform biases), not the canonical weights",
     "file": TORCH, "old": INIT_LINE, "new": "\n", "tests": EQ},
    {"id": "vae-init-keras-default",
     "description": "Keras keeps its own (unseeded) glorot draw, not the canonical weights",
     "file": TF, "old": INIT_LINE, "new": "\n", "tests": EQ},
    {"id": "vae-adam-eps-torch-default", "description": "torch Adam eps left at torch's default 1e-8",
     "file": TORCH_COMMON, "old": "eps=spec.adam_epsilon", "new": "eps=1e-8", "tests": EQ},
    {"id": "vae-adam-eps-hat",
     "description": "Keras' ε̂ taken as torch's ε (no ε̂/√(1−β2ᵗ) in the Keras-arithmetic mapping)",
     "file": PARITY, "old": "spec.adam_epsilon / (1 - b2**t) ** 0.5",
     "new": "spec.adam_epsilon", "tests": EQ},
    {"id": "vae-heads-relu", "description": "Keras latent heads given a ReLU (the heads are linear)",
     "file": TF, "old": "keras.layers.Dense(ly.filters, name=ly.name, dtype=policy)",
     "new": "keras.layers.Dense(ly.filters, name=ly.name, dtype=policy, activation='relu')", "tests": EQ},
    {"id": "vae-reparam-std", "description": "z = mean + exp(log_var)·ε (variance used as the std)",
     "file": TORCH, "old": "torch.exp(0.5 * z_log_var) * eps", "new": "torch.exp(z_log_var) * eps",
     "tests": EQ},
    {"id": "vae-recon-mean",
     "description": "reconstruction BCE averaged over pixels (Keras' BinaryCrossentropy()), not summed",
     "file": TF, "old": "tf.reduce_sum(bce, axis=(1, 2, 3))", "new": "tf.reduce_mean(bce, axis=(1, 2, 3))",
     "tests": EQ},
    {"id": "vae-kl-batch-sum", "description": "KL summed over the batch instead of its batch mean",
     "file": TF, "old": "kl = tf.reduce_mean(tf.reduce_sum(kl_terms, axis=1))",
     "new": "kl = tf.reduce_sum(kl_terms)", "tests": EQ},
    {"id": "vae-loss-in-low-precision",
     "description": "torch logits left in bf16/fp16 for the loss (not cast to float32 as in Keras)",
     "file": TORCH, "old": "logits = logits.to(self.dtype)", "new": "logits = logits",
     "tests": ["tests/test_models_vae_precision.py"], "k": "torch"},
    {"id": "vae-flops-image-grad", "description": "FLOPs count an input gradient into the images",
     "file": "models/vae/flops.py", "old": " - layer_flops(first, batch_size)", "new": "",
     "tests": EQ},
]
