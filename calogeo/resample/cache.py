"""On-disk cache of overlap volumes: built once per (source, target, options), then loaded.

Only overlaps that need polygon clipping are cached: separable tables of rectilinear layer
pairs build in about a millisecond, less than loading an entry takes (``benchmarks/resample.py``
measures both), so they are always built.

Key: SHA-256 of both geometries' spec hashes and cell fingerprints (cell outlines, Moliere
radii, depths, anchors), the options and :data:`ALGORITHM_VERSION`. Entries are ``.npz`` files
written atomically; an entry that cannot be read is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from calogeo.geometry import Geometry
from calogeo.layout import RectilinearLayout
from calogeo.resample.weights import (
    ALGORITHM_VERSION,
    Overlaps,
    build_overlaps,
    cells_fingerprint,
)

__all__ = ["cache_key", "default_cache_dir", "load_or_build", "needs_clipping"]


def default_cache_dir() -> Path:
    """``$CALOGEO_CACHE_DIR`` or ``~/.cache/calogeo``, with a ``resample`` sub-folder."""
    root = os.environ.get("CALOGEO_CACHE_DIR") or Path.home() / ".cache" / "calogeo"
    return Path(root) / "resample"


def cache_key(
    source: Geometry, target: Geometry, offset_mm: tuple[float, float], method: str
) -> str:
    """The cache entry name for these geometries and options."""
    text = json.dumps(
        {
            "algorithm": ALGORITHM_VERSION,
            "source": [source.spec_hash, cells_fingerprint(source)],
            "target": [target.spec_hash, cells_fingerprint(target)],
            "offset_mm": [float(v) for v in offset_mm],
            "method": method,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def needs_clipping(source: Geometry, target: Geometry, method: str) -> bool:
    """True if building the overlaps clips polygons (the costly part, worth caching)."""
    layers = (*source.layers, *target.layers)
    return method != "auto" or not all(isinstance(ly.layout, RectilinearLayout) for ly in layers)


def load_or_build(
    source: Geometry,
    target: Geometry,
    offset_mm: tuple[float, float] = (0.0, 0.0),
    method: str = "auto",
    cache: bool | Path = True,
) -> Overlaps:
    """Overlap volumes from the cache folder ``cache`` (True: the default one; False: none),
    building and storing them when the entry is missing or unreadable; overlaps that need no
    polygon clipping are built every time (faster than a load)."""
    if cache is False or not needs_clipping(source, target, method):
        return build_overlaps(source, target, offset_mm, method)
    folder = default_cache_dir() if cache is True else Path(cache)
    path = folder / f"{cache_key(source, target, offset_mm, method)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as arrays:
                overlaps = Overlaps.from_arrays(dict(arrays))
            if np.array_equal(overlaps.source_offsets, source.layer_offsets) and np.array_equal(
                overlaps.target_offsets, target.layer_offsets
            ):
                return overlaps
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # a truncated or corrupt entry is rebuilt below
    overlaps = build_overlaps(source, target, offset_mm, method)
    _store(path, overlaps)
    return overlaps


def _store(path: Path, overlaps: Overlaps) -> None:
    tmp = path.with_name(f"{path.stem}.partial-{os.getpid()}.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **overlaps.to_arrays())  # type: ignore[arg-type]
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        warnings.warn(f"resampler cache {path.parent} is not writable ({exc})", stacklevel=3)
