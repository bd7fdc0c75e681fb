"""The six models of docs/paper.md, "The six models", written in plain PyTorch, layer for layer.

A reference for `bench/gpu_train.py`: same convolutions, poolings and dense sizes as the Keras
builders in `src/ricecnn/networks/` (so the same parameter count), ReLU everywhere, 'same' padding.
Only the cost matters here, not bit-equality with Keras:

- The models take NCHW float images in [0, 1] (the benchmark scales uint8 by 1/255 in its step,
  where the Keras models have a Rescaling layer) and return logits (the softmax is inside
  `F.cross_entropy`, where the Keras models end in a softmax layer).
- 'same' padding is symmetric, k // 2 on each side. For stride 1 that is exactly Keras'; for
  stride 2 Keras pads one more pixel on the bottom/right than on the top/left, which gives the
  same output size (ceil(n / 2)) and the same cost.
- `Flatten` (cnn, cnn_light) flattens in Keras' H, W, C order (a view for channels_last tensors).
- For VGG the `freeze` setting means what it means for `ricecnn.networks.build.build_model`: 'paper'
  (vgg16: every base layer before block5_conv1 frozen; vgg16_light: the whole base), 'none', or
  an int N = the first N base layers (convolutions and poolings, in order) frozen; frozen
  parameters get `requires_grad=False`. The weights are random (no ImageNet download).
"""

from __future__ import annotations

import torch
from torch import nn

# the widths of the Keras builders themselves (plain data: no Keras imported)
from ricecnn.networks import googlenet as googlenet_widths
from ricecnn.networks import googlenet_light as googlenet_light_widths

NAMES = ("cnn", "cnn_light", "googlenet", "googlenet_light", "vgg16", "vgg16_light")


def conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    """Conv2D(cout, k x k, stride, padding='same', activation='relu')."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.ReLU(inplace=True))


class FlattenHWC(nn.Module):
    """Keras' Flatten on NHWC data: (N, C, H, W) -> (N, H*W*C) in H, W, C order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1).flatten(1)


class GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


# --- cnn, cnn_light (docs/paper.md, models 1-2) -------------------------------------------------------------------

def _cnn(img_size, num_classes, filters, units, stride) -> nn.Sequential:
    layers, cin, n = [], 3, img_size
    for f in filters:
        layers += [conv(cin, f, 3, stride), nn.MaxPool2d(2, 2)]
        n = -(-n // stride) // 2  # 'same' conv: ceil(n / stride); 'valid' 2x2 pool: floor(n / 2)
        cin = f
    return nn.Sequential(*layers, FlattenHWC(), nn.Linear(n * n * cin, units), nn.ReLU(inplace=True),
                         nn.Linear(units, num_classes))


def cnn(img_size: int, num_classes: int) -> nn.Module:
    return _cnn(img_size, num_classes, (32, 64, 128), 128, stride=1)


def cnn_light(img_size: int, num_classes: int) -> nn.Module:
    return _cnn(img_size, num_classes, (8, 16), 16, stride=2)


# --- googlenet, googlenet_light (models 3-4) -------------------------------------------------------

class Inception(nn.Module):
    """Concat of 1x1 | 1x1->3x3 | 1x1->5x5 | 3x3 max-pool (stride 1, same)->1x1, on channels."""

    def __init__(self, cin, f1, f3r, f3, f5r, f5, pp):
        super().__init__()
        self.b1 = conv(cin, f1, 1)
        self.b3 = nn.Sequential(conv(cin, f3r, 1), conv(f3r, f3, 3))
        self.b5 = nn.Sequential(conv(cin, f5r, 1), conv(f5r, f5, 5))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, padding=1), conv(cin, pp, 1))
        self.out_channels = f1 + f3 + f5 + pp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


def _googlenet(num_classes, stem, modules) -> nn.Sequential:
    def pool():  # MaxPool(3x3, stride 2, 'same'): ceil(n / 2), like Keras
        return nn.MaxPool2d(3, 2, padding=1)

    layers = [conv(3, stem[0], 7, stride=2), pool(), conv(stem[0], stem[1], 1), conv(stem[1], stem[2], 3), pool()]
    cin = stem[2]
    last = {m[0]: m for m in modules}  # stage -> its last module: a stride-2 pool follows stages 3 and 4
    for module, filters in modules.items():
        layers.append(Inception(cin, *filters))
        cin = layers[-1].out_channels
        if module[0] in "34" and module == last[module[0]]:
            layers.append(pool())
    return nn.Sequential(*layers, GlobalAvgPool(), nn.Dropout(0.4), nn.Linear(cin, num_classes))


def googlenet(img_size: int, num_classes: int) -> nn.Module:
    return _googlenet(num_classes, googlenet_widths.STEM, googlenet_widths.MODULES)


def googlenet_light(img_size: int, num_classes: int) -> nn.Module:
    return _googlenet(num_classes, googlenet_light_widths.STEM, googlenet_light_widths.MODULES)


# --- vgg16, vgg16_light (models 5-6) ---------------------------------------------------------------

VGG_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (filters, convolutions) per block
# freeze='paper': base layers frozen (as in ricecnn.networks.layers): vgg16 all but block5's 3 convs and
# its pool (18 - 4 = 14), vgg16_light its whole 10-layer base (blocks 1-3).
VGG_SEED_FROZEN = {"vgg16": 14, "vgg16_light": 10}


def _vgg(num_classes, blocks, units, dropout, freeze, paper_frozen) -> nn.Sequential:
    base, cin = [], 3
    for filters, convs in VGG_BLOCKS[:blocks]:
        for _ in range(convs):
            base.append(conv(cin, filters, 3))
            cin = filters
        base.append(nn.MaxPool2d(2, 2))
    frozen = {"paper": paper_frozen, "none": 0}.get(freeze, freeze)
    if not isinstance(frozen, int) or isinstance(frozen, bool) or not 0 <= frozen <= len(base):
        raise ValueError(f"freeze={freeze!r}: expected 'paper', 'none' or an int in 0..{len(base)}")
    for layer in base[:frozen]:
        layer.requires_grad_(False)
    return nn.Sequential(*base, GlobalAvgPool(), nn.Linear(cin, units), nn.ReLU(inplace=True), nn.Dropout(dropout),
                         nn.Linear(units, num_classes))


def vgg16(img_size: int, num_classes: int, freeze: str | int = "paper") -> nn.Module:
    return _vgg(num_classes, 5, 512, 0.3, freeze, VGG_SEED_FROZEN["vgg16"])


def vgg16_light(img_size: int, num_classes: int, freeze: str | int = "paper") -> nn.Module:
    return _vgg(num_classes, 3, 256, 0.2, freeze, VGG_SEED_FROZEN["vgg16_light"])


def build(name: str, img_size: int = 224, num_classes: int = 5, freeze: str | int = "paper") -> nn.Module:
    """The PyTorch twin of ``ricecnn.networks.build.build_model(name, img_size, num_classes, {"freeze": freeze})``."""
    builders = {f.__name__: f for f in (cnn, cnn_light, googlenet, googlenet_light, vgg16, vgg16_light)}
    if name not in builders:
        raise ValueError(f"unknown model {name!r}: one of {', '.join(NAMES)}")
    if name.startswith("vgg16"):
        return builders[name](img_size, num_classes, freeze=freeze)
    return builders[name](img_size, num_classes)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts, as Keras' count_params() and its trainable weights."""
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for p in model.parameters() if p.requires_grad)
