"""Histogram binning of the observables of :func:`calogeo.observables.table`, one rule per kind
of observable, so that one-dimensional metrics (separation power) are computed on bins suited
to each observable's scale and can be quoted beside published ones.

The rules follow the CaloChallenge evaluation (Krause et al., arXiv:2410.21611) where it has an
equivalent, and use the geometry's physical scales elsewhere:

- energies (GeV): 39 log-spaced bins up to the reference maximum, from the cell threshold for
  a layer's energy ``e_layer[i]`` (that layer's threshold; as the published layer-energy
  histograms), from the smallest positive value for sums over layers (``e_total``, groups)
  and for layers without a threshold;
- ``e_total_over_incident``: 100 bins over [0.5, 1.5] x the reference median (the published
  [0.5, 1.5] for files calibrated to E_total / E_incident ~ 1);
- centres of energy (``x_mean_mm``, ``y_mean_mm``, per layer too): 100 bins over +-3 Moliere
  radii of the layer's material (the whole geometry: the median over layers); widths and
  ``r_mean``: 100 bins over [0, 3 R_M]; the same in R_M units for the ``_rm`` columns. For the
  CaloChallenge dataset-2/3 geometries (R_M = 10.9 mm) this is close to the published +-30 mm
  and [0, 30] mm (``ranges`` / ``calogeo evaluate --range`` give exactly those);
- fractions (``e_frac*``, ``e_ratio``, ``r9``) 50 bins and ``occupancy`` 20 bins over [0, 1];
- depth: 100 bins over the calorimeter depth (layers, X0 or mm), widths over half of it;
  layer indices (``deepest_layer``, ``shower_start_layer``): one bin per layer (and -1);
- anything else (moments, ``n_hits``): 30 bins over the pooled 0.1-99.9% quantiles, or unit
  bins for integer values spanning at most 60 of them.

Values outside the range are not counted (as in the published histograms); the fidelity
metric reports the fraction of each sample that fell outside.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from calogeo.geometry import Geometry

__all__ = ["Binning", "observable_binning", "quantile_edges"]

RM_RANGE = 3.0
"""Centre and width ranges in Moliere radii."""

_PER_LAYER = re.compile(r"^(\w+)\[(\d+)\]$")


@dataclass(frozen=True)
class Binning:
    """Edges of one observable's histogram and the rule that chose them."""

    rule: str
    scale: str  # "linear" or "log"
    edges: np.ndarray

    def describe(self) -> dict[str, object]:
        """JSON-ready summary: rule, scale, range and bin count."""
        return {
            "rule": self.rule,
            "scale": self.scale,
            "lo": float(self.edges[0]),
            "hi": float(self.edges[-1]),
            "n_bins": len(self.edges) - 1,
        }


def quantile_edges(a: np.ndarray, b: np.ndarray, n_bins: int = 30) -> np.ndarray:
    """Common edges for samples ``a`` and ``b``: the pooled 0.1-99.9% quantile range in
    ``n_bins`` bins, or unit bins centred on integers when both are integer-valued and span at
    most ``2 n_bins`` of them."""
    both = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    if len(both) == 0:
        return np.array([0.0, 1.0])
    lo, hi = np.quantile(both, [0.001, 0.999])
    if np.all(both == np.round(both)) and np.ceil(hi) - np.floor(lo) + 1 <= 2 * n_bins:
        return np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.0)
    if hi <= lo:
        return np.array([lo - 0.5, lo + 0.5])
    return np.linspace(lo, hi, n_bins + 1)


def _linear(rule: str, lo: float, hi: float, n_bins: int) -> Binning:
    return Binning(rule, "linear", np.linspace(lo, hi, n_bins + 1))


