"""PortraitNet (Zhang et al., 2019): MobileNetV2 encoder + light U-shaped decoder.

Layout follows the paper's figure and the authors' reference implementation: the encoder gives features
at strides 4, 8, 16 and 32; the decoder has five stages, each a D-block (residual block of
depthwise-separable convolutions) followed by a 2x depthwise transposed convolution, and adds the encoder
feature of the same stride before the next D-block. Two heads at full resolution: the mask head and the
boundary head (training only).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

# Input normalisation inside the graph, so the app feeds plain RGB in [0, 1]. v1 (trained from scratch)
# used ImageNet statistics; v2 starts from Keras' MobileNetV2 weights, which expect [-1, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The two layouts the project has trained. "v2" matches the pretrained encoder converted by
# training/pretrained.py: BatchNorm epsilon 1e-3 and stride-2 convolutions padded only at the
# bottom/right, as Keras does; anything else shifts every sampling grid of the pretrained weights.
ARCHS = {
    "v1": {"keras_padding": False, "bn_eps": 1e-5, "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
    "v2": {"keras_padding": True, "bn_eps": 1e-3, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)},
    # v3: v2's encoder with a decoder whose upsampling is aligned to the Keras grids (KerasAlignedUpsample).
    "v3": {"keras_padding": True, "bn_eps": 1e-3, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
           "aligned_upsampling": True},
}


class KerasStrideConv(nn.Conv2d):
    """Stride-2 3x3 convolution with Keras' asymmetric zero padding (0 left/top, 1 right/bottom).

    A Conv2d subclass (not Sequential(pad, conv)) so the state-dict keys match the symmetric layout."""

    def forward(self, x):
        return super().forward(F.pad(x, (0, 1, 0, 1)))


def conv_bn_relu(inp: int, oup: int, kernel: int, stride: int, groups: int = 1, keras_padding: bool = False,
                 bn_eps: float = 1e-5) -> nn.Sequential:
    if keras_padding and stride == 2:
        conv = KerasStrideConv(inp, oup, kernel, stride, 0, groups=groups, bias=False)
    else:
        conv = nn.Conv2d(inp, oup, kernel, stride, kernel // 2, groups=groups, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(oup, eps=bn_eps), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """MobileNetV2 bottleneck: 1x1 expand, 3x3 depthwise, 1x1 linear projection."""

    def __init__(self, inp: int, oup: int, stride: int, expand: int, **layout):
        super().__init__()
        hidden = inp * expand
        layers = [] if expand == 1 else [conv_bn_relu(inp, hidden, 1, 1, **layout)]
        layers += [
            conv_bn_relu(hidden, hidden, 3, stride, groups=hidden, **layout),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup, eps=layout.get("bn_eps", 1e-5)),
        ]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and inp == oup

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_residual else out


def _stage(inp: int, oup: int, repeats: int, stride: int, expand: int = 6, **layout) -> nn.Sequential:
    blocks = [InvertedResidual(inp, oup, stride, expand, **layout)]
    blocks += [InvertedResidual(oup, oup, 1, expand, **layout) for _ in range(repeats - 1)]
    return nn.Sequential(*blocks)


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2, width 1.0, returning the features at strides 4, 8, 16 and 32."""

    channels = (24, 32, 96, 320)

    def __init__(self, keras_padding: bool = False, bn_eps: float = 1e-5):
        super().__init__()
        layout = {"keras_padding": keras_padding, "bn_eps": bn_eps}
        self.to_stride4 = nn.Sequential(
            conv_bn_relu(3, 32, 3, 2, **layout),
            _stage(32, 16, 1, 1, expand=1, **layout),
            _stage(16, 24, 2, 2, **layout),
        )
        self.to_stride8 = _stage(24, 32, 3, 2, **layout)
        self.to_stride16 = nn.Sequential(_stage(32, 64, 4, 2, **layout), _stage(64, 96, 3, 1, **layout))
        self.to_stride32 = nn.Sequential(_stage(96, 160, 3, 2, **layout), _stage(160, 320, 1, 1, **layout))

    def forward(self, x):
        f4 = self.to_stride4(x)
        f8 = self.to_stride8(f4)
        f16 = self.to_stride16(f8)
        f32 = self.to_stride32(f16)
        return f4, f8, f16, f32


