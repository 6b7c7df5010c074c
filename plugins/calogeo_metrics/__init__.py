"""Classification, regression and fidelity metrics for calogeo.

Registered through the ``calogeo_register_metrics`` hook exactly as a third-party plugin would;
``calogeo list metrics`` shows them with their kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from calogeo import hookimpl
from calogeo_metrics.classification import Accuracy, Rejection, RocAuc
from calogeo_metrics.fidelity import (
    ClassifierTest,
    Correlations,
    EnergySpectrum,
    FrechetKernel,
    Histograms,
    NearestNeighbour,
    Profiles,
    ResponseVsEnergy,
)
from calogeo_metrics.regression import Bias, EnergyMoments, Resolution, Response

__all__ = ["METRICS"]

METRICS = (
    RocAuc,
    Accuracy,
    Rejection,
    Bias,
    Resolution,
    Response,
    EnergyMoments,
    Histograms,
    Correlations,
    FrechetKernel,
    ClassifierTest,
    ResponseVsEnergy,
    NearestNeighbour,
    Profiles,
    EnergySpectrum,
)


@hookimpl
def calogeo_register_metrics(register: Callable[[Any], None]) -> None:
    for metric in METRICS:
        register(metric)
