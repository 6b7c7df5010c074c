"""Classification metrics: ROC curve and AUC, accuracy, background rejection at a fixed signal
efficiency; each overall and in bins of true energy and of theta (or eta)."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from calogeo.metric import MetricResult, PredictionMetric
from calogeo.predictions import Predictions
from calogeo_metrics import _stats
from calogeo_metrics._binning import angle_variable, classified, energy_edges, per_bin

__all__ = ["Accuracy", "Rejection", "RocAuc"]

ANGLE_LABELS = {"theta": "true theta [rad]", "eta": "true eta"}


class _Binned(PredictionMetric):
    """A classification figure of merit computed overall and per energy and angle bin."""

    kind = "classification"
    quantity = ""
    label = ""

    def __init__(
        self,
        energy_bins: int | np.ndarray | None = None,
        angle_bins: int | np.ndarray | None = 5,
        min_entries: int = 20,
    ) -> None:
        self.energy_bins = energy_bins
        self.angle_bins = angle_bins
        self.min_entries = min_entries

    @abstractmethod
    def figure_of_merit(self, label: np.ndarray, score: np.ndarray) -> dict[str, float]:
        """The quantity of this metric (key ``quantity``) for one set of events."""

    def compute(self, predictions: Predictions) -> MetricResult:
        p, label, score = classified(predictions)

        def merit(mask: np.ndarray) -> dict[str, float]:
            if len(np.unique(label[mask])) < 2:  # one class only: undefined
                return {self.quantity: np.nan}
            return self.figure_of_merit(label[mask], score[mask])

        result = self.result(
            values=self.figure_of_merit(label, score),
            meta={
                "events": len(p),
                "signal": predictions.signal or "signal",
                "background": predictions.background or "background",
                "model": predictions.model,
            },
        )
        edges = energy_edges(p, self.energy_bins)
        result.tables["energy"] = per_bin(p.incident_energy, edges, merit, self.min_entries)
        self._add_plot(result, "energy", "true energy [GeV]", edges)
        angle = angle_variable(p)
        if angle is not None:
            name, values = angle
            a_edges = _stats.bin_edges(values, self.angle_bins)
            result.tables[name] = per_bin(values, a_edges, merit, self.min_entries)
            self._add_plot(result, name, ANGLE_LABELS[name], a_edges)
        return result

    def _add_plot(self, result: MetricResult, table: str, xlabel: str, edges: np.ndarray) -> None:
        log = edges[0] > 0 and edges[-1] / edges[0] > 10
        result.plots.append(
            {
                "type": "errorbar",
                "table": table,
                "x": "centre",
                "y": [self.quantity],
                "xlabel": xlabel,
                "ylabel": self.label,
                "xscale": "log" if log else "linear",
                "title": f"{self.label} vs {xlabel.split(' [')[0]}",
            }
        )


class RocAuc(_Binned):
    """ROC curve (background efficiency vs signal efficiency) and its area."""

    name = "roc_auc"
    description = "ROC curve and area under it, overall and per true-energy / angle bin"
    source = "Belayneh et al. EPJC 80 (2020) 688, Fig. 13 (ROC, AUC)"
    quantity = "auc"
    label = "AUC"

    def figure_of_merit(self, label: np.ndarray, score: np.ndarray) -> dict[str, float]:
        fpr, tpr, _ = _stats.roc_curve(label, score)
        return {"auc": _stats.auc(fpr, tpr)}

    def compute(self, predictions: Predictions) -> MetricResult:
        result = super().compute(predictions)
        _, label, score = classified(predictions)
        fpr, tpr, threshold = _stats.roc_curve(label, score)
        keep = _thin(len(fpr), 400)
        result.tables["roc"] = {
            "signal_efficiency": tpr[keep].tolist(),
            "background_efficiency": fpr[keep].tolist(),
            "threshold": threshold[keep].tolist(),
        }
        result.plots.insert(
            0,
            {
                "type": "line",
                "table": "roc",
                "x": "signal_efficiency",
                "y": ["background_efficiency"],
                "xlabel": f"signal ({result.meta['signal']}) efficiency",
                "ylabel": f"background ({result.meta['background']}) efficiency",
                "title": f"ROC, AUC = {result.values['auc']:.4f}",
            },
        )
        return result


def _thin(n: int, keep: int) -> np.ndarray:
    """At most ``keep`` indices spread over 0..n-1, first and last included."""
    return np.unique(np.linspace(0, n - 1, min(n, keep)).round().astype(int))


class Accuracy(_Binned):
    """Fraction of events classified right at a score threshold."""

    name = "accuracy"
    description = "fraction classified right (score > threshold), overall and per bin"
    source = "Belayneh et al. EPJC 80 (2020) 688, Table 3 (accuracy)"
    quantity = "accuracy"
    label = "accuracy"

    def __init__(self, threshold: float = 0.5, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.threshold = threshold

    def figure_of_merit(self, label: np.ndarray, score: np.ndarray) -> dict[str, float]:
        return {"accuracy": _stats.accuracy(label, score, self.threshold)}


class Rejection(_Binned):
    """Background rejection 1/eps_bkg at a fixed signal efficiency."""

    name = "rejection"
    description = "background rejection 1/eps_bkg at fixed signal efficiency (default 90%)"
    source = "ATL-PHYS-PUB-2020-018, Sect. 5 (pi0 rejection at 90% pi+- efficiency)"
    quantity = "rejection"
    label = "background rejection"

    def __init__(self, signal_efficiency: float = 0.9, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.signal_efficiency = signal_efficiency

    def figure_of_merit(self, label: np.ndarray, score: np.ndarray) -> dict[str, float]:
        fpr, tpr, _ = _stats.roc_curve(label, score)
        return {"rejection": _stats.rejection_at_efficiency(fpr, tpr, self.signal_efficiency)}

    def compute(self, predictions: Predictions) -> MetricResult:
        result = super().compute(predictions)
        result.meta["signal_efficiency"] = self.signal_efficiency
        for plot in result.plots:
            plot["ylabel"] = f"rejection at {self.signal_efficiency:.0%} signal eff."
            plot["yscale"] = "log"
        return result
