"""ResNet (He, Zhang, Ren & Sun, 2015) with basic blocks, in torchvision's layout: ResNet-18 and
ResNet-34, and ResNet-18 for 32×32 images.

A basic block computes relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)): two 3×3
convolutions learn a residual that is added to the input, so a block can start out as (close
to) the identity and a deep stack still trains. Where a block halves the image or changes the
width, the shortcut is ``downsample`` = 1×1 convolution (stride 2) → batch norm; elsewhere the
identity. torchvision's initialization: convolutions kaiming_normal_(fan_out, relu) without
bias, batch norm weight 1 and bias 0, the final Linear PyTorch's default.
"""

from __future__ import annotations

from .. import nn
from .blocks import conv_layer, linear_layer


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3×3 convolution with padding 1 and no bias (batch norm follows)."""
    return conv_layer(in_planes, out_planes, 3, stride, 1, bias=False, init="kaiming_out")


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1×1 convolution without bias: the projection shortcut."""
    return conv_layer(in_planes, out_planes, 1, stride, 0, bias=False, init="kaiming_out")


class BasicBlock(nn.Module):
    """conv3×3 (stride) → BN → ReLU → conv3×3 → BN, plus the shortcut, then ReLU
    (torchvision's ``BasicBlock``; keys conv1, bn1, conv2, bn2, downsample.0, downsample.1)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ``ResNet``: stem (conv 7×7/2 → BN → ReLU → maxpool 3/2), four stages of
    ``layers[i]`` blocks with 64, 128, 256, 512 channels (stages 2–4 start with stride 2),
    adaptive average pool to 1×1, fc.

    ``small_input=True`` gives the CIFAR stem instead: conv 3×3 stride 1, no max-pool
    (``maxpool`` is an Identity), so a 32×32 image reaches the last stage at 4×4 instead of
    1×1. ``in_channels`` sets the stem's input channels (3 in torchvision).
    """

    def __init__(self, block, layers, num_classes: int = 1000, in_channels: int = 3,
                 small_input: bool = False):
        super().__init__()
        self.inplanes = 64
        if small_input:
            self.conv1 = conv_layer(in_channels, 64, 3, 1, 1, bias=False, init="kaiming_out")
        else:
            self.conv1 = conv_layer(in_channels, 64, 7, 2, 3, bias=False, init="kaiming_out")
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = linear_layer(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18 (blocks 2, 2, 2, 2): 11,689,512 parameters for 1000 classes."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34 (blocks 3, 4, 6, 3): 21,797,672 parameters for 1000 classes."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes)


def resnet18_cifar(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-18 for 32×32 (or 28×28) images: 3×3 stride-1 stem, no max-pool; 11,173,962
    parameters for 10 classes and 3 input channels."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, small_input=True)