def observable_binning(
    name: str,
    reference: np.ndarray,
    generated: np.ndarray,
    geometry: Geometry,
    threshold_gev: float | np.ndarray = 0.0,
    n_bins: int | None = None,
    ranges: Mapping[str, tuple[float, float, int | None]] | None = None,
) -> Binning:
    """The :class:`Binning` of :func:`~calogeo.observables.table` column ``name`` for
    comparing ``generated`` with ``reference`` values on ``geometry``; ``threshold_gev`` is the
    cell threshold the table was computed with (scalar or per layer), ``n_bins`` replaces the
    rule's bin count. ``ranges`` maps a column or a per-layer base (``x_mean_mm`` for every
    ``x_mean_mm[i]``) to (lo, hi, bins or None) replacing the rule's range, e.g. a published
    one (energies keep log bins when lo > 0)."""
    from calogeo.observables import unit_of

    match = _PER_LAYER.match(name)
    base, layer = (match.group(1), int(match.group(2))) if match else (name, None)
    given = (ranges or {}).get(name) or (ranges or {}).get(base)
    if given is not None:
        lo, hi, bins = given
        bins = bins or n_bins or 100
        if not hi > lo:
            msg = f"range of {name!r}: expected lo < hi, got {lo}:{hi}"
            raise ValueError(msg)
        if unit_of(name) == "GeV" and base != "e_total_over_incident" and lo > 0:
            return Binning("given range", "log", np.geomspace(lo, hi, bins + 1))
        return _linear("given range", lo, hi, bins)
    layers = [geometry.layers[layer]] if layer is not None else geometry.layers
    rm = float(np.median([ly.material.rm_mm for ly in layers]))
    thresholds = np.broadcast_to(np.asarray(threshold_gev, dtype=np.float64), geometry.n_layers)
    ref = reference[np.isfinite(reference)]
    pooled = np.concatenate([ref, generated[np.isfinite(generated)]])

    def count(default: int) -> int:
        return default if n_bins is None else int(n_bins)

    if unit_of(name) == "GeV" and base != "e_total_over_incident":
        floor = float(thresholds[layer] if layer is not None else thresholds.min())
        positive = pooled[pooled > 0]
        smallest = float(positive.min()) if len(positive) else 0.0
        lo = floor if floor > 0 and layer is not None else max(floor, smallest)
        hi = float(ref.max()) if len(ref) else 0.0
        if lo > 0 and hi > lo:
            return Binning(
                "energy: log to the reference maximum, from the layer threshold or minimum",
                "log",
                np.geomspace(lo, hi, count(39) + 1),
            )
    elif base == "e_total_over_incident" and len(ref):
        median = float(np.median(ref))
        if median > 0:
            return _linear(
                "response: [0.5, 1.5] x reference median", 0.5 * median, 1.5 * median, count(100)
            )
    elif base in ("x_mean_mm", "y_mean_mm"):
        return _linear("centre: +-3 R_M", -RM_RANGE * rm, RM_RANGE * rm, count(100))
    elif base in ("x_mean_rm", "y_mean_rm"):
        return _linear("centre: +-3 R_M", -RM_RANGE, RM_RANGE, count(100))
    elif base in ("x_width_mm", "y_width_mm", "r_mean_mm"):
        return _linear("width, radius: [0, 3 R_M]", 0.0, RM_RANGE * rm, count(100))
    elif base in ("x_width_rm", "y_width_rm", "r_mean_rm"):
        return _linear("width, radius: [0, 3 R_M]", 0.0, RM_RANGE, count(100))
    elif base == "occupancy":
        return _linear("fraction: [0, 1]", 0.0, 1.0, count(20))
    elif base.startswith(("e_frac", "e_ratio")) or base == "r9":
        return _linear("fraction: [0, 1]", 0.0, 1.0, count(50))
    elif base.startswith(("z_mean_", "z_width_")):
        unit = base.rsplit("_", 1)[1]
        depth = {
            "layer": float(geometry.n_layers),
            "x0": float(geometry.x0_edges[-1, 1] - geometry.x0_edges[0, 0]),
            "mm": float(geometry.z_edges_mm[-1, 1] - geometry.z_edges_mm[0, 0]),
        }[unit]
        if base.startswith("z_mean_"):
            return _linear("depth: the calorimeter", 0.0, depth, count(100))
        return _linear("depth width: half the calorimeter", 0.0, 0.5 * depth, count(100))
    elif base in ("deepest_layer", "shower_start_layer"):
        return Binning(
            "layer index: one bin per layer", "linear", np.arange(-1.5, geometry.n_layers)
        )
    return Binning(
        "pooled 0.1-99.9% quantiles", "linear", quantile_edges(reference, generated, count(30))
    )
