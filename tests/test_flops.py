"""Analytic FLOPs/MACs/filters against TensorFlow's v1 profiler and against hand counts; the flops stage."""

from __future__ import annotations

import json

import pytest

keras = pytest.importorskip("keras")
from conftest import write_params  # noqa: E402
from keras import layers  # noqa: E402

from ricecnn.core import cli# noqa: E402
from ricecnn.core.errors import RiceError  # noqa: E402
from ricecnn.networks.flops import count_filters, count_flops  # noqa: E402
from ricecnn.networks.registry import REGISTRY  # noqa: E402
from ricecnn.networks.build import build_model
from ricecnn.stages import flops as stage  # noqa: E402

MODELS = list(REGISTRY)


def profiler_flops(model, size: int) -> int:
    """total_float_ops of TensorFlow's v1 profiler on the frozen inference graph at batch 1."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the TensorFlow profiler needs KERAS_BACKEND=tensorflow")
    tf = pytest.importorskip("tensorflow")
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    fn = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec([1, size, size, 3], tf.float32)))
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    return tf.compat.v1.profiler.profile(frozen.graph, options=options).total_float_ops


def counted_by_profiler_rules(model) -> int:
    """What the profiler counts: the model's FLOPs and the in-model input scaling."""
    counted = count_flops(model)
    return counted["flops"] + counted["preprocessing_flops"]


@pytest.mark.parametrize("name", MODELS)
def test_matches_tensorflow_profiler(name):
    # 45 px: odd sizes exercise both floor ('valid') and ceil ('same') downsampling
    model = build_model(name, 45, 5)
    assert counted_by_profiler_rules(model) == profiler_flops(model, 45)
    assert count_flops(model)["preprocessing_flops"] == 2 * 45 * 45 * 3  # the Rescaling(1/255) of the input


# The paper's FLOPs per image at 224 px, 5 classes: its graph starts at the first convolution
# (it scaled the pixels in its tf.data map); ours counted the input's Rescaling too, 301,056 more.
PAPER_FLOPS_224 = {
    "cnn": 1_042_859_422,
    "cnn_light": 7_551_694,
    "googlenet": 3_179_339_598,
    "googlenet_light": 280_058_490,
    "vgg16": 30_713_485_342,
    "vgg16_light": 18_688_285_470,
}


@pytest.mark.parametrize("name", MODELS)
def test_flops_at_224_are_the_papers(name):
    assert count_flops(build_model(name, 224, 5))["flops"] == PAPER_FLOPS_224[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_matches_tensorflow_profiler_at_224(name):
    model = build_model(name, 224, 5)
    assert counted_by_profiler_rules(model) == profiler_flops(model, 224)


def _tiny(*stack, size=8):
    inputs = keras.Input((size, size, 3))
    x = inputs
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x)


def test_hand_counted_tiny_models():
    # Conv 3x3x3 -> 4 'same' on 8x8: 8*8*4 = 256 outputs, 27 MACs each, + bias; ReLU free
    conv = _tiny(layers.Conv2D(4, 3, padding="same", activation="relu"))
    assert count_flops(conv)["macs"] == 27 * 256
    assert count_flops(conv)["flops"] == 2 * 27 * 256 + 256 == profiler_flops(conv, 8)
    # Rescaling: x * scale + offset, 2 per element (8*8*3 = 192); MaxPool 2x2: 4 per output (4*4*3)
    rescale = _tiny(layers.Rescaling(1 / 255))
    assert count_flops(rescale)["preprocessing_flops"] == 2 * 192 == profiler_flops(rescale, 8)
    assert count_flops(rescale)["flops"] == 0  # the input's scaling is preprocessing, not model FLOPs
    inner = _tiny(layers.Conv2D(4, 3, padding="same"), layers.Rescaling(0.5))  # not the input's: counted
    assert count_flops(inner)["flops"] == 2 * 27 * 256 + 256 + 2 * 256 == profiler_flops(inner, 8)
    pool = _tiny(layers.MaxPooling2D(2))
    assert count_flops(pool)["flops"] == 4 * 48 == profiler_flops(pool, 8)
    # GAP: 1 per input (192); Dense 3 -> 5: 2*15 + 5; softmax: 5 per output
    head = _tiny(layers.GlobalAveragePooling2D(), layers.Dense(5, activation="softmax"))
    result = count_flops(head)
    assert result["flops"] == 192 + 35 + 25 == profiler_flops(head, 8)
    assert result["macs"] == 15
    assert [p["type"] for p in result["per_layer"]] == ["InputLayer", "GlobalAveragePooling2D", "Dense"]
    assert sum(p["flops"] for p in result["per_layer"]) == result["flops"]


