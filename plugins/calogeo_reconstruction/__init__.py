"""Reconstruction models for calogeo: calibrated-sum, linear and BDT baselines, DNN, 3D CNN and GoogLeNet-3D
(Belayneh et al. 2020), per-layer CNN and DenseNet (ATLAS pion study), ResNet10-3D (LUXE).

Registered through the public ``calogeo_register_models`` hook; torch is imported only when a
network is built, so listing models stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from calogeo import hookimpl
from calogeo_reconstruction.baselines import BDT, CalibratedSum, LinearRegression
from calogeo_reconstruction.models import CNN3D, DNN, DenseNet, GoogLeNet3D, LayerCNN, ResNet10

__all__ = [
    "BDT",
    "CNN3D",
    "DNN",
    "CalibratedSum",
    "DenseNet",
    "GoogLeNet3D",
    "LayerCNN",
    "LinearRegression",
    "ResNet10",
]

MODELS = (
    CalibratedSum,
    LinearRegression,
    BDT,
    DNN,
    CNN3D,
    GoogLeNet3D,
    LayerCNN,
    DenseNet,
    ResNet10,
)


@hookimpl
def calogeo_register_models(register: Callable[[Any], None]) -> None:
    """Register every reconstruction model class."""
    for model in MODELS:
        register(model)
