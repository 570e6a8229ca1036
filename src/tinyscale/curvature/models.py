"""The curvature study's networks: the CIFAR variant of ResNet (seed 003's ResNet-18) at any size.

The CIFAR variant starts with a 3x3 stride-1 convolution and no max-pool (a 32x32 image
keeps its resolution into the first stage); each stage doubles the width and halves the
resolution; BatchNorm after every convolution; global average pooling, then one linear
layer over every class. State-dict names follow torchvision's ResNet (conv1, bn1,
layer<k>.<j>.conv1/bn1/conv2/bn2/downsample, fc), so a checkpoint of such a ResNet-18
loads as it is.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..errors import ConfigError


class BasicBlock(nn.Module):
    def __init__(self, inp: int, out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inp != out:
            self.downsample = nn.Sequential(nn.Conv2d(inp, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + identity)


class ResNet(nn.Module):
    """``widths[k]`` channels and ``blocks[k]`` basic blocks in stage k (stride 2 from the second)."""

    def __init__(self, in_channels: int, num_classes: int, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        inp = widths[0]
        for k, (width, n) in enumerate(zip(widths, blocks)):
            stage = [BasicBlock(inp if j == 0 else width, width, 2 if k and j == 0 else 1) for j in range(n)]
            self.add_module(f"layer{k + 1}", nn.Sequential(*stage))
            inp = width
        self.stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inp, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for k in range(self.stages):
            x = getattr(self, f"layer{k + 1}")(x)
        return self.fc(self.avgpool(x).flatten(1))


def build_model(spec: dict, in_channels: int, num_classes: int) -> ResNet:
    """The configured network (``curvature.model``): a ResNet of ``widths`` and ``blocks``."""
    widths, blocks = spec["widths"], spec["blocks"]
    if len(widths) != len(blocks):
        raise ConfigError(f"config key 'curvature.model': widths {widths} and blocks {blocks} "
                          "must name the same number of stages")
    return ResNet(in_channels, num_classes, tuple(widths), tuple(blocks))
