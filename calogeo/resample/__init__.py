"""The overlap-area resampler: showers on one geometry seen through another's cells.

Method: Belayneh et al., EPJC 80 (2020) 688, Sect. 5.4. Modules, one job each:
``overlap1d`` (1D bin overlaps), ``weights`` (factored overlap volumes in R_M and X0, polygons
clipped by :mod:`calogeo.clip`), ``cache`` (on-disk cache), ``apply`` (numpy/torch
application), ``resampler`` (the :class:`Resampler`), ``stream`` (reading, resampling and
writing in overlapping threads), ``grid`` (:func:`regular_grid_for`).
"""

from __future__ import annotations

from calogeo.resample.cache import default_cache_dir
from calogeo.resample.grid import regular_grid_for
from calogeo.resample.resampler import Resampler
from calogeo.resample.weights import ALGORITHM_VERSION, Overlaps, build_overlaps

__all__ = [
    "ALGORITHM_VERSION",
    "Overlaps",
    "Resampler",
    "build_overlaps",
    "default_cache_dir",
    "regular_grid_for",
]
