"""VGG-16 and ResNet-18 inference, fovea vs PyTorch, side by side in one process.

    python benchmarks/inference.py [--batch 8] [--size 224] [--repeat 5] [--threads N]

Forward passes in eval mode on random float32 input (N, 3, size, size), the same weights in
both frameworks (PyTorch's, copied into fovea), medians and the ratio fovea / PyTorch.
torchvision is not needed: the PyTorch reference models are written out below with
torchvision's layout.
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from train_step import median_ms  # benchmarks/ is the script's directory

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M"]


def torch_vgg16(nn):
    layers, c = [], 3
    for v in VGG16:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v

    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))

        def forward(self, x):
            return self.classifier(self.avgpool(self.features(x)).flatten(1))

    return VGG()


def torch_resnet18(nn, num_classes=1000, small_input=False):
    """torchvision's ResNet-18; ``small_input``: fovea's CIFAR stem (3×3 stride 1, no
    max-pool), as ``fovea.models.resnet18_cifar``."""
    class BasicBlock(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + idt)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            if small_input:
                self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            else:
                self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.Identity() if small_input else nn.MaxPool2d(3, 2, 1)
            chans, cin = [64, 128, 256, 512], 64
            for i, c in enumerate(chans):
                stride = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}",
                        nn.Sequential(BasicBlock(cin, c, stride), BasicBlock(c, c, 1)))
                cin = c
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()

    import torch
    from torch import nn as tnn

    import fovea
    from fovea.models import build_model

    torch.set_num_threads(args.threads)
    fovea.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((args.batch, 3, args.size, args.size),
                                                  dtype=np.float32)
    rows = []
    for name, make in (("vgg16", torch_vgg16), ("resnet18", torch_resnet18)):
        tmodel = make(tnn).eval()
        fmodel = build_model(name, (3, args.size, args.size), 1000).eval()
        fmodel.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})
        tx, fx = torch.from_numpy(x), fovea.tensor(x)

        def run_torch(m=tmodel, inp=tx):
            with torch.no_grad():
                return m(inp)

        def run_fovea(m=fmodel, inp=fx):
            with fovea.no_grad():
                return m(inp)

        diff = np.abs(run_fovea().numpy() - run_torch().numpy()).max()
        fm, tm = [], []
        for _ in range(2):  # interleave: machine noise hits both alike
            fm.append(median_ms(run_fovea, args.repeat, warmup=1))
            tm.append(median_ms(run_torch, args.repeat, warmup=1))
        f, t = min(fm), min(tm)
        rows.append((name, f, t, f / t, diff))
    print(f"forward, batch {args.batch} × 3×{args.size}×{args.size}, float32, "
          f"{args.threads} threads")
    print("| model | fovea ms | PyTorch ms | ratio | max abs logit diff |")
    print("|---|---|---|---|---|")
    for name, f, t, r, d in rows:
        print(f"| {name} | {f:.0f} | {t:.0f} | {r:.2f} | {d:.1e} |")


if __name__ == "__main__":
    main()
