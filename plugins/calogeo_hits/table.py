"""Per-event hit tables in HDF5 or Parquet.

HDF5 (``*.h5``, ``*.hdf5``): one-dimensional datasets in the file's root, or in the group
given by the reader option ``dataset``:

- ``x``, ``y``, ``z`` (M,) hit positions and ``energy`` (M,) hit energies (units: see
  ``calogeo voxelize --length-unit / --energy-unit``; mm and GeV by default);
- the events, either ``offsets`` (N + 1,) integers, event i's hits being rows
  ``offsets[i]:offsets[i + 1]`` (offsets[0] = 0, offsets[N] = M), or ``event`` (M,) an
  ascending event id per hit (events are the distinct ids, in order; events with no hit are
  absent);
- optionally, with ``offsets``, per-event truth (N,): ``incident_energy`` (energy unit, GeV by default), ``pdg``,
  ``vertex_x``, ``vertex_y``, ``vertex_z`` (mm) and ``direction_x``, ``direction_y``,
  ``direction_z`` (any length; ``momentum_x/y/z`` are accepted instead).

Parquet (``*.parquet``, ``*.pq``; needs pyarrow, ``pip install 'calogeo[parquet]'``): one row
per hit with columns ``event`` (ascending), ``x``, ``y``, ``z`` and ``energy``; read in
record batches.

Files are read in chunks of about ``chunk_hits`` hits, so memory does not grow with the file.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from calogeo.errors import CalogeoError, MissingDependencyError, ShowerFileError
from calogeo.hits import HitBatch, HitReader
from calogeo.io import h5_open_error

from ._events import batches_from_rows

__all__ = ["HitTableReader"]

HDF5_SUFFIXES = (".h5", ".hdf5")
PARQUET_SUFFIXES = (".parquet", ".pq")
COLUMNS = ("x", "y", "z", "energy")
TRUTH = {"incident_energy": "incident_energy", "pdg": "pdg"}


class HitTableReader(HitReader):
    """Hit tables: HDF5 datasets x, y, z, energy with offsets or event ids, or Parquet rows."""

    name = "table"
    description = "hit tables x, y, z, energy in HDF5 (offsets or event ids) or Parquet (event ids)"
    suffixes = HDF5_SUFFIXES + PARQUET_SUFFIXES
    options = ("dataset",)

    @classmethod
    def detect(cls, path: Path) -> bool:
        suffix = path.suffix.lower()
        if suffix in PARQUET_SUFFIXES:
            return True
        if suffix not in HDF5_SUFFIXES:
            return False
        try:
            with h5py.File(path, "r") as h5:
                return _table_group(h5, None) is not None
        except OSError:
            return False

    def iter_batches(self, chunk_hits: int) -> Iterator[HitBatch]:
        for path in self.paths:
            if path.suffix.lower() in PARQUET_SUFFIXES:
                yield from batches_from_rows(_parquet_rows(path, chunk_hits), str(path))
            else:
                yield from self._hdf5(path, chunk_hits)

    def count_events(self) -> int | None:
        total = 0
        for path in self.paths:
            if path.suffix.lower() in PARQUET_SUFFIXES:
                return None
            with _open(path) as h5:
                group = _group(h5, self.settings["dataset"], path)
                if "offsets" not in group:
                    return None
                total += len(group["offsets"]) - 1
        return total

    def _hdf5(self, path: Path, chunk_hits: int) -> Iterator[HitBatch]:
        with _open(path) as h5:
            group = _group(h5, self.settings["dataset"], path)
            if "offsets" in group:
                yield from _by_offsets(group, path, chunk_hits)
            else:
                rows = (
                    (_read(group, "event", path, a, b), *_hits(group, path, a, b))
                    for a, b in _ranges(len(group["energy"]), chunk_hits)
                )
                yield from batches_from_rows(rows, str(path))


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise h5_open_error(path, exc) from exc


def _table_group(h5: h5py.File, name: str | None) -> h5py.Group | None:
    """The group holding the table (``name``, else the root or the first child group that
    has x, y, z, energy and offsets or event), or None."""
    candidates = (
        [h5[name]] if name else [h5, *(v for v in h5.values() if isinstance(v, h5py.Group))]
    )
    for group in candidates:
        if (
            isinstance(group, h5py.Group)
            and all(isinstance(group.get(k), h5py.Dataset) for k in COLUMNS)
            and ("offsets" in group or "event" in group)
        ):
            return group
    return None


def _group(h5: h5py.File, name: str | None, path: Path) -> h5py.Group:
    if name and name not in h5:
        msg = f"{path}: no group {name!r}"
        raise ShowerFileError(msg)
    group = _table_group(h5, name)
    if group is None:
        where = f"group {name!r}" if name else "the file"
        msg = f"{path}: {where} holds no hit table (datasets x, y, z, energy and offsets or event)"
        raise ShowerFileError(msg)
    return group


def _read(group: h5py.Group, key: str, path: Path, start: int = 0, stop: int | None = None) -> Any:
    try:
        return group[key][start:stop]
    except (OSError, ValueError) as exc:
        msg = f"{path}: cannot read dataset {group.name}/{key} (truncated or corrupt?): {exc}"
        raise ShowerFileError(msg) from exc


def _hits(group: h5py.Group, path: Path, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    position = np.stack([_read(group, k, path, start, stop) for k in "xyz"], axis=1)
    return position, _read(group, "energy", path, start, stop)


def _ranges(n: int, step: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, step):
        yield start, min(start + step, n)


def _truth(group: h5py.Group, path: Path, start: int, stop: int) -> dict[str, np.ndarray]:
    """Per-event truth columns of events ``start:stop`` present in the group."""
    events = {k: _read(group, k, path, start, stop) for k in TRUTH if k in group}
    if all(f"vertex_{c}" in group for c in "xyz"):
        for prefix in ("direction", "momentum"):
            if all(f"{prefix}_{c}" in group for c in "xyz"):
                events["vertex_mm"] = np.stack(
                    [_read(group, f"vertex_{c}", path, start, stop) for c in "xyz"], axis=1
                )
                events["direction"] = np.stack(
                    [_read(group, f"{prefix}_{c}", path, start, stop) for c in "xyz"], axis=1
                )
                break
    return events


def _by_offsets(group: h5py.Group, path: Path, chunk_hits: int) -> Iterator[HitBatch]:
    offsets = np.asarray(_read(group, "offsets", path), dtype=np.int64)
    total = len(group["energy"])
    if (
        offsets.ndim != 1
        or len(offsets) < 1
        or offsets[0] != 0
        or offsets[-1] != total
        or np.any(np.diff(offsets) < 0)
    ):
        msg = f"{path}: dataset 'offsets' must rise from 0 to the {total} hits"
        raise ShowerFileError(msg)
    n = len(offsets) - 1
    cuts = np.unique(np.searchsorted(offsets, np.arange(chunk_hits, total, chunk_hits)))
    bounds = [0, *(int(c) for c in cuts if 0 < c < n), n]
    for first, last in itertools.pairwise(bounds):
        a, b = int(offsets[first]), int(offsets[last])
        position, energy = _hits(group, path, a, b)
        yield HitBatch(
            offsets[first : last + 1] - a, position, energy, _truth(group, path, first, last)
        )


def _parquet_rows(
    path: Path, chunk_hits: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        msg = "reading Parquet hit tables needs pyarrow: pip install 'calogeo[parquet]'"
        raise MissingDependencyError(msg) from exc
    try:
        table = pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        msg = f"{path}: not a readable Parquet file ({exc})"
        raise ShowerFileError(msg) from exc
    missing = [c for c in ("event", *COLUMNS) if c not in table.schema_arrow.names]
    if missing:
        msg = f"{path}: Parquet hit table lacks column(s) {', '.join(missing)}"
        raise CalogeoError(msg)
    for record in table.iter_batches(batch_size=chunk_hits, columns=["event", *COLUMNS]):
        col = {name: record.column(name).to_numpy() for name in ("event", *COLUMNS)}
        yield col["event"], np.stack([col["x"], col["y"], col["z"]], axis=1), col["energy"]
