"""The model registry: the paper's architectures (docs/paper.md) and parameter counts, input sizes, settings checks, VGG weights."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import yaml  # noqa: E402
from conftest import ROOT, write_params  # noqa: E402

from ricecnn.core import settings  # noqa: E402
from ricecnn.core.errors import RiceError  # noqa: E402
from ricecnn.networks.anatomy import feature_layers  # noqa: E402
from ricecnn.networks.build import build_model, builder  # noqa: E402
from ricecnn.networks.registry import REGISTRY, check_options, spec  # noqa: E402
from ricecnn.evaluation.plan import evaluated  # noqa: E402
from ricecnn.training.settings import Training  # noqa: E402

MODELS = list(REGISTRY)

# docs/paper.md, "The six models": (total, trainable) parameters at 224x224x3 and 5 classes
PAPER_PARAMS = {
    "cnn": (12_939_077, 12_939_077),
    "cnn_light": (51_669, 51_669),
    "googlenet": (5_978_677, 5_978_677),
    "googlenet_light": (580_905, 580_905),
    "vgg16": (14_979_909, 7_344_645),
    "vgg16_light": (1_802_565, 67_077),
}
FEATURE_LAYERS = {"cnn": 3, "cnn_light": 2, "googlenet": 3 + 9, "googlenet_light": 3 + 8, "vgg16": 13, "vgg16_light": 7}


def trainable(model) -> int:
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def test_params_models_are_registry_models_and_every_registry_model_builds():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name in params["models"]:
        spec(name)  # raises for a name the registry does not know
    for name, s in REGISTRY.items():
        model = build_model(name, s.min_size, 3)
        assert model.name == name and model.output_shape == (None, 3)
        assert s.variant in ("full", "light")
        # every family has exactly one full model, the baseline of its other variants
        assert [m for m, t in REGISTRY.items() if t.family == s.family and t.variant == "full"] == [s.family]


def test_evaluated_models_carry_family_variant_and_what_they_are_compared_with():
    got = {m.name: (m.family, m.variant, m.against, m.stage, m.parent)
           for m in evaluated(["cnn", "cnn_light", "vgg16_light"], ["cnn", "vgg16_light"], ["cnn"])}
    assert got == {
        "cnn": ("cnn", "full", (), "train@cnn", None),
        "cnn_light": ("cnn", "light", ("cnn",), "train@cnn_light", None),
        "vgg16_light": ("vgg16", "light", (), "train@vgg16_light", None),  # its full model is not trained
        "cnn_pruned": ("cnn", "pruned", ("cnn",), "prune@cnn", "cnn"),
        "vgg16_light_pruned": ("vgg16", "pruned", ("vgg16_light",), "prune@vgg16_light", "vgg16_light"),
        "cnn_trim": ("cnn", "trim", ("cnn", "cnn_light"), "trim@cnn", "cnn"),  # the full and the hand-made light model
        "cnn_trim_scratch": ("cnn", "trim_scratch", ("cnn_trim",), "trim_scratch@cnn", "cnn"),  # the control
    }


@pytest.mark.parametrize("name", MODELS)
def test_spec_parameter_counts_at_224(name):
    model = build_model(name, 224, 5)
    assert model.name == name
    assert (model.count_params(), trainable(model)) == PAPER_PARAMS[name]


@pytest.mark.parametrize("size", [64, 75])
@pytest.mark.parametrize("name", MODELS)
def test_small_input_softmax_output(name, size):
    model = build_model(name, size, 3)
    assert model.input_shape == (None, size, size, 3)
    assert model.output_shape == (None, 3)
    assert model.layers[1].__class__.__name__ == "Rescaling" and model.layers[1].scale == pytest.approx(1 / 255)
    out = model.get_layer("predictions")
    assert out.activation.__name__ == "softmax" and out is model.layers[-1]
    probs = model.predict(np.full((1, size, size, 3), 255, "uint8"), verbose=0)
    assert probs.shape == (1, 3) and probs.sum() == pytest.approx(1, abs=1e-4)


@pytest.mark.parametrize("name", MODELS)
def test_feature_layers_exist_in_order(name):
    model = build_model(name, 64, 5)
    names = feature_layers(model)
    assert len(names) == FEATURE_LAYERS[name]
    order = [layer.name for layer in model.layers]
    assert [order.index(n) for n in names] == sorted(order.index(n) for n in names)
    for n in names:
        assert len(model.get_layer(n).output.shape) == 4  # a feature map, readable as a plain output
    if name.startswith("googlenet"):
        assert names[:3] == ["conv1_7x7_s2", "conv2_3x3_reduce", "conv2_3x3"] and names[3] == "inception_3a"
        assert names[-1] == "inception_5b"
    if name.startswith("vgg"):
        assert names[0] == "block1_conv1" and names[-1] == ("block5_conv3" if name == "vgg16" else "block3_conv3")


def _meaningful(name: str, size: int) -> bool:
    """The rule behind min_input_size: builds, and every stride-2 layer sees >= 2 px."""
    try:
        model = builder(name)(size, 3)  # the raw builder, without the registry's size check
    except ValueError as e:
        if "output size would be zero" in str(e):  # a pooling left an empty feature map
            return False
        raise  # anything else is a builder bug, not a size the rule refuses
    for layer in model.layers:
        if min(layer.output.shape[1:]) < 1:  # an empty feature map
            return False
        if max(getattr(layer, "strides", (1,))) == 2 and layer.input.shape[1] < 2:  # downsamples 1 px
            return False
    return True


@pytest.mark.parametrize("name", MODELS)
def test_min_input_size(name):
    low = REGISTRY[name].min_size
    assert _meaningful(name, low) and not _meaningful(name, low - 1)
    build_model(name, low, 5)
    with pytest.raises(RiceError, match=rf"img_size={low - 1} is too small for {name}: .* at least {low} px") as e:
        build_model(name, low - 1, 5)
    assert f"data.img_size >= {low}" in str(e.value) and "\n" not in str(e.value)


def test_unknown_model_name():
    with pytest.raises(RiceError, match="unknown model 'cnn_lite'.*did you mean 'cnn_light'"):
        build_model("cnn_lite", 64, 5)


def validate_models(models: dict, tmp_path: Path) -> dict:
    """What the stages check of a `models:` section: its types (settings), then each entry
    against its model (the registry, when a stage builds it). Each model's options as parsed."""
    s = settings.load(write_params(tmp_path / "params.yaml", models=models), Training)
    for name, entry in s.models.items():
        check_options(name, entry.options())
    return {name: entry.options() for name, entry in s.models.items()}


