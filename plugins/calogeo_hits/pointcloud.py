"""Point clouds: the layout of point-cloud shower generators, (N, n_points, 4) in HDF5.

A dataset of shape (N, n_points, 4): event i's points are ``data[i, :, :]``, each a row
(x, y, z, E); points with E = 0 are padding and skipped. Positions and energies are in the
units given to ``calogeo voxelize`` (``--length-unit``, ``--energy-unit``; mm and GeV by
default). The dataset is the one named by the reader option ``dataset``, else the only
three-dimensional dataset of the file whose last axis has length 4. An ``incident_energy`` or
``energy`` dataset of N values (shape (N,) or (N, 1), in the energy unit) beside it gives the incident
energies. Point clouds carry no truth axis: they are usually in a local frame (z along the
depth), placed with ``--axis fixed --direction 0,0,1 --front-mm Z_FRONT``, or in the detector
frame, placed with ``--axis barycentre``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from calogeo.errors import ShowerFileError
from calogeo.hits import HitBatch, HitReader
from calogeo.io import h5_open_error

__all__ = ["PointCloudReader"]

ENERGY_KEYS = ("incident_energy", "energy")


class PointCloudReader(HitReader):
    """Point clouds (N, n_points, 4) of x, y, z, E in HDF5, zero-energy padding."""

    name = "pointcloud"
    description = "point clouds (N, n_points, 4) of x, y, z, E in HDF5, zero-energy padding"
    suffixes = (".h5", ".hdf5")
    options = ("dataset",)

    @classmethod
    def detect(cls, path: Path) -> bool:
        if path.suffix.lower() not in cls.suffixes:
            return False
        try:
            with h5py.File(path, "r") as h5:
                return len(_clouds(h5)) == 1
        except OSError:
            return False

    def _dataset(self, h5: h5py.File, path: Path) -> h5py.Dataset:
        name = self.settings["dataset"]
        found = [h5[name]] if name and name in h5 else ([] if name else _clouds(h5))
        if len(found) != 1 or not _is_cloud(found[0]):
            what = f"dataset {name!r} is missing or not" if name else "the file holds no single"
            msg = f"{path}: {what} an (N, n_points, 4) point cloud; name it with --dataset"
            raise ShowerFileError(msg)
        return found[0]

    def count_events(self) -> int | None:
        total = 0
        for path in self.paths:
            with _open(path) as h5:
                total += len(self._dataset(h5, path))
        return total

    def iter_batches(self, chunk_hits: int) -> Iterator[HitBatch]:
        for path in self.paths:
            with _open(path) as h5:
                data = self._dataset(h5, path)
                energy = _incident(data, path)
                step = max(1, chunk_hits // max(1, data.shape[1]))
                for start in range(0, len(data), step):
                    stop = min(start + step, len(data))
                    try:
                        points = data[start:stop]
                    except OSError as exc:
                        msg = f"{path}: cannot read dataset {data.name} (truncated?): {exc}"
                        raise ShowerFileError(msg) from exc
                    keep = points[:, :, 3] != 0
                    counts = keep.sum(axis=1)
                    offsets = np.zeros(len(points) + 1, dtype=np.int64)
                    np.cumsum(counts, out=offsets[1:])
                    hits = points[keep]
                    events = {} if energy is None else {"incident_energy": energy[start:stop]}
                    yield HitBatch(offsets, hits[:, :3], hits[:, 3], events)


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise h5_open_error(path, exc) from exc


def _is_cloud(item: object) -> bool:
    return isinstance(item, h5py.Dataset) and item.ndim == 3 and item.shape[2] == 4


def _clouds(h5: h5py.File) -> list[h5py.Dataset]:
    found: list[h5py.Dataset] = []
    h5.visititems(lambda _name, item: found.append(item) if _is_cloud(item) else None)
    return found


def _incident(data: h5py.Dataset, path: Path) -> np.ndarray | None:
    """The incident energies (N,) beside the point dataset, if the file has them."""
    parent = data.parent
    for key in ENERGY_KEYS:
        item = parent.get(key)
        if isinstance(item, h5py.Dataset) and item.shape in ((len(data),), (len(data), 1)):
            return np.asarray(item[()], dtype=np.float64).reshape(-1)
    return None