class DBlock(nn.Module):
    """The paper's decoder block: two depthwise-separable convolutions with a residual branch."""

    def __init__(self, inp: int, oup: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inp, inp, 3, 1, 1, groups=inp, bias=False),
            nn.BatchNorm2d(inp),
            nn.ReLU(inplace=True),
            nn.Conv2d(inp, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
            nn.ReLU(inplace=True),
            nn.Conv2d(oup, oup, 3, 1, 1, groups=oup, bias=False),
            nn.BatchNorm2d(oup),
            nn.ReLU(inplace=True),
            nn.Conv2d(oup, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        )
        self.shortcut = (
            nn.Identity() if inp == oup else nn.Sequential(nn.Conv2d(inp, oup, 1, bias=False), nn.BatchNorm2d(oup))
        )

    def forward(self, x):
        return F.relu(self.body(x) + self.shortcut(x))


def upsample2x(channels: int) -> nn.ConvTranspose2d:
    # Depthwise transposed convolution, as in the reference implementation: learnable yet cheap.
    return nn.ConvTranspose2d(channels, channels, 4, stride=2, padding=1, groups=channels, bias=False)


class KerasAlignedUpsample(nn.ConvTranspose2d):
    """2x depthwise upsampling that puts each coarse cell back where Keras' stride-2 conv took it from.

    A Keras stride-2 conv (padding only bottom/right) centres output cell i on input cell 2i+1, so at
    stride 32 the features sit 15.5 px right of and below where a symmetric decoder (upsample2x) assumes;
    v2 had to learn that shift, and at the left/top edge, where nothing lies further left, it could not:
    the left edge leaked. Here cell i goes to 2i+1 and 2i is interpolated from i-1 and i (3-tap kernel,
    initialised to linear interpolation, so it also has no checkerboard to begin with). The left/top
    edge repeats its first cell, so border cells are not halved."""

    def __init__(self, channels: int):
        super().__init__(channels, channels, 3, stride=2, padding=0, groups=channels, bias=False)
        taps = torch.tensor([0.5, 1.0, 0.5])
        with torch.no_grad():
            self.weight.copy_(torch.outer(taps, taps).expand(channels, 1, 3, 3))

    def match_gain(self, symmetric_weight: torch.Tensor) -> None:
        """Scale each channel's interpolation kernel to the gain of a trained upsample2x kernel, so a v2
        decoder keeps its scale when it is moved onto these upsamplers (each output of upsample2x sums
        4 of its 16 taps; each output here sums to 1 x the channel's factor)."""
        with torch.no_grad():
            self.weight.mul_((symmetric_weight.sum((1, 2, 3)) / 4).view(-1, 1, 1, 1))

    def forward(self, x):
        height, width = x.shape[-2:]
        # Cell -1 (replicated) feeds output 0; the transposed conv gives 2n+3 cells, of which 2..2n+1 are ours.
        up = super().forward(F.pad(x, (1, 0, 1, 0), mode="replicate"))
        return up[..., 2 : 2 * height + 2, 2 : 2 * width + 2]


class PortraitNet(nn.Module):
    def __init__(self, arch: str = "v2"):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"unknown PortraitNet arch {arch!r}; known: {sorted(ARCHS)}")
        self.arch = arch
        layout = ARCHS[arch]
        self.encoder = MobileNetV2Encoder(layout["keras_padding"], layout["bn_eps"])
        self.dblocks = nn.ModuleList(
            [DBlock(320, 96), DBlock(96, 32), DBlock(32, 24), DBlock(24, 16), DBlock(16, 8)]
        )
        upsample = KerasAlignedUpsample if layout.get("aligned_upsampling") else upsample2x
        self.upsamplers = nn.ModuleList([upsample(c) for c in (96, 32, 24, 16, 8)])
        self.mask_head = nn.Conv2d(8, 2, 1)
        self.boundary_head = nn.Conv2d(8, 2, 1)
        self.register_buffer("mean", torch.tensor(layout["mean"]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(layout["std"]).view(1, 3, 1, 1))

    def decode(self, image: torch.Tensor) -> torch.Tensor:
        """image: N x 3 x H x W RGB in [0, 1] (H, W multiples of 32). Returns the full-resolution features."""
        f4, f8, f16, f32 = self.encoder((image - self.mean) / self.std)
        skips = (f16, f8, f4, None, None)
        x = f32
        for dblock, up, skip in zip(self.dblocks, self.upsamplers, skips):
            x = up(dblock(x))
            if skip is not None:
                x = x + skip
        return x

    def forward(self, image: torch.Tensor):
        """Returns (mask logits, boundary logits), each N x 2 x H x W."""
        features = self.decode(image)
        return self.mask_head(features), self.boundary_head(features)


class PortraitNetForExport(nn.Module):
    """Inference graph: mask head only, foreground probability N x 1 x H x W.

    softmax over two classes is sigmoid(logit_person - logit_background), and that difference is
    itself a 1x1 conv (weights w1 - w0, bias b1 - b0): one output channel and a Sigmoid instead of
    two channels, a Softmax and a Slice. Same numbers, less work (the Softmax alone took ~9 % of
    the model's time in onnxruntime)."""

    def __init__(self, net: PortraitNet):
        super().__init__()
        self.net = net
        head = net.mask_head
        self.person_head = nn.Conv2d(head.in_channels, 1, 1)
        with torch.no_grad():
            self.person_head.weight.copy_(head.weight[1:2] - head.weight[0:1])
            self.person_head.bias.copy_(head.bias[1:2] - head.bias[0:1])

    def forward(self, image):
        return torch.sigmoid(self.person_head(self.net.decode(image)))
