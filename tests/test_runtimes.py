"""The deployed runtimes (bench/frameworks/<fw>/runtimes.py) run each family's generative module as the
framework runs it eagerly: for every runtime and family (tiny sizes, CPU), the exported artefact's output
at batch N and at batch 1 is within PARITY_BOUND_FP32 (1e-3, max absolute error, fp32) of the eager
module's with training off, and drifts past it when the module's weights change after the export (the
mutation: proves the artefact was loaded from disk and the bound discriminates). Export time and size are
positive, the thread settings are the ones asked for, a second build reuses the export, and an exporter
or runtime that cannot handle a model raises RuntimeUnsupported with one line.

AOTInductor compiles C++ (10-40 s per module here), hence @slow: ``python -m pytest -q
tests/test_runtimes.py`` took 2 min 22 s on 2 shared cores.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from bench.frameworks.runtime import PARITY_BOUND_FP32, RuntimeUnsupported

pytestmark = pytest.mark.slow
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytest.importorskip("ai_edge_litert")
pytest.importorskip("tf2onnx")

BATCH = 3
THREADS = 1  # not this machine's default, so a setting that is ignored shows
FAMILIES = ("gan", "vae", "ddpm")
# Max abs errors measured, printed at the end (-s) for the report.
MEASURED: dict[tuple[str, str, str], tuple[float, float, int]] = {}


def _ddpm_spec():
    """ddpm-tiny made smaller still (16x16 images, two levels, one res block each, attention at 8x8):
    the same kinds of layer (GroupNorm, attention, stride-2 convs, upsampling, skip concatenations) at
    under half the AOTInductor compile time."""
    from models.ddpm.spec import DDPM_TINY, DDPMSpec

    return DDPMSpec(**{**DDPM_TINY.__dict__, "name": "ddpm-micro", "image_shape": (16, 16, 3),
                       "channel_mults": (1, 2), "num_res_blocks": 1, "attn_resolutions": (8,)})


def _inputs(framework: str, family: str) -> tuple[np.ndarray, ...]:
    from models.gan.spec import DCGAN_MNIST
    from models.vae.spec import VAE_MNIST

    rng = np.random.default_rng(7)
    if family == "gan":
        return (rng.standard_normal((BATCH, DCGAN_MNIST.noise_dim)).astype(np.float32),)
    if family == "vae":
        return (rng.standard_normal((BATCH, VAE_MNIST.latent_dim)).astype(np.float32),)
    h, w, c = _ddpm_spec().image_shape
    x = rng.standard_normal((BATCH, h, w, c)).astype(np.float32)
    t = np.array([0, 500, 999][:BATCH])
    if framework == "torch":
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), t.astype(np.int64)
    return x, t.astype(np.int32)


def _scaled(weights: dict, factor: float = 3.0) -> dict:
    """The VAE's initial weights times 3: its Glorot-initial decoder (ReLUs, zero biases) gives logits of
    about 0.01, which would make an absolute bound of 1e-3 a trivial check; x3 per layer gives about 0.8."""
    return {net: {k: np.asarray(v) * factor for k, v in ws.items()} for net, ws in weights.items()}


def _torch_module(family: str):
    from models.ddpm import parity as ddpm_parity
    from models.ddpm import torch_ddpm
    from models.gan import torch_dcgan
    from models.gan.spec import DCGAN_MNIST
    from models.vae import torch_vae
    from models.vae.spec import VAE_MNIST
    from models.vae.weights import initial_weights as initial_vae_weights

    if family == "gan":
        module = torch_dcgan.build(DCGAN_MNIST, batch_size=BATCH, seed=1).generator
    elif family == "vae":
        model = torch_vae.build(VAE_MNIST, batch_size=BATCH, seed=1)
        torch_vae.set_weights(model, _scaled(initial_vae_weights(VAE_MNIST, 1)))
        module = model.decoder
    else:  # probe weights: the initial ones zero the output convolution (Ho et al.), a trivial check
        spec = _ddpm_spec()
        model = torch_ddpm.build(spec, batch_size=BATCH, seed=1)
        torch_ddpm.set_weights(model, ddpm_parity.probe_weights(spec, 1))
        module = model.unet
    return module.eval()


def _tf_module(family: str):
    from models.ddpm import parity as ddpm_parity
    from models.ddpm import tf_ddpm
    from models.gan import tf_dcgan
    from models.gan.spec import DCGAN_MNIST
    from models.vae import tf_vae
    from models.vae.spec import VAE_MNIST
    from models.vae.weights import initial_weights as initial_vae_weights

    if family == "gan":
        return tf_dcgan.build(DCGAN_MNIST, batch_size=BATCH, seed=1).generator
    if family == "vae":
        model = tf_vae.build(VAE_MNIST, batch_size=BATCH, seed=1)
        tf_vae.set_weights(model, _scaled(initial_vae_weights(VAE_MNIST, 1)))
        return model.decoder
    spec = _ddpm_spec()
    model = tf_ddpm.build(spec, batch_size=BATCH, seed=1)
    tf_ddpm.set_weights(model, ddpm_parity.probe_weights(spec, 1))
    return model.unet


def _eager(framework: str, module, inputs: tuple[np.ndarray, ...]) -> np.ndarray:
    if framework == "torch":
        import torch

        with torch.inference_mode():
            return module(*(torch.from_numpy(x) for x in inputs)).numpy()
    return np.asarray(module(list(inputs) if len(inputs) > 1 else inputs[0], training=False))


def _mutate(framework: str, module) -> None:
    """Shift every weight of the module's first weighted layer by 0.05."""
    if framework == "torch":
        import torch

        with torch.no_grad():
            next(module.parameters()).add_(0.05)
    else:
        w = module.trainable_weights[0]
        w.assign(w.numpy() + 0.05)


