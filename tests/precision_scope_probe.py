"""Which operations a bf16 train step really runs in which dtype, read from each framework (test helper).

TensorFlow: the traced graph (``tf.function``) of each Keras model of the family; every op, by its
type or by the Keras layer whose name scope holds it, with the dtype it computes in (its ``T`` attribute).
PyTorch: the aten ops dispatched during the forward pass (a ``TorchDispatchMode``), by the module
(forward hooks) that ran them, with the dtype of their floating outputs. Both are mapped onto the
operation kinds of ``models.precision_scope``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from models.registry import family_of, get_spec

BATCH = 2

# TensorFlow: a Keras layer class (or Activation's function) -> kind; ops in its name scope take it.
TF_LAYER_KINDS = {"BatchNormalization": "batch norm", "GroupNormalization": "group norm",
                  "Dropout": "dropout", "TimestepEmbedding": "time embedding",
                  "DotProductAttention": "attention matmuls"}
# Inside a layer of the kinds above, an op type with a kind of its own: attention's scaling and softmax.
TF_SCOPED_OP_KINDS = {("attention matmuls", "Softmax"): "attention softmax",
                      ("attention matmuls", "Mul"): "attention softmax"}
# TensorFlow op types, outside the layers above.
TF_OP_KINDS = {"Conv2D": "convolution", "Conv2DBackpropInput": "convolution", "MatMul": "dense (matmul)",
               "LeakyRelu": "leaky ReLU", "Relu": "ReLU", "Tanh": "tanh", "Sigmoid": "sigmoid/SiLU",
               "Softplus": "softplus"}

# PyTorch: aten op names -> kind (or kinds).
TORCH_OP_KINDS: dict[str, str | tuple[str, ...]] = {
                  "convolution": "convolution", "addmm": "dense (matmul)", "mm": "dense (matmul)",
                  "linear": "dense (matmul)", "native_batch_norm": "batch norm",
                  "_native_batch_norm_legit": "batch norm",
                  "_native_batch_norm_legit_functional": "batch norm", "native_group_norm": "group norm",
                  "leaky_relu": "leaky ReLU", "relu": "ReLU", "tanh": "tanh", "silu": "sigmoid/SiLU",
                  "sigmoid": "sigmoid/SiLU", "native_dropout": "dropout", "bernoulli": "dropout",
                  "_softmax": "attention softmax", "bmm": "attention matmuls",
                  # The fused CPU kernel: both matmuls and the softmax, in and out in one dtype.
                  "_scaled_dot_product_flash_attention_for_cpu": ("attention matmuls", "attention softmax"),
                  "sin": "time embedding", "cos": "time embedding", "softplus": "softplus"}

DTYPES = {"bfloat16": "bf16", "float32": "fp32", "float16": "fp16", "float64": "fp64"}


def _add(seen: dict[str, set[str]], kind: str, dtype: Any) -> None:
    name = DTYPES.get(str(dtype).replace("torch.", "").replace("<dtype: '", "").rstrip("'>"))
    if name is not None:
        seen[kind].add(name)


def _family_spec(model_name: str, spec: Any) -> tuple[Any, Any]:
    return family_of(model_name), spec if spec is not None else get_spec(model_name)


def tensorflow_scopes(model_name: str, spec: Any = None, precision: str = "bf16") -> dict[str, set[str]]:
    """kind -> dtypes its forward ops compute in: the traced graph of each of the family's Keras models
    called as the train step calls it (``training=True``; the losses outside them are float32 by
    contract). Only the forward is traced: a whole step's gradient graph takes half a minute."""
    import tensorflow as tf

    family, spec = _family_spec(model_name, spec)
    model = family.implementation("tensorflow").build(spec, batch_size=BATCH, precision=precision, seed=0)
    seen: dict[str, set[str]] = defaultdict(set)
    for net in vars(model).values():
        if not (hasattr(net, "layers") and hasattr(net, "get_layer") and hasattr(net, "inputs")):
            continue
        layers = {ly.name: kind for ly in net.layers if (kind := TF_LAYER_KINDS.get(type(ly).__name__))}
        specs = [tf.TensorSpec((BATCH, *x.shape[1:]), x.dtype) for x in net.inputs]

        def call(*xs: Any, net: Any = net) -> Any:
            return net(list(xs) if len(xs) > 1 else xs[0], training=True)

        graph = tf.function(call).get_concrete_function(*specs).graph
        for op in graph.get_operations():
            parts = [re.sub(r"_\d+$", "", q) for q in op.name.split("/")[:-1]]
            if "T" not in op.node_def.attr or net.name not in parts:
                continue
            scoped = [layers[p] for p in parts if p in layers]
            if scoped and op.type not in ("Cast", "Identity", "Reshape", "Shape"):
                kind = TF_SCOPED_OP_KINDS.get((scoped[-1], op.type), scoped[-1])
                _add(seen, kind, op.get_attr("T").name)
            elif op.type in TF_OP_KINDS:
                _add(seen, TF_OP_KINDS[op.type], op.get_attr("T").name)
    return dict(seen)


def torch_scopes(model_name: str, spec: Any = None, precision: str = "bf16") -> dict[str, set[str]]:
    """kind -> dtypes of the floating outputs of its aten ops in the PyTorch forward pass (inside the
    family's modules; the losses outside them are float32 by contract)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    family, spec = _family_spec(model_name, spec)
    model = family.implementation("torch").build(spec, batch_size=BATCH, precision=precision, seed=0,
                                                 device="cpu")
    batch = model.to_framework_batches(*family.make_inputs(spec, BATCH, 1, 0, "synthetic"))[0]
    seen: dict[str, set[str]] = defaultdict(set)
    forward = {"on": False}

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__.rstrip("_")
            kind = TORCH_OP_KINDS.get(name)
            if forward["on"] and kind is not None:
                first = out[0] if isinstance(out, (tuple, list)) else out
                if isinstance(first, torch.Tensor) and first.is_floating_point():
                    for k in (kind,) if isinstance(kind, str) else kind:
                        _add(seen, k, first.dtype)
            return out

    # The forward pass only: every module's forward runs inside the autocast region of the step.
    roots = [m for m in vars(model).values() if isinstance(m, torch.nn.Module)]
    depth = {"n": 0}

    def enter(*_: Any) -> None:
        depth["n"] += 1
        forward["on"] = True

    def leave(*_: Any) -> None:
        depth["n"] -= 1
        forward["on"] = depth["n"] > 0

    handles = [h for m in roots for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
    try:
        with Record():
            model.train_step(*batch)
    finally:
        for h in handles:
            h.remove()
    return dict(seen)
