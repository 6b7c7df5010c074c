"""Overlap lengths of two sets of 1D bins: the separable factor of a rectilinear resampling."""

from __future__ import annotations

import numpy as np

__all__ = ["interval_overlaps"]


def interval_overlaps(source_edges: np.ndarray, target_edges: np.ndarray) -> np.ndarray:
    """(n_target, n_source) float64 length shared by target bin t and source bin s.

    Edges are increasing, in any one unit (the resampler uses Moliere radii or radiation lengths).
    """
    s = np.asarray(source_edges, dtype=np.float64)
    t = np.asarray(target_edges, dtype=np.float64)
    hi = np.minimum(t[1:, None], s[None, 1:])
    lo = np.maximum(t[:-1, None], s[None, :-1])
    return np.maximum(hi - lo, 0.0)
