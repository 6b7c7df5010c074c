"""Per-bin evaluation shared by the prediction metrics: true energy and direction bins."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from calogeo import CalogeoError
from calogeo.predictions import Predictions
from calogeo_metrics._stats import bin_edges

__all__ = ["angle_variable", "classified", "energy_edges", "per_bin", "regressed"]


def angle_variable(predictions: Predictions) -> tuple[str, np.ndarray] | None:
    """("theta", rad) or ("eta", -) of the events, whichever is known; None if neither."""
    for name in ("theta", "eta"):
        values = getattr(predictions, name)
        if values is not None and np.isfinite(values).any():
            return name, values
    return None


def per_bin(
    x: np.ndarray,
    edges: np.ndarray,
    func: Callable[[np.ndarray], dict[str, float]],
    min_entries: int = 1,
) -> dict[str, list[float]]:
    """Table with columns lo, hi, centre, n and the keys of ``func(mask)``, one row per bin of
    ``x``; bins with fewer than ``min_entries`` events are left out (when all are, the columns
    are there and empty)."""
    which = np.digitize(x, edges) - 1
    columns: dict[str, list[float]] = {"lo": [], "hi": [], "centre": [], "n": []}
    for k in range(len(edges) - 1):
        mask = which == k
        if mask.sum() < min_entries:
            continue
        values = func(mask)
        columns["lo"].append(float(edges[k]))
        columns["hi"].append(float(edges[k + 1]))
        columns["centre"].append(float(np.mean(x[mask])))
        columns["n"].append(float(mask.sum()))
        for key, value in values.items():
            columns.setdefault(key, []).append(value)
    if not columns["n"]:
        columns.update({key: [] for key in func(np.ones(len(x), dtype=bool))})
    return columns


def energy_edges(predictions: Predictions, bins: int | np.ndarray | None) -> np.ndarray:
    """Edges of true-energy bins (GeV), see :func:`calogeo_metrics._stats.bin_edges`."""
    return bin_edges(predictions.incident_energy, bins)


def classified(predictions: Predictions) -> tuple[Predictions, np.ndarray, np.ndarray]:
    """(events with a known class and a finite score, their labels, their scores)."""
    if not predictions.has_classification:
        msg = "the predictions hold no classification (scores and labels of both classes)"
        raise CalogeoError(msg)
    known = (predictions.label >= 0) & np.isfinite(predictions.score)  # type: ignore[operator]
    subset = predictions[known]
    return subset, subset.label, subset.score  # type: ignore[return-value]


def regressed(predictions: Predictions) -> tuple[Predictions, np.ndarray]:
    """(events with a finite predicted and a positive true energy, response E_pred / E_true)."""
    if not predictions.has_regression:
        msg = "the predictions hold no predicted energies"
        raise CalogeoError(msg)
    ok = np.isfinite(predictions.energy) & (predictions.incident_energy > 0)  # type: ignore[arg-type]
    subset = predictions[ok]
    return subset, subset.energy / subset.incident_energy  # type: ignore[operator]
