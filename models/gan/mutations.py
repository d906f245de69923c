"""The GAN family's contract mutations, run by scripts/contract_mutations.py (format: see that script).

Each breaks one item of models/gan/CONTRACT.md with a one-line source edit; the DCGAN equivalence tests
must go red for every one of them. An edit in models/common/ breaks the other families too (their own
lists hold the same edit where their contract has the item).
"""

from __future__ import annotations

TESTS = ["tests/test_models_equivalence.py"]

MUTATIONS: list[dict] = [
    {"id": "lrelu-torch-default", "description": "torch LeakyReLU left at torch's default slope 0.01",
     "file": "models/gan/torch_dcgan.py", "old": "nn.LeakyReLU(layer.slope)", "new": "nn.LeakyReLU()",
     "tests": TESTS},
    {"id": "lrelu-keras-default", "description": "Keras LeakyReLU left at Keras 3's default slope 0.3",
     "file": "models/gan/tf_dcgan.py", "old": "keras.layers.LeakyReLU(negative_slope=layer.slope, **kw)",
     "new": "keras.layers.LeakyReLU(**kw)", "tests": TESTS},
    {"id": "bn-momentum-convention",
     "description": "torch BN momentum given Keras' convention (keep fraction)",
     "file": "models/gan/torch_dcgan.py", "old": "momentum=1.0 - spec.bn_keep",
     "new": "momentum=spec.bn_keep", "tests": TESTS},
    {"id": "bn-epsilon-default", "description": "torch BN epsilon left at torch's default 1e-5",
     "file": "models/gan/torch_dcgan.py", "old": "eps=spec.bn_epsilon", "new": "eps=1e-5", "tests": TESTS},
    {"id": "convt-crop-shift",
     "description": "transposed conv cropped on the wrong side (= padding=2, output_padding=1)",
     "file": "models/common/torch_layers.py", "old": "Crop(before - sym, after - sym)",
     "new": "Crop(after - sym, before - sym)", "tests": TESTS},
    {"id": "conv-pad-shift", "description": "stride-2 conv padded symmetrically-shifted (odd pixel top/left)",
     "file": "models/common/torch_layers.py", "old": "nn.ZeroPad2d((before, after, before, after))",
     "new": "nn.ZeroPad2d((after, before, after, before))", "tests": TESTS},
    {"id": "flatten-order", "description": "Dense/BN features not permuted between (h,w,c) and (c,h,w)",
     "file": "models/common/weights.py",
     "old": "return np.arange(h * w * c).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)",
     "new": "return np.arange(h * w * c)", "tests": TESTS},
    {"id": "kernel-layout", "description": "conv kernels moved HWIO->OIHW with kh and kw swapped",
     "file": "models/common/weights.py", "old": "a = a.transpose(3, 2, 0, 1)",
     "new": "a = a.transpose(3, 2, 1, 0)", "tests": TESTS},
    {"id": "adam-eps-torch-default", "description": "torch Adam eps left at torch's default 1e-8",
     "file": "models/common/torch_common.py", "old": "eps=spec.adam_epsilon", "new": "eps=1e-8",
     "tests": TESTS},
    {"id": "adam-eps-keras-default", "description": "Keras Adam epsilon left at Keras' default 1e-7",
     "file": "models/common/tf_common.py", "old": "beta_2=spec.adam_beta2, epsilon=spec.adam_epsilon)",
     "new": "beta_2=spec.adam_beta2)", "tests": TESTS},
    {"id": "init-torch-default",
     "description": "torch keeps its own default init instead of the canonical initial weights",
     "file": "models/gan/torch_dcgan.py", "old": "        set_weights(self, initial_weights(spec, seed))\n",
     "new": "\n", "tests": TESTS},
    {"id": "d-grad-into-generator",
     "description": "d_loss differentiated into the generator too (not the tutorial's step)",
     "file": "models/gan/torch_dcgan.py", "old": "scale(d_loss).backward(inputs=self.d_params)",
     "new": "scale(d_loss).backward()", "tests": TESTS},
]
