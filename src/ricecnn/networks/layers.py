"""The layers the six builders share: the input (RGB in, rescaled to [0, 1]), the He-normal ReLU
convolution, the plain network's dense head, GoogLeNet's Inception module and body, and the VGG16
base with its weights and freezing. A model's own widths and depths are in its builder.

Initialization: He-normal for every ReLU layer (the standard for ReLU nets trained from scratch),
Keras' default Glorot-uniform for the softmax layer. GoogLeNet has no batch normalization, so the
init alone must keep the activations from vanishing through ~22 layers; He-normal does (Keras'
default Glorot-uniform halves the variance at each ReLU layer, and such a net can sit at chance
accuracy for many epochs). For VGG's base it only matters with ``weights: none`` (loaded weights
overwrite it): Glorot-uniform shrinks the signal through the ReLU stack (at 64 px on the synthetic
data the block3_pool features had a std of 0.004 vs 0.28 with He-normal, and a frozen random base
then gave chance accuracy (0.20) vs 0.62; vgg16_light, 15 epochs).

GoogLeNet's layer names follow the original Caffe GoogLeNet (conv1_7x7_s2, inception_3a, ...): a
module's own layers are named ``<module>_...`` and its output (the Concatenate) is named
``<module>``. VGG's base is rebuilt layer for layer as in ``keras.applications.VGG16(include_top=False)``,
with the same layer names (block1_conv1 ... block5_pool), right after the Rescaling(1/255), so that
every VGG layer is a plain layer of the model (feature maps can be read from
``model.get_layer("block3_conv2").output``); weights come from a Keras VGG16 base built with the
requested source (ImageNet download or a local notop weights file), copied by layer name.
"""

from __future__ import annotations

import keras
from keras import layers

from ..core.errors import RiceError

# (filters, convolutions) of VGG16's five blocks
BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def image_input(img_size: int):
    """The model's input and the same images rescaled to [0, 1]."""
    inputs = keras.Input((img_size, img_size, 3), name="image")
    return inputs, layers.Rescaling(1.0 / 255, name="rescaling")(inputs)


def conv(x, filters, size, name, strides=1):
    """A 'same' ReLU convolution, He-normal."""
    return layers.Conv2D(
        filters, size, strides=strides, padding="same", activation="relu", kernel_initializer="he_normal", name=name
    )(x)


def dense_head(x, units, num_classes):
    """The plain networks' classifier: flatten, one ReLU layer, softmax."""
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(units, activation="relu", kernel_initializer="he_normal", name="fc1")(x)
    return layers.Dense(num_classes, activation="softmax", name="predictions")(x)


def inception(x, f1, f3r, f3, f5r, f5, pp, name):
    """Inception module: concat of 1x1 | 1x1->3x3 | 1x1->5x5 | 3x3 max-pool->1x1 branches."""
    b1 = conv(x, f1, 1, f"{name}_1x1")
    b3 = conv(x, f3r, 1, f"{name}_3x3_reduce")
    b3 = conv(b3, f3, 3, f"{name}_3x3")
    b5 = conv(x, f5r, 1, f"{name}_5x5_reduce")
    b5 = conv(b5, f5, 5, f"{name}_5x5")
    bp = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    bp = conv(bp, pp, 1, f"{name}_pool_proj")
    return layers.Concatenate(name=name)([b1, b3, b5, bp])


def googlenet(img_size, num_classes, stem, modules, name):
    """GoogLeNet (Inception v1 without auxiliary heads) of the given stem widths and Inception modules."""
    inputs, x = image_input(img_size)

    # Stem
    x = conv(x, stem[0], 7, "conv1_7x7_s2", strides=2)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
    x = conv(x, stem[1], 1, "conv2_3x3_reduce")
    x = conv(x, stem[2], 3, "conv2_3x3")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)

    # Inception modules, with a stride-2 max-pooling after the last module of stages 3 and 4
    last = {module[0]: module for module in modules}  # stage -> its last module
    for module, filters in modules.items():
        x = inception(x, *filters, name=f"inception_{module}")
        if module[0] in "34" and module == last[module[0]]:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{module[0]}_3x3_s2")(x)

    # Classifier
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.4, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


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


def vgg(img_size, num_classes, blocks, head_units, dropout, weights, freeze, paper_frozen, name):
    """VGG16's first ``blocks`` blocks and a small head; ``paper_frozen``: the base layers the paper froze."""
    inputs, x = image_input(img_size)

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
