"""Bring your own showers: hits of a full simulation binned into any geometry's cells.

:func:`voxelize` reads hit files through a hit-reader plugin (:mod:`calogeo.hits`), places
the geometry's window on each event's axis (:mod:`calogeo.voxelize.axis`), bins every hit
(:mod:`calogeo.voxelize.binning`) and streams the events into a native shower file with the
usual atomic writer: reading, binning and writing overlap, and memory is bounded by a few
chunks of ``chunk_hits`` hits whatever the size of the input. Energy outside the window or
between its layers is each event's loss (labels ``loss`` in GeV and ``loss_fraction``), and
the :class:`~calogeo.voxelize.report.VoxelizeReport` sums where it went.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from calogeo.geometry import Geometry
from calogeo.hits import HitBatch, HitReader, open_hits
from calogeo.sparse import SparseShowers
from calogeo.voxelize.axis import AXES, SURFACES
from calogeo.voxelize.binning import (
    ENERGY_UNITS,
    LENGTH_UNITS,
    BatchBooks,
    HitBinner,
    VoxelizeSettings,
)
from calogeo.voxelize.report import VoxelizeReport

__all__ = [
    "AXES",
    "CHUNK_HITS",
    "ENERGY_UNITS",
    "LENGTH_UNITS",
    "SURFACES",
    "HitBinner",
    "VoxelizeReport",
    "VoxelizeSettings",
    "voxelize",
    "voxelize_batch",
]

CHUNK_HITS = 1 << 18  # hits per batch read (6 MB of float64 positions, about 25 MB in work)


def voxelize_batch(
    batch: HitBatch, geometry: Geometry, settings: VoxelizeSettings | None = None
) -> SparseShowers:
    """The events of one in-memory batch of hits on ``geometry`` (visible energy, GeV)."""
    return HitBinner(geometry, settings)(batch)[0]


def voxelize(
    inputs: str | Path | Sequence[str | Path] | HitReader,
    geometry: Geometry,
    output: str | Path | None = None,
    *,
    settings: VoxelizeSettings | None = None,
    reader: str | None = None,
    reader_options: Mapping[str, Any] | None = None,
    chunk_hits: int = CHUNK_HITS,
    progress: Callable[[int], None] | None = None,
) -> VoxelizeReport:
    """Bin the hits of ``inputs`` (paths or globs, read by ``reader`` or the detected one with
    ``reader_options``; or an open HitReader) into ``geometry``'s cells and write the events
    to the native file ``output`` (None: only the report is made, e.g. for a check).

    ``progress(n)`` is called with the number of events of each batch written."""
    from calogeo.io import ShowerWriter
    from calogeo.resample.stream import pipeline

    if chunk_hits < 1:
        msg = f"chunk_hits must be positive, got {chunk_hits}"
        raise ValueError(msg)
    settings = settings or VoxelizeSettings()
    source = (
        inputs
        if isinstance(inputs, HitReader)
        else open_hits(inputs, reader, **dict(reader_options or {}))
    )
    binner = HitBinner(geometry, settings)
    report = VoxelizeReport(geometry)
    metadata = {
        "voxelized_from": [p.name for p in source.paths],
        "hit_reader": source.name,
        "axis": settings.axis or "auto",
        "energy_scale_of_hits": settings.energy_scale,
    }
    account = _counting(report, progress)
    with source:
        if output is None:
            pipeline(source.iter_batches(chunk_hits), binner, account)
            return report
        with ShowerWriter(output, geometry, metadata=metadata) as writer:

            def write(item: tuple[SparseShowers, BatchBooks]) -> None:
                writer.append(item[0])
                account(item)

            pipeline(source.iter_batches(chunk_hits), binner, write)
    return report


def _counting(
    report: VoxelizeReport, progress: Callable[[int], None] | None
) -> Callable[[tuple[SparseShowers, BatchBooks]], None]:
    """A sink adding each batch's bookkeeping to ``report`` and reporting its events."""

    def add(item: tuple[SparseShowers, BatchBooks]) -> None:
        report.add(item[1])
        if progress is not None:
            progress(len(item[0]))

    return add
