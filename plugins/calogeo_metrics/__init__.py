"""Classification, regression and fidelity metrics for calogeo.

Registered through the ``calogeo_register_metrics`` hook exactly as a third-party plugin would,
as lazy references: ``calogeo list metrics`` shows them with their kinds without importing
scipy; a metric's module is imported when the metric is first used.
"""

from __future__ import annotations

from collections.abc import Callable

from calogeo import hookimpl

__all__ = ["METRICS"]

METRICS = {  # name -> (reference, kind, description): checked against the class on first use
    "roc_auc": (
        "calogeo_metrics.classification:RocAuc",
        "classification",
        "ROC curve and area under it, overall and per true-energy / angle bin",
    ),
    "accuracy": (
        "calogeo_metrics.classification:Accuracy",
        "classification",
        "fraction classified right (score > threshold), overall and per bin",
    ),
    "rejection": (
        "calogeo_metrics.classification:Rejection",
        "classification",
        "background rejection 1/eps_bkg at fixed signal efficiency (default 90%)",
    ),
    "bias": (
        "calogeo_metrics.regression:Bias",
        "regression",
        "mean and median of (E_pred - E_true)/E_true per true-energy bin",
    ),
    "resolution": (
        "calogeo_metrics.regression:Resolution",
        "regression",
        "resolution per energy bin (RMS, sigma90/mu90, IQR) + a/sqrt(E)(+)b(+)c/E fit",
    ),
    "response": (
        "calogeo_metrics.regression:Response",
        "regression",
        "mean and median response E_pred/E_true per true-energy bin",
    ),
    "energy_moments": (
        "calogeo_metrics.regression:EnergyMoments",
        "regression",
        "LUXE: relative bias of moments 1-3 and KL distance of E_pred vs E_true spectra",
    ),
    "histograms": (
        "calogeo_metrics.fidelity:Histograms",
        "fidelity",
        "per observable: separation power, Wasserstein-1 distance, KS statistic",
    ),
    "correlations": (
        "calogeo_metrics.fidelity:Correlations",
        "fidelity",
        "difference of the observables' Pearson correlation matrices (ILD Fig. 5)",
    ),
    "fpd_kpd": (
        "calogeo_metrics.fidelity:FrechetKernel",
        "fidelity",
        "Frechet and kernel physics distances (FPD, KPD) on the observable vector",
    ),
    "classifier": (
        "calogeo_metrics.fidelity:ClassifierTest",
        "fidelity",
        "DNN two-sample test on observables or cells: AUC and JSD=(ln2-BCE)/ln2",
    ),
    "response_vs_energy": (
        "calogeo_metrics.fidelity:ResponseVsEnergy",
        "fidelity",
        "deposited/incident energy and hit count (mean, spread) per incident energy",
    ),
    "nearest_neighbour": (
        "calogeo_metrics.fidelity:NearestNeighbour",
        "fidelity",
        "distance of generated showers to the closest reference (training) shower",
    ),
    "profiles": (
        "calogeo_metrics.fidelity:Profiles",
        "fidelity",
        "mean longitudinal (per X0) and radial (per R_M) energy profiles",
    ),
    "energy_spectrum": (
        "calogeo_metrics.fidelity:EnergySpectrum",
        "fidelity",
        "LUXE: moments 1-3 relative bias and KL distance of deposited-energy spectra",
    ),
    "validation": (
        "calogeo_metrics.validation:Validation",
        "fidelity",
        "generative validation suite: ILD Figs. 4-7, CaloGAN Table IV, any N samples",
    ),
}


@hookimpl
def calogeo_register_metrics(register: Callable[..., None]) -> None:
    """Register every metric (imported on first use)."""
    for name, (ref, kind, description) in METRICS.items():
        register(ref, name=name, kind=kind, description=description)
