"""Is Keras 3's BatchNormalization fused on TensorFlow? Evidence from the traced graph and a timing.

For every BatchNormalization layer of a DCGAN (dcgan-mnist by default, at its batch), one
``tf.function`` runs the layer's training forward and its gradients (input, gamma, beta), written two
ways: the Keras 3 layer as the models use it, and ``tf.compat.v1.nn.fused_batch_norm`` (what Keras 2's
``fused=True`` ran; 2-D inputs reshaped to (B, 1, 1, C)). Printed per layer: the traced graph's op
count and whether it holds ``FusedBatchNormV3``/``FusedBatchNormGradV3``, the count after Grappler's
default passes (what runs), and the best forward+backward time of each. CPU only, never imports torch.

    python scripts/tf_batchnorm_check.py [--model dcgan-mnist] [--batch N]

The timings are a few milliseconds each: run on an idle machine for figures worth quoting.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _optimised_op_types(graph) -> list[str] | None:
    """Op types of ``graph`` after Grappler's default optimisation (private API: None if it moved)."""
    try:
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.framework import meta_graph
        from tensorflow.python.grappler import tf_optimizer

        mg = meta_graph.create_meta_graph_def(graph=graph)
        mg.collection_def["train_op"].node_list.value.extend([t.name for t in graph.outputs])
        opt = tf_optimizer.OptimizeGraph(config_pb2.ConfigProto(), mg)
        return [n.op for n in opt.node] + [n.op for f in opt.library.function for n in f.node_def]
    except Exception:
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="dcgan-mnist")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--reps", type=int, default=5, help="timed runs of 10 calls, best kept")
    args = ap.parse_args(argv)

    import keras
    import tensorflow as tf

    sys.path.insert(0, str(ROOT))
    from models.gan.arch import networks
    from models.registry import get_spec

    tf.config.set_visible_devices([], "GPU")
    spec = get_spec(args.model)
    batch = args.batch or spec.batch_size
    # The discriminator runs on the real and the fake batch: its layers count twice per step.
    bn_layers = [(net, ly, 1 if net == "generator" else 2) for net, layers in networks(spec).items()
                 for ly in layers if ly.kind == "bn"]
    print(f"{args.model} BatchNormalization layers, batch {batch}, TF {tf.__version__}, "
          f"Keras {keras.__version__}\n")
    total = {"keras": 0.0, "fused": 0.0}
    for net, ly, uses in bn_layers:
        x = tf.random.normal((batch, *ly.in_shape))
        channels = ly.in_shape[-1]
        layer = keras.layers.BatchNormalization(momentum=spec.bn_keep, epsilon=spec.bn_epsilon)
        layer.build(x.shape)
        scale, offset = tf.Variable(tf.ones(channels)), tf.Variable(tf.zeros(channels))

        @tf.function
        def keras_bn(x, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x, *layer.trainable_variables])

        @tf.function
        def fused_bn(x, scale=scale, offset=offset, eps=spec.bn_epsilon):
            with tf.GradientTape() as tape:
                tape.watch(x)
                x4 = x if x.shape.rank == 4 else tf.reshape(x, (-1, 1, 1, x.shape[-1]))
                y, _, _ = tf.compat.v1.nn.fused_batch_norm(x4, scale, offset, epsilon=eps, is_training=True)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x, scale, offset])

        print(f"{net} {ly.name} input {tuple(x.shape)}" + (f", {uses} uses per step" if uses > 1 else ""))
        for name, fn in (("keras", keras_bn), ("fused", fused_bn)):
            graph = fn.get_concrete_function(x).graph
            traced = collections.Counter(op.type for op in graph.get_operations())
            optimised = _optimised_op_types(graph)
            fused = sorted(t for t in traced if t.startswith("FusedBatchNorm"))
            fn(x)
            best = float("inf")
            for _ in range(args.reps):
                t0 = time.perf_counter()
                for _ in range(10):
                    r = fn(x)
                _ = r[0].numpy()
                best = min(best, (time.perf_counter() - t0) / 10)
            total[name] += best * uses
            after = "?" if optimised is None else len(optimised)
            print(f"  {name:5}: {sum(traced.values()):3d} ops traced, {after} after Grappler, "
                  f"fused kernels: {', '.join(fused) or 'none'}; forward+backward {best * 1e3:.2f} ms")
    print(f"\nall {len(bn_layers)} layers, forward+backward per step: Keras 3 {total['keras'] * 1e3:.1f} ms, "
          f"fused {total['fused'] * 1e3:.1f} ms per step")
    return 0


if __name__ == "__main__":
    sys.exit(main())
