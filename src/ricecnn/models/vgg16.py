"""`vgg16` and `vgg16_light`: Keras' VGG16 base plus a small head (docs/paper.md, models 5-6).

The base is rebuilt here layer for layer as in `keras.applications.VGG16(include_top=False)`,
with the same layer names (block1_conv1 ... block5_pool), right after the model's
Rescaling(1/255), so that every VGG layer is a plain layer of the model (feature maps can be read
from `model.get_layer("block3_conv2").output`). Weights come from a Keras VGG16 base built with the
requested source (ImageNet download or a local notop weights file) and are copied by layer name;
vgg16_light takes blocks 1-3 of that same base (the paper: cut after block3_pool).

Initialization: He-normal for the base convolutions (only matters with `weights: none`; loaded
weights overwrite it). Keras' VGG16 default, Glorot-uniform, shrinks the signal through the ReLU
stack: at 64 px on the synthetic data the block3_pool features had a std of 0.004 vs 0.28 with
He-normal, and a frozen random base then gave chance accuracy (0.20) vs 0.62 (vgg16_light, 15 epochs).
"""

from __future__ import annotations

import keras
from keras import layers

from ..core.errors import RiceError

# (filters, convolutions) of VGG16's five blocks
BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def _keras_base(name: str, weights: str):
    """Keras' own VGG16 notop base carrying the requested weights ('imagenet' or a file path).

    Built for any input size (convolution weights do not depend on it), so that vgg16_light is not
    bound by the full base's 32 px minimum.
    """
    shape = (None, None, 3)
    if weights == "imagenet":
        try:
            return keras.applications.VGG16(include_top=False, weights="imagenet", input_shape=shape)
        except Exception:  # keras.utils.get_file raises a bare Exception on network errors
            raise RiceError(
                f"could not download ImageNet weights for {name} (no network?): "
                f"set models.{name}.weights to none or to a local .h5 file"
            ) from None
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=shape)
    try:
        base.load_weights(weights)
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RiceError(
            f"could not load VGG16 weights from {weights} (models.{name}.weights): {reason}; "
            "it must be a Keras VGG16 notop weights file (include_top=False, .h5 or .weights.h5)"
        ) from None
    return base


def _vgg(img_size, num_classes, blocks, head_units, dropout, weights, freeze, paper_frozen, name):
    inputs = keras.Input((img_size, img_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescaling")(inputs)

    # VGG16 base (its first `blocks` blocks)
    base_layers = []
    for b, (filters, convs) in enumerate(BLOCKS[:blocks], start=1):
        for c in range(1, convs + 1):
            base_layers.append(layers.Conv2D(
                filters, 3, padding="same", activation="relu", kernel_initializer="he_normal", name=f"block{b}_conv{c}"
            ))
            x = base_layers[-1](x)
        base_layers.append(layers.MaxPooling2D(2, strides=2, name=f"block{b}_pool"))
        x = base_layers[-1](x)

    # Head
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dense(head_units, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name=name)

    if weights is not None:
        source = _keras_base(name, weights)
        for layer in base_layers:
            if layer.weights:
                layer.set_weights(source.get_layer(layer.name).get_weights())

    # Freezing: 'paper' = the paper's pattern, 'none' = all trainable, N = the first N base layers
    frozen = {"paper": paper_frozen, "none": 0}.get(freeze, freeze)
    for layer in base_layers[:frozen]:
        layer.trainable = False
    return model


def vgg16(img_size: int, num_classes: int, weights: str | None = None, freeze: str | int = "paper") -> keras.Model:
    # paper: all but the last 4 base layers (block5_conv1..3, block5_pool) frozen
    return _vgg(img_size, num_classes, 5, 512, 0.3, weights, freeze, 14, "vgg16")


def vgg16_light(img_size: int, num_classes: int, weights: str | None = None, freeze: str | int = "paper") -> keras.Model:
    # paper: the whole truncated base (blocks 1-3, 10 layers) frozen
    return _vgg(img_size, num_classes, 3, 256, 0.2, weights, freeze, 10, "vgg16_light")
