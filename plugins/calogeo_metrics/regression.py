"""Energy-regression metrics in bins of true energy: bias, resolution (RMS, sigma90/mu90, IQR)
with the a/sqrt(E) (+) b (+) c/E fit, response, and the LUXE spectrum moments and KL distance.

All are computed from the response R = E_pred / E_true of each event. For a model that
regressed another quantity (``Predictions.quantity``, e.g. a bunch's multiplicity) they are the
same numbers for that quantity, binned in its true value, and the plots say so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from calogeo.metric import Metric, MetricResult, PredictionMetric
from calogeo.predictions import BASELINES, Predictions
from calogeo_metrics import _stats
from calogeo_metrics._binning import energy_edges, per_bin, regressed

__all__ = ["Bias", "EnergyMoments", "Resolution", "Response"]


class _PerEnergy(PredictionMetric):
    """A regression metric evaluated in bins of true energy."""

    kind = "regression"

    def __init__(self, energy_bins: int | np.ndarray | None = None, min_entries: int = 20) -> None:
        self.energy_bins = energy_bins
        self.min_entries = min_entries

    def binned(
        self,
        predictions: Predictions,
        func: Callable[[np.ndarray], dict[str, float]],
        extra: Callable[[Predictions, np.ndarray], dict[str, float]] | None = None,
    ) -> tuple[MetricResult, np.ndarray]:
        """A result holding the table ``energy`` of ``func(response) -> dict`` per bin, plus
        ``extra(regressed predictions, mask) -> dict`` when given."""
        p, response = regressed(predictions)
        edges = energy_edges(p, self.energy_bins)

        def row(mask: np.ndarray) -> dict[str, float]:
            return {**func(response[mask]), **(extra(p, mask) if extra else {})}

        table = per_bin(p.incident_energy, edges, row, self.min_entries)
        result = self.result(
            values=row(np.ones(len(p), dtype=bool)),
            tables={"energy": table},
            meta={"events": len(p), "model": predictions.model, "energy_bins_gev": edges},
        )
        return result, edges

    @staticmethod
    def xscale(edges: np.ndarray) -> str:
        """Log scale for energy ranges over a factor 10."""
        return "log" if edges[0] > 0 and edges[-1] / edges[0] > 10 else "linear"


def _bias(response: np.ndarray) -> dict[str, float]:
    n = max(len(response), 1)
    return {
        "mean_bias": float(np.mean(response - 1.0)),
        "mean_bias_err": float(np.std(response) / np.sqrt(n)),
        "median_bias": float(np.median(response - 1.0)),
        "median_bias_err": float(1.2533 * np.std(response) / np.sqrt(n)),
    }


class Bias(_PerEnergy):
    """Mean and median of (E_pred - E_true) / E_true per true-energy bin."""

    name = "bias"
    description = "mean and median of (E_pred - E_true)/E_true per true-energy bin"
    source = "Belayneh et al. EPJC 80 (2020) 688, Fig. 14 (bias)"

    def compute(self, predictions: Predictions) -> MetricResult:
        result, edges = self.binned(predictions, _bias)
        result.plots.append(
            {
                "type": "errorbar",
                "table": "energy",
                "x": "centre",
                "y": ["mean_bias", "median_bias"],
                "yerr": ["mean_bias_err", "median_bias_err"],
                "labels": ["mean", "median"],
                "xlabel": predictions.truth_label,
                "ylabel": "(E_pred - E_true) / E_true",
                "xscale": self.xscale(edges),
                "title": "energy bias",
            }
        )
        return result


def _resolution(response: np.ndarray) -> dict[str, float]:
    n = max(len(response), 2)
    mean, rms = float(np.mean(response)), float(np.std(response, ddof=1))
    mu90, s90, mu90_err, s90_err = _stats.sigma90(response)
    return {
        "rms_resolution": rms / mean,
        "rms_resolution_err": float(rms / mean / np.sqrt(2 * (n - 1))),
        "sigma90_over_mu90": s90 / mu90,
        "sigma90_over_mu90_err": float(np.hypot(s90_err / mu90, s90 * mu90_err / mu90**2)),
        "mu90": mu90,
        "iqr_resolution": _stats.iqr_resolution(response),
        "iqr_resolution_err": float(_stats.iqr_resolution(response) / np.sqrt(2 * (n - 1))),
    }


ESTIMATORS = ("rms_resolution", "sigma90_over_mu90", "iqr_resolution")


def baseline_column(name: str) -> str:
    """The column / value name of a baseline's sigma90/mu90, e.g.
    "calibrated_sum_sigma90_over_mu90" (names: :data:`calogeo.predictions.BASELINES`)."""
    return f"{name}_sigma90_over_mu90"


def _baselines(predictions: Predictions, mask: np.ndarray) -> dict[str, float]:
    """sigma90/mu90 and its error of every baseline the predictions carry
    (:meth:`Predictions.baselines`), on the events of ``mask``."""
    values = {}
    for baseline, energy in predictions.baselines().items():
        name = baseline_column(baseline)
        mu90, s90, mu90_err, s90_err = _stats.sigma90(
            energy[mask] / predictions.incident_energy[mask]
        )
        values[name] = s90 / mu90
        values[f"{name}_err"] = float(np.hypot(s90_err / mu90, s90 * mu90_err / mu90**2))
    return values


class Resolution(_PerEnergy):
    """Relative resolution per true-energy bin (RMS/mean, sigma90/mu90, IQR/median) and the fit
    sigma/E = a/sqrt(E) (+) b (+) c/E of one of them."""

    name = "resolution"
    description = "resolution per energy bin (RMS, sigma90/mu90, IQR) + a/sqrt(E)(+)b(+)c/E fit"
    source = (
        "Belayneh et al. Eq. 3 (fit); ILD: Thomson NIM A611 (2009) 25 (sigma90); "
        "ATL-PHYS-PUB-2020-018 (IQR)"
    )

    def __init__(self, fit: str = "sigma90_over_mu90", **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        if fit not in ESTIMATORS:
            msg = f"resolution: unknown estimator {fit!r} to fit; expected one of {ESTIMATORS}"
            raise ValueError(msg)
        self.fit = fit

    def compute(self, predictions: Predictions) -> MetricResult:
        result, edges = self.binned(predictions, _resolution, _baselines)
        table = result.tables["energy"]
        centre = np.asarray(table["centre"], dtype=np.float64)
        fit = _stats.fit_resolution(
            centre,
            # bins with fewer than min_entries events carry no estimator columns
            np.asarray(table.get(self.fit, []), dtype=np.float64),
            np.asarray(table.get(f"{self.fit}_err", []), dtype=np.float64),
        )
        result.values.update({f"fit_{k}": v for k, v in fit.items()})
        result.meta["fitted_estimator"] = self.fit
        if np.isfinite(fit["a"]) and len(centre):
            grid = np.geomspace(centre.min(), centre.max(), 100)
            curve = _stats.resolution_model(grid, fit["a"], fit["b"], fit["c"])
            result.tables["fit"] = {"energy": grid.tolist(), "resolution": curve.tolist()}
            label = f"fit: {fit['a']:.3f}/sqrt(E) (+) {fit['b']:.3f} (+) {fit['c']:.3f}/E"
            curves = [{"table": "fit", "x": "energy", "y": "resolution", "label": label}]
        else:
            curves = []
        baselines = [baseline_column(b) for b in predictions.baselines()]
        result.plots.append(
            {
                "type": "errorbar",
                "table": "energy",
                "x": "centre",
                "y": [*ESTIMATORS, *baselines],
                "yerr": [f"{e}_err" for e in (*ESTIMATORS, *baselines)],
                "labels": [
                    "RMS / mean",
                    "sigma90 / mu90",
                    "IQR/2 / median",
                    *(f"{BASELINES[b]} (sigma90 / mu90)" for b in predictions.baselines()),
                ],
                "curves": curves,
                "xlabel": predictions.truth_label,
                "ylabel": "relative resolution sigma/E",
                "xscale": self.xscale(edges),
                "title": "energy resolution",
            }
        )
        return result


def _response(response: np.ndarray) -> dict[str, float]:
    return {
        "mean_response": float(np.mean(response)),
        "mean_response_err": float(np.std(response) / np.sqrt(max(len(response), 1))),
        "median_response": float(np.median(response)),
    }


class Response(_PerEnergy):
    """Mean and median of E_pred / E_true per true-energy bin."""

    name = "response"
    description = "mean and median response E_pred/E_true per true-energy bin"
    source = "ATL-PHYS-PUB-2020-018, Sect. 6 (response vs true energy)"

    def compute(self, predictions: Predictions) -> MetricResult:
        result, edges = self.binned(predictions, _response)
        result.plots.append(
            {
                "type": "errorbar",
                "table": "energy",
                "x": "centre",
                "y": ["mean_response", "median_response"],
                "yerr": ["mean_response_err", None],
                "labels": ["mean", "median"],
                "xlabel": predictions.truth_label,
                "ylabel": "response E_pred / E_true",
                "xscale": self.xscale(edges),
                "title": "energy response",
            }
        )
        return result


class EnergyMoments(PredictionMetric):
    """Relative bias of the first three moments of the predicted vs the true energy spectrum,
    and the KL distance of their 20-bin histograms."""

    kind = "regression"
    name = "energy_moments"
    description = "LUXE: relative bias of moments 1-3 and KL distance of E_pred vs E_true spectra"
    source = "LUXE ECAL deep-learning paper, Eqs. 2 and 6 (moments, KL distance, 20 bins)"

    def __init__(self, n_bins: int = 20) -> None:
        self.n_bins = n_bins

    def compute(self, predictions: Predictions) -> MetricResult:
        p, _ = regressed(predictions)
        assert p.energy is not None
        return spectrum_result(
            self, p.incident_energy, p.energy, ("true", "predicted"), self.n_bins, p.quantity_label
        )


def spectrum_result(
    metric: Metric,
    reference: np.ndarray,
    test: np.ndarray,
    names: tuple[str, str],
    n_bins: int,
    xlabel: str,
) -> MetricResult:
    """Moments bias and KL distance of ``test`` against ``reference`` (named ``names``)."""
    ref_label, test_label = names
    bias = _stats.moment_relative_bias(reference, test, 3)
    edges = np.linspace(
        float(np.nanmin([reference.min(), test.min()])),
        float(np.nanmax([reference.max(), test.max()])),
        n_bins + 1,
    )
    h_ref = np.histogram(reference, edges)[0].astype(np.float64)
    h_test = np.histogram(test, edges)[0].astype(np.float64)
    values = {f"moment{i + 1}_relative_bias": float(b) for i, b in enumerate(bias)}
    values["kl_distance"] = _stats.kl_divergence(h_ref, h_test)
    centres = 0.5 * (edges[1:] + edges[:-1])
    return metric.result(
        values=values,
        tables={
            "spectrum": {
                "centre": centres.tolist(),
                ref_label: (h_ref / h_ref.sum()).tolist(),
                test_label: (h_test / h_test.sum()).tolist(),
            }
        },
        plots=[
            {
                "type": "step",
                "table": "spectrum",
                "x": "centre",
                "y": [ref_label, test_label],
                "xlabel": xlabel,
                "ylabel": "fraction of events",
                "title": f"KL = {values['kl_distance']:.2e}",
            }
        ],
    )
