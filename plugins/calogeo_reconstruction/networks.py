"""Torch backbones of the reconstruction models, sized from their input shapes.

Every backbone takes the list of view inputs (one tensor per layer block or layer group, see
:mod:`calogeo.views`) and returns features (N, F). Kernels, pooling windows and strides are
clipped to each input's extent, so a 4-wide strip layer (ATLAS EMB1 128x4, CaloGAN 3x96) or a
single-layer stack (CMS crystals) is never pooled to zero. Imported only when a model is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

Shape = tuple[int, ...]


def clip(kernel: int | Sequence[int], extent: Sequence[int]) -> tuple[int, ...]:
    """A kernel (or window, or stride) no larger than the spatial ``extent`` of the input."""
    ks = [kernel] * len(extent) if isinstance(kernel, int) else list(kernel)
    return tuple(max(1, min(int(k), int(e))) for k, e in zip(ks, extent, strict=True))


def conv_out(
    extent: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int] = (),
    pad: Sequence[int] = (),
) -> tuple[int, ...]:
    """Spatial extent after a convolution or pooling window (floor mode)."""
    stride = stride or [1] * len(extent)
    pad = pad or [0] * len(extent)
    return tuple(
        (e + 2 * p - k) // s + 1 for e, k, s, p in zip(extent, kernel, stride, pad, strict=True)
    )


def _conv(dims: int) -> type[nn.Module]:
    return nn.Conv3d if dims == 3 else nn.Conv2d


def _bn(dims: int) -> type[nn.Module]:
    return nn.BatchNorm3d if dims == 3 else nn.BatchNorm2d


def _maxpool(dims: int) -> type[nn.Module]:
    return nn.MaxPool3d if dims == 3 else nn.MaxPool2d


class Branches(nn.Module):
    """One trunk per input; their flattened outputs concatenated: (N, sum F_i)."""

    def __init__(self, trunks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.trunks = nn.ModuleList(trunks)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(
            [trunk(x).flatten(1) for trunk, x in zip(self.trunks, inputs, strict=True)], dim=1
        )


def feature_size(body: nn.Module, shapes: Sequence[Shape]) -> int:
    """Width of ``body``'s output, from one forward pass on zeros (in eval mode)."""
    was_training = body.training
    body.eval()
    with torch.no_grad():
        n = body([torch.zeros(1, *s) for s in shapes]).shape[1]
    body.train(was_training)
    return int(n)


def branched(trunks: Sequence[nn.Module], shapes: Sequence[Shape]) -> tuple[Branches, int]:
    """``Branches`` of ``trunks`` (one per input shape) and the width of their joint output."""
    body = Branches(trunks)
    return body, feature_size(body, shapes)


# -- flat ------------------------------------------------------------------------------------


