"""Showers: a batch of events on one geometry, with per-layer energies and labels.

Energies are float32 GeV, one (N, rows, cols) image per layer of the geometry. Labels are
per-event columns (N, ...): the standard ones in :data:`STANDARD_LABELS` get their dtype
enforced, any other name is a free-form numeric column (e.g. a dataset's ``opening_angle``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from calogeo.errors import GeometryMismatchError, ShowerDataError
from calogeo.geometry import Geometry

if TYPE_CHECKING:
    import torch

__all__ = ["STANDARD_LABELS", "Showers"]

STANDARD_LABELS: dict[str, tuple[type, str]] = {
    "pdg": (np.int32, "PDG id of the incident particle"),
    "theta": (np.float32, "polar angle of the incident direction to the window axis (rad)"),
    "phi": (np.float32, "azimuth of the incident direction around the window axis (rad)"),
    "impact_x": (np.float32, "x of the entry point at the front face (mm)"),
    "impact_y": (np.float32, "y of the entry point at the front face (mm)"),
    "multiplicity": (np.int32, "number of incident particles"),
}
"""Known label columns: name -> (dtype, meaning with unit). Any other name is a free column."""


def real_array(values: Any, what: str) -> np.ndarray:
    """``values`` as float32; complex, string or object values are refused (casting would
    drop an imaginary part or fail later with a traceback)."""
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        msg = f"{what}: {array.dtype} values; energies must be real numbers (GeV)"
        raise ShowerDataError(msg)
    return array.astype(np.float32, copy=False)


class Showers:
    """Events on one geometry: per-layer energy images (N, rows, cols) in GeV (float32),
    incident energy (N,) in GeV, and labels (N, ...) such as ``pdg`` or ``theta`` (rad).
    """

    def __init__(
        self,
        geometry: Geometry,
        layers: Sequence[np.ndarray],
        incident_energy: np.ndarray,
        labels: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.geometry = geometry
        self.incident_energy = real_array(incident_energy, "incident energy").reshape(-1)
        n = len(self.incident_energy)
        if len(layers) != geometry.n_layers:
            msg = f"geometry {geometry.name!r} has {geometry.n_layers} layers, got {len(layers)} arrays"
            raise GeometryMismatchError(msg)
        self.layers: list[np.ndarray] = []
        for layer, array in zip(geometry.layers, layers, strict=True):
            array = real_array(array, f"layer {layer.name!r}")
            if array.shape != (n, *layer.shape):
                msg = (
                    f"layer {layer.name!r} of geometry {geometry.name!r} needs shape "
                    f"({n}, {layer.shape[0]}, {layer.shape[1]}), got {array.shape}"
                )
                raise GeometryMismatchError(msg)
            self.layers.append(array)
        self.labels: dict[str, np.ndarray] = {
            name: _label_column(name, values, n) for name, values in (labels or {}).items()
        }

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_flat(
        cls,
        geometry: Geometry,
        cells: np.ndarray,
        incident_energy: np.ndarray,
        labels: Mapping[str, np.ndarray] | None = None,
    ) -> Showers:
        """Showers from a flat (N, n_cells) array in GeV in the geometry's cell order."""
        cells = real_array(cells, "cell energies")
        if cells.ndim != 2 or cells.shape[1] != geometry.n_cells:
            msg = (
                f"geometry {geometry.name!r} has {geometry.n_cells} cells, got array {cells.shape}"
            )
            raise GeometryMismatchError(msg)
        off = geometry.layer_offsets
        layers = [
            cells[:, off[i] : off[i + 1]].reshape(len(cells), *layer.shape)
            for i, layer in enumerate(geometry.layers)
        ]
        return cls(geometry, layers, incident_energy, labels)

    @classmethod
    def empty(cls, geometry: Geometry, n: int = 0) -> Showers:
        """``n`` events with no energy deposited."""
        layers = [np.zeros((n, *layer.shape), dtype=np.float32) for layer in geometry.layers]
        return cls(geometry, layers, np.zeros(n, dtype=np.float32))

    @classmethod
    def concatenate(cls, parts: Sequence[Showers]) -> Showers:
        """Join batches on the same geometry; labels are kept where every part has them."""
        if not parts:
            msg = "cannot concatenate an empty list of Showers"
            raise ValueError(msg)
        geometry = parts[0].geometry
        for part in parts[1:]:
            if part.geometry != geometry:
                msg = f"cannot concatenate showers on {geometry.name!r} and {part.geometry.name!r}"
                raise GeometryMismatchError(msg)
        common = set(parts[0].labels).intersection(*(p.labels for p in parts[1:]))
        return cls(
            geometry,
            [np.concatenate([p.layers[i] for p in parts]) for i in range(geometry.n_layers)],
            np.concatenate([p.incident_energy for p in parts]),
            {k: np.concatenate([p.labels[k] for p in parts]) for k in sorted(common)},
        )

    # -- access ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.incident_energy)

    def __repr__(self) -> str:
        labels = ", ".join(self.labels) or "no labels"
        return f"Showers({len(self)} events on {self.geometry.name!r}; {labels})"

    def __getitem__(self, index: int | slice | np.ndarray) -> Showers:
        """Events selected by an int (kept as a batch of one), a slice, an index array or a
        boolean mask; slices share memory with this container."""
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= index < n:
                msg = f"event {index} is out of range for {n} showers"
                raise IndexError(msg)
            start = int(index) % n
            index = slice(start, start + 1)
        return Showers(
            self.geometry,
            [layer[index] for layer in self.layers],
            self.incident_energy[index],
            {k: v[index] for k, v in self.labels.items()},
        )

    def batches(self, batch_size: int) -> Iterator[Showers]:
        """Consecutive batches of at most ``batch_size`` events (views, no copies)."""
        if batch_size < 1:
            msg = f"batch_size must be positive, got {batch_size}"
            raise ValueError(msg)
        for start in range(0, len(self), batch_size):
            yield self[start : start + batch_size]

    def with_labels(self, **labels: np.ndarray) -> Showers:
        """A copy of the container (sharing arrays) with labels added or replaced."""
        return Showers(self.geometry, self.layers, self.incident_energy, {**self.labels, **labels})

    def flat(self, out: np.ndarray | None = None) -> np.ndarray:
        """(N, n_cells) float32 array in GeV in the geometry's cell order (a copy, written into
        ``out`` if given, e.g. a reused buffer)."""
        n = len(self)
        return np.concatenate(
            [layer.reshape(n, math.prod(layer.shape[1:])) for layer in self.layers],
            axis=1,
            out=out,
        )

    def layer_energies(self) -> np.ndarray:
        """(N, n_layers) energy per layer in GeV, summed in float64."""
        n = len(self)
        return np.stack(
            [
                layer.reshape(n, math.prod(layer.shape[1:])).sum(axis=1, dtype=np.float64)
                for layer in self.layers
            ],
            axis=1,
        )

    def total_energy(self) -> np.ndarray:
        """(N,) deposited energy in GeV, summed in float64."""
        return self.layer_energies().sum(axis=1)

    def to_numpy(self, view: str = "layers") -> Any:
        """``"layers"``: list of (N, rows, cols) arrays (no copy); ``"flat"``: (N, n_cells)."""
        if view == "layers":
            return list(self.layers)
        if view == "flat":
            return self.flat()
        msg = f"unknown view {view!r}: expected 'layers' or 'flat'"
        raise ValueError(msg)

    def to_torch(self, device: str | torch.device = "cpu", view: str = "flat") -> Any:
        """The energies as torch tensors on ``device`` (``"auto"`` picks CUDA if present).

        On the CPU the tensors share memory with the numpy arrays where the view allows.
        """
        import torch

        from calogeo.device import resolve_device

        target = resolve_device(device)
        if view == "flat":
            return torch.from_numpy(self.flat()).to(target)
        if view == "layers":
            return [torch.from_numpy(layer).to(target) for layer in self.layers]
        msg = f"unknown view {view!r}: expected 'layers' or 'flat'"
        raise ValueError(msg)


def _label_column(name: str, values: Any, n: int) -> np.ndarray:
    """``values`` as a numeric (n, ...) column; standard labels get their standard dtype."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name:
        msg = f"label name {name!r} must be a non-empty string without '/', not '.' or '..'"
        raise ShowerDataError(msg)
    column = np.asarray(values)
    if column.dtype.kind not in "biuf":
        msg = f"label {name!r} has dtype {column.dtype}; labels must be numeric (bool, int, float)"
        raise ShowerDataError(msg)
    if column.ndim == 0 or len(column) != n:
        count = "a scalar" if column.ndim == 0 else f"{len(column)} entries"
        msg = f"label {name!r} has {count} for {n} events"
        raise ShowerDataError(msg)
    if name in STANDARD_LABELS:
        column = column.astype(STANDARD_LABELS[name][0], copy=False)
    return column