def _runtimes(framework: str):
    return pytest.importorskip(f"bench.frameworks.{framework}.runtimes")


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """torch's runtimes set its intra-op pool to the threads asked for: give the next test its own."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


CASES = [(fw, fam, mode) for fw, modes in (("torch", ("aoti", "onnx", "torchscript")),
                                           ("tensorflow", ("savedmodel", "litert", "onnx")))
         for fam in FAMILIES for mode in modes]


@pytest.mark.parametrize(("framework", "family", "mode"), CASES)
def test_artefact_matches_eager_output(framework, family, mode, tmp_path: Path) -> None:
    rt = _runtimes(framework)
    assert mode in rt.RUNTIMES
    module = _torch_module(family) if framework == "torch" else _tf_module(family)
    inputs = _inputs(framework, family)
    reference = _eager(framework, module, inputs)
    assert np.abs(reference).max() > 0.05, "a near-zero output would make the check trivial"
    handle = rt.build_runtime(mode, module, inputs, tmp_path / mode, THREADS)

    out = handle.call(*inputs)
    one = handle.call(*(x[:1] for x in inputs))  # the batch axis is dynamic: batch 1 from the same artefact
    assert out.shape == reference.shape and out.dtype == np.float32
    err = float(np.abs(out - reference).max())
    err_one = float(np.abs(one - reference[:1]).max())
    MEASURED[(framework, family, mode)] = (err, handle.export_s, handle.artefact_bytes)
    assert err < PARITY_BOUND_FP32 and err_one < PARITY_BOUND_FP32, (err, err_one)

    assert handle.mode == mode and handle.export_s > 0 and handle.load_s >= 0
    assert handle.artefact_bytes > 0 and Path(handle.artefact).exists() and not handle.reused
    assert handle.notes and all(handle.runtime_versions.values())
    if mode == "onnx":
        assert handle.threads == {"intra_op": THREADS, "inter_op": THREADS}  # read back from the session
        assert {"onnxruntime", "onnx", "onnx_opset"} <= set(handle.runtime_versions)
    elif mode == "litert":
        assert handle.threads == {"num_threads": THREADS}
    elif framework == "torch":
        assert handle.threads["intra_op"] == THREADS
    else:  # a SavedModel runs in TensorFlow's own pools, which the backend sets: recorded as they are
        import tensorflow as tf

        assert handle.threads == {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                                  "inter_op": tf.config.threading.get_inter_op_parallelism_threads()}

    # The mutation: the eager module changes, the loaded artefact does not.
    _mutate(framework, module)
    drift = float(np.abs(handle.call(*inputs) - _eager(framework, module, inputs)).max())
    assert drift > PARITY_BOUND_FP32, drift


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_a_second_build_reuses_the_export_until_the_weights_change(framework, tmp_path: Path) -> None:
    rt = _runtimes(framework)
    mode = "onnx"
    module = _torch_module("vae") if framework == "torch" else _tf_module("vae")
    inputs = _inputs(framework, "vae")
    first = rt.build_runtime(mode, module, inputs, tmp_path, THREADS)
    again = rt.build_runtime(mode, module, inputs, tmp_path, THREADS)
    assert again.reused and again.export_s == first.export_s
    np.testing.assert_array_equal(again.call(*inputs), first.call(*inputs))
    _mutate(framework, module)
    changed = rt.build_runtime(mode, module, inputs, tmp_path, THREADS)
    assert not changed.reused
    assert np.abs(changed.call(*inputs) - _eager(framework, module, inputs)).max() < PARITY_BOUND_FP32


def test_torch_exporter_failures_are_unsupported_not_crashes(tmp_path: Path, monkeypatch) -> None:
    torch = pytest.importorskip("torch")
    rt = _runtimes("torch")

    class DataDependent(torch.nn.Module):  # control flow on a value: torch.export cannot trace it
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x - 1

    inputs = (np.ones((2, 4), np.float32),)
    for mode in ("aoti", "onnx"):
        with pytest.raises(RuntimeUnsupported) as e:
            rt.build_runtime(mode, DataDependent(), inputs, tmp_path / mode, THREADS)
        assert "\n" not in str(e.value) and "failed" in str(e.value)
    # No C++ compiler: AOTInductor cannot build on CPU.
    monkeypatch.setattr(rt.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeUnsupported, match="C\\+\\+ compiler"):
        rt.build_runtime("aoti", _torch_module("vae"), _inputs("torch", "vae"), tmp_path / "cc", THREADS)
    with pytest.raises(ValueError, match="no runtime"):
        rt.build_runtime("savedmodel", _torch_module("vae"), _inputs("torch", "vae"), tmp_path, THREADS)


def test_tensorflow_exporter_failures_are_unsupported_not_crashes(tmp_path: Path, monkeypatch) -> None:
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    rt = _runtimes("tensorflow")

    class PyFunction(keras.layers.Layer):  # a Python callback: no TFLite or ONNX op runs it
        def call(self, x):
            y = tf.py_function(lambda a: a * 2.0, [x], tf.float32)
            y.set_shape(x.shape)
            return y

    inp = keras.Input((4,))
    model = keras.Model(inp, PyFunction()(keras.layers.Dense(4)(inp)))
    inputs = (np.ones((2, 4), np.float32),)
    for mode in ("litert", "onnx"):
        with pytest.raises(RuntimeUnsupported) as e:
            rt.build_runtime(mode, model, inputs, tmp_path / mode, THREADS)
        assert "\n" not in str(e.value)
    with pytest.raises(RuntimeUnsupported, match=r"keras\.Model"):
        rt.build_runtime("savedmodel", tf.Module(), inputs, tmp_path / "m", THREADS)
    # A runtime package that is not installed: a reason naming it, not an ImportError.
    import bench.frameworks.runtime as shared

    real = shared.require

    def missing(module: str, package: str):
        if module == "onnxruntime":
            raise RuntimeUnsupported(f"{package} is not installed")
        return real(module, package)

    monkeypatch.setattr(shared, "require", missing)
    shutil.rmtree(tmp_path / "onnx", ignore_errors=True)
    with pytest.raises(RuntimeUnsupported, match="onnxruntime is not installed"):
        rt.build_runtime("onnx", _tf_module("vae"), _inputs("tensorflow", "vae"), tmp_path / "onnx", THREADS)


@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_the_descriptor_names_the_modes_the_runtimes_module_builds(framework) -> None:
    from bench.frameworks.registry import get_framework

    assert get_framework(framework).runtime_modes() == _runtimes(framework).RUNTIMES


def test_report_measured_errors() -> None:
    """Prints the max abs error, export seconds and artefact bytes of each case (run with -s)."""
    for (fw, fam, mode), (err, export_s, size) in sorted(MEASURED.items()):
        print(f"{fw:10s} {fam:5s} {mode:12s} max_abs_err={err:.1e} export_s={export_s:.2f} bytes={size}")
