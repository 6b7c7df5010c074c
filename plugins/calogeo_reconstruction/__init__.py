"""Reconstruction models for calogeo: calibrated-sum, linear and BDT baselines, DNN, 3D CNN and GoogLeNet-3D
(Belayneh et al. 2020), per-layer CNN and DenseNet (ATLAS pion study), ResNet10-3D (LUXE).

Registered through the public ``calogeo_register_models`` hook as lazy references: listing the
models imports nothing; a model's module is imported when it is first used, and torch only when
a network is built.
"""

from __future__ import annotations

from collections.abc import Callable

from calogeo import hookimpl
from calogeo.plugins import lazy_attributes

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

CLASSIFY_REGRESS = ("classify", "regress")
MODELS = {  # name -> (reference, kind, description): checked against the class on first use
    "calibrated_sum": (
        "calogeo_reconstruction.baselines:CalibratedSum",
        ("regress",),
        "calibrated sum: visible energy / sampling fraction, layer by layer (no fit)",
    ),
    "linear": (
        "calogeo_reconstruction.baselines:LinearRegression",
        ("regress",),
        "linear calibration of the layer-group deposited energies (Belayneh et al. Eq. 2)",
    ),
    "bdt": (
        "calogeo_reconstruction.baselines:BDT",
        CLASSIFY_REGRESS,
        "gradient-boosted trees on expert shower features (Belayneh et al. App. D)",
    ),
    "dnn": (
        "calogeo_reconstruction.models:DNN",
        CLASSIFY_REGRESS,
        "DNN on all cells + group energies and angles (Belayneh et al. 2020)",
    ),
    "cnn3d": (
        "calogeo_reconstruction.models:CNN3D",
        CLASSIFY_REGRESS,
        "3D CNN, one convolution per layer group (Belayneh et al. 2020)",
    ),
    "googlenet3d": (
        "calogeo_reconstruction.models:GoogLeNet3D",
        CLASSIFY_REGRESS,
        "GoogLeNet-3D with inception modules (Belayneh et al. 2020, App. E)",
    ),
    "layer_cnn": (
        "calogeo_reconstruction.models:LayerCNN",
        CLASSIFY_REGRESS,
        "2D CNN with one branch per layer block (ATLAS pion study 2020)",
    ),
    "densenet": (
        "calogeo_reconstruction.models:DenseNet",
        CLASSIFY_REGRESS,
        "DenseNet with one branch per layer block (ATLAS pion study 2020)",
    ),
    "resnet10_3d": (
        "calogeo_reconstruction.models:ResNet10",
        CLASSIFY_REGRESS,
        "ResNet10-3D residual network (LUXE ECAL study)",
    ),
}

__getattr__ = lazy_attributes(
    __name__, {ref.rpartition(":")[2]: ref for ref, _, _ in MODELS.values()}
)


@hookimpl
def calogeo_register_models(register: Callable[..., None]) -> None:
    """Register every reconstruction model (imported on first use)."""
    for name, (ref, kind, description) in MODELS.items():
        register(ref, name=name, kind=kind, description=description)