@pytest.mark.parametrize(
    "models, message",
    [
        ({"cnn_lite": {"epochs": 3}}, r"^params.yaml: models: unknown model .cnn_lite. \(did you mean .cnn_light.\?\)$"),
        ({"cnn": {"epochs": -1}}, r"^params.yaml: models.cnn.epochs = -1 must be greater than or equal to 1$"),
        ({"cnn": {"epochs": 2.5}}, r"models.cnn.epochs = 2.5 must be a valid integer"),
        ({"cnn": {"epochs": True}}, r"models.cnn.epochs = True must be a valid integer"),
        ({"cnn": {}}, r"missing key models.cnn.epochs"),
        ({"cnn": 5}, r"models.cnn = 5 must be a mapping"),
        ({"cnn": {"epochs": 3, "epoch": 2}}, r"unknown key models.cnn.epoch \(did you mean 'epochs'\?\)"),
        ({"cnn": {"epochs": 3, "weights": "imagenet"}}, r"models.cnn: unknown option 'weights'"),
        ({"vgg16": {"epochs": 3, "weigths": "none"}}, r"unknown key models.vgg16.weigths \(did you mean 'weights'\?\)"),
        ({"vgg16": {"epochs": 3, "weights": "no/vgg.h5"}}, r"models.vgg16.weights = .no/vgg.h5. is not an existing file \(weights file not found\)"),
        ({"vgg16": {"epochs": 3, "weights": "vgg.pt"}}, r"weights = 'vgg.pt' must be imagenet, none or a path to a .h5"),
        ({"vgg16_light": {"epochs": 3, "freeze": 11}}, r"vgg16_light.freeze = 11 must be paper, none or N in 0..10"),
        ({"vgg16": {"epochs": 3, "freeze": "seed"}}, r"models.vgg16.freeze = 'seed' must be paper, none or"),
        ({"vgg16": {"epochs": 3, "freeze": True}}, r"models.vgg16.freeze = True must be"),
        ({}, r"params.yaml: models must name at least one model"),
    ],
)
def test_validate_models_errors(models, message, tmp_path):
    with pytest.raises(RiceError, match=message) as e:
        validate_models(models, tmp_path)
    assert "\n" not in str(e.value)


def test_validate_models_accepts_settings(tmp_path):
    weights = tmp_path / "vgg.weights.h5"
    weights.write_bytes(b"")
    parsed = validate_models(
        {
            "cnn": {"epochs": 1},
            "vgg16": {"epochs": 30, "weights": "imagenet", "freeze": "paper"},
            "vgg16_light": {"epochs": 2, "weights": str(weights), "freeze": 3},
            "googlenet": {"epochs": 2},
        },
        tmp_path,
    )
    assert list(parsed) == ["cnn", "vgg16", "vgg16_light", "googlenet"]  # the order of params.yaml
    assert parsed["cnn"] == {"epochs": 1} and parsed["googlenet"] == {"epochs": 2}  # no options: the builders' defaults
    assert parsed["vgg16"] == {"epochs": 30, "weights": "imagenet", "freeze": "paper"}
    assert parsed["vgg16_light"] == {"epochs": 2, "weights": str(weights), "freeze": 3}
    assert validate_models({"vgg16": {"epochs": 1, "weights": None, "freeze": "none"}, "vgg16_light": {"epochs": 1}},
                           tmp_path)["vgg16"] == {"epochs": 1, "weights": None, "freeze": "none"}