def test_unknown_layer_type_is_an_error():
    with pytest.raises(RiceError, match="no FLOPs rule for layer type BatchNormalization"):
        count_flops(_tiny(layers.BatchNormalization()))
    with pytest.raises(RiceError, match="no FLOPs rule for activation 'tanh'"):
        count_flops(_tiny(layers.Conv2D(2, 3, activation="tanh")))


# the paper's inception modules (f1, f3r, f3, f5r, f5, pp); a module's filters are f1 + f3 + f5 + pp
GOOGLENET = [(64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), (192, 96, 208, 16, 48, 64),
             (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
             (256, 160, 320, 32, 128, 128), (256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)]  # fmt: skip
GOOGLENET_LIGHT = [(16, 16, 24, 4, 8, 8), (24, 24, 32, 4, 8, 8), (32, 32, 48, 8, 16, 16), (48, 48, 64, 8, 16, 16),
                   (64, 64, 96, 12, 24, 24), (96, 64, 96, 12, 24, 24), (96, 64, 96, 12, 24, 24),
                   (96, 96, 128, 16, 32, 32)]  # fmt: skip
EXPECTED_FILTERS = {
    "cnn": 32 + 64 + 128,
    "cnn_light": 8 + 16,
    "googlenet": 64 + 64 + 192 + sum(f1 + f3 + f5 + pp for f1, _, f3, _, f5, pp in GOOGLENET),
    "googlenet_light": 16 + 16 + 64 + sum(f1 + f3 + f5 + pp for f1, _, f3, _, f5, pp in GOOGLENET_LIGHT),
    "vgg16": 2 * 64 + 2 * 128 + 3 * 256 + 3 * 512 + 3 * 512,
    "vgg16_light": 2 * 64 + 2 * 128 + 3 * 256,
}


@pytest.mark.parametrize("name", MODELS)
def test_filter_counts(name):
    assert count_filters(build_model(name, 32, 5)) == EXPECTED_FILTERS[name]


def test_an_inception_module_counts_its_output_width_not_its_reduce_convolutions():
    from ricecnn.networks.layers import inception

    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(5, 3, padding="same", name="stem")(inputs)
    model = keras.Model(inputs, inception(x, 1, 2, 3, 4, 5, 6, name="inception_x"))
    assert count_filters(model) == 5 + (1 + 3 + 5 + 6)  # not the 1x1 reduce convs' 2 and 4


def test_flops_stage(tmp_path):
    models = {"cnn_light": {"epochs": 1}, "vgg16_light": {"epochs": 1, "weights": "none", "freeze": "none"}}
    params = write_params(tmp_path / "params.yaml", models=models)  # img_size 32
    split = tmp_path / "split"
    split.mkdir()
    (split / "classes.json").write_text(json.dumps(["a", "b", "c"]))
    for name in ("cnn_light", "vgg16_light"):
        out = tmp_path / "metrics" / f"{name}.json"
        stage.main([name, "--params", str(params), "--split-dir", str(split), "--out", str(out)])
        result = json.loads(out.read_text())
        model = build_model(name, 32, 3)
        assert result["img_size"] == 32 and result["num_classes"] == 3
        assert result["flops"] == count_flops(model)["flops"] and result["macs"] == count_flops(model)["macs"]
        assert result["flops_224"] == count_flops(build_model(name, 224, 3))["flops"] > result["flops"]
        assert result["params"] == model.count_params() and result["filters"] == EXPECTED_FILTERS[name]
        assert {"macs_224", "params_224", "per_layer"} <= set(result)
        assert not {"params_trainable", "params_trainable_224"} & set(result)  # train's record: freeze is no count's
    # cnn_light at 224 with 3 classes: the paper's 51,669 less the 2 * (16 + 1) of the 2 missing classes
    assert json.loads((tmp_path / "metrics" / "cnn_light.json").read_text())["params_224"] == 51_669 - 34
    # the same bytes whatever vgg16_light's models entry says: the stage reads none of it
    light = tmp_path / "metrics" / "vgg16_light.json"
    before = light.read_bytes()
    params = write_params(tmp_path / "params.yaml", models={"vgg16_light": {"epochs": 9, "freeze": "paper"}})
    stage.main(["vgg16_light", "--params", str(params), "--split-dir", str(split), "--out", str(light)])
    assert light.read_bytes() == before and json.loads(before)["params"] == 1_802_565 - 2 * 257


def test_flops_stage_errors(tmp_path, capsys):
    params = write_params(tmp_path / "params.yaml")
    out = ["--out", str(tmp_path / "cnn.json")]
    with pytest.raises(RiceError, match=r"split/classes.json not found"):
        stage.main(["cnn", "--params", str(params), "--split-dir", str(tmp_path / "split"), *out])
    assert cli.main(["flops", "cnn_lite", "--params", str(params), "--split-dir", str(tmp_path), *out]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "ricecnn flops: error: unknown model 'cnn_lite' (did you mean 'cnn_light'?)"