class Flatten(nn.Module):
    """All inputs flattened, joined and standardised cell by cell: the DNN of Belayneh et al.
    (its dense layers are the shared head).

    The standardisation is a batch normalisation with eps = 1 (inputs are log(1 + E / s), of
    order 1-10): it brings out the event-to-event variations of cells that every shower fills
    (a shower resampled from CMS crystals back to CLIC pads: test AUC 0.46 -> 0.91), without
    blowing up cells that are rarely hit (CLIC pads: 0.94 -> 0.97)."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(n_features, eps=1.0)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.norm(torch.cat([x.flatten(1) for x in inputs], dim=1))


# -- Belayneh et al. 3D CNN --------------------------------------------------------------------


def conv_pool_trunk(shape: Shape, filters: int, kernel: Sequence[int]) -> nn.Module:
    """Conv (``filters``, ``kernel`` clipped to the input) -> ReLU -> max pool 2 (clipped):
    the one-convolution trunk of the Belayneh et al. CNN (Sect. 5.1), 2D or 3D by ``shape``."""
    channels, *extent = shape
    dims = len(extent)
    k = clip(kernel, extent)
    pooled = clip(2, conv_out(extent, k))
    return nn.Sequential(_conv(dims)(channels, filters, k), nn.ReLU(), _maxpool(dims)(pooled))


# -- GoogLeNet-3D (Belayneh et al. App. E) ------------------------------------------------------

GOOGLENET_MODULES: tuple[tuple[int, int, int, int, int, int, int], ...] = (
    (192, 64, 96, 128, 16, 32, 32),
    (256, 128, 128, 192, 32, 96, 64),
    (480, 192, 96, 208, 16, 48, 64),
    (512, 160, 112, 224, 24, 64, 64),
    (512, 128, 128, 256, 24, 64, 64),
    (512, 112, 144, 288, 32, 64, 64),
    (528, 256, 160, 320, 32, 128, 128),
    (832, 256, 160, 320, 32, 128, 128),
    (832, 384, 192, 384, 48, 128, 128),
)
"""Inception (A, B, C, D, E, F, G) modules of Belayneh et al. App. E, in order; max pooling
(kernel 3, stride 2, padding 1) follows the 2nd and the 7th."""
GOOGLENET_POOL_AFTER = (2, 7)


def halving(extent: Sequence[int], stride: int = 2) -> tuple[int, ...]:
    """A stride of ``stride`` along every axis longer than one cell, 1 along the others."""
    return tuple(stride if e > 1 else 1 for e in extent)


def _cbr(c_in: int, c_out: int, kernel: int, stride: int | Sequence[int] = 1) -> nn.Module:
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=kernel // 2),
        nn.BatchNorm3d(c_out),
        nn.ReLU(),
    )


class Inception3d(nn.Module):
    """Four branches concatenated: 1^3 conv (A->B); 1^3 (A->C) then 3^3 (C->D); 1^3 (A->E) then
    5^3 (E->F); 3^3 max pool then 1^3 (A->G); each conv with batch norm and ReLU."""

    def __init__(self, a: int, b: int, c: int, d: int, e: int, f: int, g: int) -> None:
        super().__init__()
        self.b1 = _cbr(a, b, 1)
        self.b2 = nn.Sequential(_cbr(a, c, 1), _cbr(c, d, 3))
        self.b3 = nn.Sequential(_cbr(a, e, 1), _cbr(e, f, 5))
        self.b4 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1), _cbr(a, g, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b2(x), self.b3(x), self.b4(x)], dim=1)


def googlenet_trunk(shape: Shape, modules: int, width: float, stem_stride: int = 1) -> nn.Module:
    """Instance norm -> 3^3 conv to 192 x ``width`` channels -> the first ``modules`` inception
    modules (channels x ``width``) with their max pools -> global average pool. The paper's
    7^3 average pool is a global one for its 25^3 input; here it adapts to any input.

    ``stem_stride`` 2 (not the paper's 1) halves every axis in the stem convolution, as the
    strided stem of the original GoogLeNet (Szegedy et al. 2015) does: on a 25^3 CLIC image the
    modules then run on 13^3 voxels, 7x fewer."""

    def scaled(n: int) -> int:
        return max(1, round(n * width))

    channels = shape[0]
    specs = [tuple(scaled(n) for n in m) for m in GOOGLENET_MODULES[:modules]]
    layers: list[nn.Module] = [
        nn.InstanceNorm3d(channels, affine=False),
        _cbr(channels, scaled(192), 3, halving(shape[1:], stem_stride)),
    ]
    width_in = scaled(192)
    for i, (_, b, c, d, e, f, g) in enumerate(specs, start=1):
        layers.append(Inception3d(width_in, b, c, d, e, f, g))
        width_in = b + d + f + g
        if i in GOOGLENET_POOL_AFTER and i < len(specs):
            layers.append(nn.MaxPool3d(3, stride=2, padding=1))
    layers.append(nn.AdaptiveAvgPool3d(1))
    return nn.Sequential(*layers)


# -- ATLAS per-layer CNN and DenseNet (ATL-PHYS-PUB-2020-018 Sect. 4.2) -------------------------


def layer_cnn_trunk(shape: Shape, filters: int, kernel: int, convolutions: int) -> nn.Module:
    """``convolutions`` x (same-padded conv, ReLU, max pool 2 clipped), channels doubling."""
    channels, *extent = shape
    layers: list[nn.Module] = []
    for i in range(convolutions):
        k = tuple(n if n % 2 else n - 1 for n in clip(kernel, extent))  # odd: symmetric "same"
        out = filters * 2**i
        layers += [nn.Conv2d(channels, out, k, padding="same"), nn.ReLU()]
        window = clip(2, extent)
        layers.append(nn.MaxPool2d(window))
        extent = list(conv_out(extent, window, window))
        channels = out
    return nn.Sequential(*layers)


class DenseBlock2d(nn.Module):
    """``n_layers`` of BN-ReLU-conv3x3 (``growth`` channels), each fed every previous map
    (Huang et al., DenseNet, CVPR 2017)."""

    def __init__(self, channels: int, growth: int, n_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.BatchNorm2d(channels + i * growth),
                nn.ReLU(),
                nn.Conv2d(channels + i * growth, growth, 3, padding=1),
            )
            for i in range(n_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return x


def densenet_trunk(shape: Shape, growth: int, n_layers: int, pooled: int) -> nn.Module:
    """Conv3x3 stem -> dense block -> BN-ReLU -> adaptive average pool to at most
    ``pooled`` x ``pooled`` (never more than the input extent)."""
    channels, rows, cols = shape
    stem = 2 * growth
    return nn.Sequential(
        nn.Conv2d(channels, stem, 3, padding=1),
        DenseBlock2d(stem, growth, n_layers),
        nn.BatchNorm2d(stem + n_layers * growth),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((min(rows, pooled), min(cols, pooled))),
    )


# -- ResNet10-3D (LUXE ECAL study, seed 004 Table 1; He et al. CVPR 2016) ------------------------


class BasicBlock3d(nn.Module):
    """Two 3^3 convolutions with batch norm and a (projected) identity shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: tuple[int, ...]) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm3d(c_out),
            nn.ReLU(),
            nn.Conv3d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm3d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if c_in != c_out or any(s != 1 for s in stride):
            self.shortcut = nn.Sequential(
                nn.Conv3d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm3d(c_out)
            )
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


def resnet10_trunk(shape: Shape, widths: Sequence[int]) -> nn.Module:
    """3^3 stem conv -> four basic blocks (one per stage, ``widths`` channels) that halve
    every axis still longer than one cell -> global average pool: ResNet10 in 3D. The first
    block halves too, as in seed 004 Table 1 (layer 1 [31, 11, 21] -> block 1 [16, 6, 11]);
    at widths [8, 16, 32, 64] on a 25^3 CLIC image, 2.6x less CPU time a training shower."""
    channels, *extent = shape
    layers: list[nn.Module] = [
        nn.Conv3d(channels, widths[0], 3, padding=1, bias=False),
        nn.BatchNorm3d(widths[0]),
        nn.ReLU(),
    ]
    c_in = widths[0]
    for c_out in widths:
        stride = halving(extent)
        layers.append(BasicBlock3d(c_in, c_out, stride))
        extent = [(e + 2 - 3) // s + 1 for e, s in zip(extent, stride, strict=True)]
        c_in = c_out
    layers.append(nn.AdaptiveAvgPool3d(1))
    return nn.Sequential(*layers)