@pytest.mark.parametrize(
    "freeze, frozen_layers", [("none", []), (0, []), (3, ["block1_conv1", "block1_conv2"]), ("paper", None)]
)
def test_vgg_freeze(freeze, frozen_layers):
    model = build_model("vgg16", 32, 5, {"freeze": freeze})
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    if frozen_layers is None:  # the paper (docs/paper.md): everything but block5 and the head
        assert frozen == [f"block{b}_conv{c}" for b, n in zip(range(1, 5), (2, 2, 3, 3)) for c in range(1, n + 1)]
    else:
        assert frozen == frozen_layers


def test_imagenet_download_failure_is_one_line(monkeypatch):
    from keras.src.utils import file_utils

    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- [Errno -3] Temporary failure")

    monkeypatch.setattr(file_utils, "get_file", no_network)
    with pytest.raises(RiceError) as e:
        build_model("vgg16_light", 32, 5, {"weights": "imagenet"})
    assert str(e.value) == (
        "could not download ImageNet weights for vgg16_light (no network?): "
        "set models.vgg16_light.weights to none or to a local .h5 file"
    )
    assert e.value.__suppress_context__  # raised `from None`: no chained traceback


def _legacy_notop_file(base, path: Path) -> Path:
    """Save ``base`` like Keras' own vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (legacy HDF5)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    return path


def test_imagenet_weights_come_from_the_keras_download(monkeypatch, tmp_path):
    from keras.src.utils import file_utils

    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    notop = _legacy_notop_file(base, tmp_path / "notop.h5")
    monkeypatch.setattr(file_utils, "get_file", lambda *a, **k: str(notop))  # a "download" without network
    model = build_model("vgg16_light", 40, 5, {"weights": "imagenet"})
    got, want = model.get_layer("block3_conv3").get_weights()[0], base.get_layer("block3_conv3").get_weights()[0]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_vgg_weights_file_round_trip(tmp_path, suffix):
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / f"vgg16_notop{suffix}"
    if suffix == ".weights.h5":
        base.save_weights(path)
    else:
        _legacy_notop_file(base, path)
    for name in ("vgg16", "vgg16_light"):
        model = build_model(name, 48, 5, {"weights": str(path)})
        for layer in model.layers:
            if layer.name.startswith("block") and layer.weights:
                for got, want in zip(layer.get_weights(), base.get_layer(layer.name).get_weights()):
                    np.testing.assert_array_equal(got, want)


def test_bad_weights_file_is_a_rice_error(tmp_path):
    path = tmp_path / "broken.h5"
    path.write_bytes(b"not an hdf5 file")
    with pytest.raises(RiceError, match=r"could not load VGG16 weights from .*broken.h5 \(models.vgg16.weights\)"):
        build_model("vgg16", 32, 5, {"weights": str(path)})


JAX_SMOKE = """
import numpy as np, keras
from ricecnn.networks.registry import REGISTRY
from ricecnn.networks.build import build_model
assert keras.backend.backend() == "jax", keras.backend.backend()
rng = np.random.default_rng(0)
for name in {names!r}:
    size = max(32, REGISTRY[name].min_size)
    model = build_model(name, size, 3)
    model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy")
    x = rng.integers(0, 256, (2, size, size, 3)).astype("float32")
    y = keras.utils.to_categorical([0, 2], 3)
    loss = float(model.train_on_batch(x, y))
    assert np.isfinite(loss), (name, loss)
    print(name, "ok", loss)
"""


def _jax_smoke(names):
    pytest.importorskip("jax")
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        # A one-step smoke test: cheap XLA compilation matters more than fast code.
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
    }
    code = textwrap.dedent(JAX_SMOKE.format(names=list(names)))
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if p.returncode != 0:
        pytest.fail(f"JAX smoke test failed ({p.returncode})\n--- stderr\n{p.stderr[-6000:]}\n--- stdout\n{p.stdout}")
    assert p.stdout.count(" ok ") == len(names)


@pytest.mark.slow
def test_jax_backend_trains_one_step():
    """The builders are backend-neutral: one Adam step on the JAX backend for a model of each builder
    the pipeline test does not train on JAX (it trains cnn: test_pipeline.py, the backend test); a
    full model is its light variant's layers, more of them (googlenet: inception modules; vgg16: the
    VGG base and its head)."""
    _jax_smoke(["googlenet_light", "vgg16_light"])
