"""SparseShowers: a batch of events as their non-zero cells (CSR rows), without images.

Events are mostly empty cells (3% of the 25x25x25 CLIC window is hit by a 50 GeV photon), so
the native file stores, and readers can hand out, each event's non-zero cells: a flat cell
index in the geometry's cell order and its energy in GeV, event by event. ``offsets`` is the
CSR row pointer: event i's cells are ``index[offsets[i]:offsets[i + 1]]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calogeo.errors import GeometryMismatchError
from calogeo.geometry import Geometry
from calogeo.showers import Showers

__all__ = ["SparseShowers", "index_dtype"]


def index_dtype(n_cells: int) -> np.dtype:
    """The narrowest unsigned dtype holding a flat cell index of a geometry of ``n_cells``."""
    return np.dtype(np.uint16 if n_cells <= 1 << 16 else np.uint32)


@dataclass(frozen=True)
class SparseShowers:
    """Events on one geometry as their non-zero cells, in CSR form.

    ``offsets`` (N + 1,) int64 row pointer; ``index`` (M,) unsigned flat cell index in the
    geometry's cell order (see :func:`index_dtype`), sorted within each event; ``energy``
    (M,) float32 GeV; ``incident_energy`` (N,) float32 GeV; ``labels`` (N, ...) as in
    :class:`~calogeo.showers.Showers`.
    """

    geometry: Geometry
    offsets: np.ndarray
    index: np.ndarray
    energy: np.ndarray
    incident_energy: np.ndarray
    labels: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.incident_energy)
        if self.offsets.shape != (n + 1,) or len(self.index) != len(self.energy):
            msg = (
                f"sparse showers: offsets {self.offsets.shape}, index {self.index.shape} and "
                f"energy {self.energy.shape} do not describe {n} events"
            )
            raise GeometryMismatchError(msg)
        if n and (self.offsets[0] != 0 or self.offsets[-1] != len(self.index)):
            msg = f"sparse showers: offsets run {self.offsets[0]}..{self.offsets[-1]}, expected 0..{len(self.index)}"
            raise GeometryMismatchError(msg)

    @classmethod
    def from_showers(cls, showers: Showers) -> SparseShowers:
        """The non-zero cells of ``showers`` (one pass over the images)."""
        return cls.from_flat(
            showers.geometry, _flat(showers), showers.incident_energy, showers.labels
        )

    @classmethod
    def from_flat(
        cls,
        geometry: Geometry,
        cells: np.ndarray,
        incident_energy: np.ndarray,
        labels: Mapping[str, np.ndarray] | None = None,
    ) -> SparseShowers:
        """The non-zero cells of a flat (N, n_cells) float32 array in GeV."""
        n, n_cells = cells.shape
        hit = np.flatnonzero(cells != 0)  # 7x faster than on the floats (numpy 2.x)
        event, cell = np.divmod(hit, n_cells)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(event, minlength=n), out=offsets[1:])
        return cls(
            geometry,
            offsets,
            cell.astype(index_dtype(n_cells)),
            cells.reshape(-1)[hit],
            np.asarray(incident_energy, dtype=np.float32),
            dict(labels or {}),
        )

    def __len__(self) -> int:
        return len(self.incident_energy)

    def __repr__(self) -> str:
        return (
            f"SparseShowers({len(self)} events on {self.geometry.name!r}; "
            f"{len(self.index)} non-zero cells)"
        )

    @property
    def counts(self) -> np.ndarray:
        """(N,) number of non-zero cells per event."""
        return np.diff(self.offsets)

    def flat(self) -> np.ndarray:
        """(N, n_cells) float32 images in GeV in the geometry's cell order (a new array)."""
        n_cells = self.geometry.n_cells
        out = np.zeros((len(self), n_cells), dtype=np.float32)
        rows = np.repeat(np.arange(len(self), dtype=np.int64) * n_cells, self.counts)
        out.reshape(-1)[rows + self.index] = self.energy
        return out

    def dense(self) -> Showers:
        """The same events as :class:`~calogeo.showers.Showers` (per-layer images)."""
        return Showers.from_flat(self.geometry, self.flat(), self.incident_energy, self.labels)

    def to_scipy(self) -> Any:
        """A ``scipy.sparse.csr_array`` of shape (N, n_cells), GeV (sharing the arrays)."""
        from scipy import sparse

        return sparse.csr_array(
            (self.energy, self.index, self.offsets), shape=(len(self), self.geometry.n_cells)
        )


def _flat(showers: Showers) -> np.ndarray:
    """(N, n_cells) images of ``showers``: the array the layers are views of when they come
    from one (``Showers.from_flat``, e.g. the simulator's output), else a concatenated copy."""
    base = showers.layers[0].base
    n = len(showers)
    if (
        isinstance(base, np.ndarray)
        and base.shape == (n, showers.geometry.n_cells)
        and base.dtype == np.float32
        and base.flags.c_contiguous
        and all(layer.base is base for layer in showers.layers)
    ):
        offsets = showers.geometry.layer_offsets
        start = base.__array_interface__["data"][0]
        if all(
            layer.__array_interface__["data"][0] == start + 4 * int(offsets[k])
            and layer.strides == (base.strides[0], 4 * layer.shape[2], 4)
            for k, layer in enumerate(showers.layers)
        ):
            return base
    return showers.flat()
