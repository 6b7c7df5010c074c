"""Binning one batch of hits into a geometry's cells (vectorised over hits).

Each hit is moved into its event's window frame (:mod:`calogeo.voxelize.axis`), its depth
picks the layer (the geometry's depth intervals) and its transverse position the cell (the
layout's Numba ``locate``, for every layout kind: :meth:`~calogeo.geometry.Geometry.locate`).
Energies of hits in one cell are summed in float64 and stored as float32; a hit in no cell is
the event's loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from calogeo.energy_scale import EnergyScale, scale_factors
from calogeo.errors import CalogeoError
from calogeo.geometry import Geometry
from calogeo.hits import HitBatch
from calogeo.sparse import SparseShowers, index_dtype
from calogeo.voxelize.axis import (
    AXES,
    Axis,
    Surface,
    barycentre_directions,
    front_distances,
    transverse_basis,
    unit_vectors,
)
from calogeo.voxelize.kernels import sum_cells, window_coordinates

__all__ = ["BatchBooks", "HitBinner", "VoxelizeSettings"]

AXIS_COLUMNS = ("incident_energy", "vertex_mm", "direction")  # event columns not kept as labels
LENGTH_UNITS = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
ENERGY_UNITS = {"GeV": 1.0, "MeV": 1e-3, "keV": 1e-6}


@dataclass(frozen=True)
class VoxelizeSettings:
    """How hits become cells.

    ``axis``: ``"truth"``, ``"barycentre"``, ``"fixed"`` or None (truth when the input carries
    it, else barycentre); ``origin_mm`` the axis' origin where the truth gives none;
    ``direction`` the axis of ``"fixed"``; ``front_mm`` the distance from the origin to the
    window's front (None: the geometry's ``distance_from_ip_mm``) on ``surface``
    (``"sphere"``, ``"barrel"``, ``"endcap"``); ``energy_scale`` what the hits' energies are
    (``"visible"``: what the active medium saw, as stored by calogeo; ``"deposited"``: the
    energy left in the whole layer, turned into visible energy with the layer's sampling
    fraction); ``length_unit`` and ``energy_unit`` those of the input (positions and
    vertices; hit and incident energies); ``incident_energy_gev`` the incident energy of the
    events whose input gives none (no MC truth: the beam energy of a test beam, say). An event
    without an incident energy is an error otherwise (native files hold finite energies only).
    """

    axis: Axis | None = None
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, float, float] | None = None
    front_mm: float | None = None
    surface: Surface = "sphere"
    energy_scale: EnergyScale = "visible"
    length_unit: str = "mm"
    energy_unit: str = "GeV"
    incident_energy_gev: float | None = None

    def __post_init__(self) -> None:
        if self.axis is not None and self.axis not in AXES:
            msg = f"unknown axis {self.axis!r}: expected one of {', '.join(AXES)}"
            raise CalogeoError(msg)
        if (self.axis == "fixed") != (self.direction is not None):
            msg = "a fixed axis needs a direction, and only a fixed axis takes one"
            raise CalogeoError(msg)
        if self.incident_energy_gev is not None and not (
            np.isfinite(self.incident_energy_gev) and self.incident_energy_gev > 0
        ):
            msg = f"incident energy {self.incident_energy_gev} GeV: must be positive"
            raise CalogeoError(msg)
        if self.direction is not None and not np.linalg.norm(self.direction) > 0:
            msg = f"axis direction {self.direction} has no length"
            raise CalogeoError(msg)
        for value, units, what in (
            (self.length_unit, LENGTH_UNITS, "length"),
            (self.energy_unit, ENERGY_UNITS, "energy"),
        ):
            if value not in units:
                msg = f"unknown {what} unit {value!r}: expected one of {', '.join(units)}"
                raise CalogeoError(msg)


@dataclass
class BatchBooks:
    """Energy bookkeeping of one batch, in GeV of the input's energy scale.

    ``energy_in`` / ``loss`` (N,) per event; per layer (n_layers,) the hits and energy whose
    depth falls in the layer (``layer_hits``, ``layer_energy``) and of those the ones outside
    the window (``outside_hits``, ``outside_energy``); per gap (n_layers + 1,: before the
    first layer, between layers k-1 and k, behind the last) the hits and energy there."""

    energy_in: np.ndarray
    loss: np.ndarray
    layer_hits: np.ndarray
    layer_energy: np.ndarray
    outside_hits: np.ndarray
    outside_energy: np.ndarray
    gap_hits: np.ndarray
    gap_energy: np.ndarray
    n_hits: int = field(default=0)


class HitBinner:
    """Bins :class:`~calogeo.hits.HitBatch` objects into ``geometry``'s cells."""

    def __init__(self, geometry: Geometry, settings: VoxelizeSettings | None = None) -> None:
        self.geometry = geometry
        self.settings = settings or VoxelizeSettings()

    @cached_property
    def _cell_factor(self) -> np.ndarray:
        """(n_cells,) input energy (GeV) -> visible energy (GeV) of each cell."""
        per_layer = scale_factors(self.geometry, self.settings.energy_scale, "visible")
        return np.repeat(per_layer, np.diff(self.geometry.layer_offsets))

    def _frame(
        self, batch: HitBatch, energy: np.ndarray, event: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(origin (N, 3) mm, direction (N, 3)) of every event's window axis."""
        s, n = self.settings, len(batch)
        axis = s.axis or ("truth" if batch.has_truth else "barycentre")
        if axis == "truth" and not batch.has_truth:
            msg = "the input carries no MC truth (vertex and direction): use the barycentre axis"
            raise CalogeoError(msg)
        if axis == "truth" or (axis == "barycentre" and batch.has_truth):
            origin = np.asarray(batch.events["vertex_mm"], dtype=np.float64) * self._length
        else:
            origin = np.broadcast_to(np.asarray(s.origin_mm, dtype=np.float64), (n, 3))
        if axis == "truth":
            direction = unit_vectors(batch.events["direction"])
        elif axis == "barycentre":
            position = np.asarray(batch.position, dtype=np.float64) * self._length
            direction = barycentre_directions(position, energy, event, origin)
        else:
            direction = np.broadcast_to(unit_vectors(np.array([s.direction]))[0], (n, 3))
        return np.ascontiguousarray(origin), np.ascontiguousarray(direction)

    @property
    def _length(self) -> float:
        return LENGTH_UNITS[self.settings.length_unit]

    def __call__(self, batch: HitBatch) -> tuple[SparseShowers, BatchBooks]:
        """The batch's events on the geometry (visible energy, GeV) and its bookkeeping."""
        geometry, n = self.geometry, len(batch)
        position = np.ascontiguousarray(batch.position)  # float32 or float64, file units
        if position.dtype not in (np.float32, np.float64):
            position = position.astype(np.float64)
        energy_unit = ENERGY_UNITS[self.settings.energy_unit]
        energy = np.asarray(batch.energy, dtype=np.float64) * energy_unit
        event = np.repeat(np.arange(n, dtype=np.int64), batch.counts)
        origin, u = self._frame(batch, energy, event)
        ex, ey = transverse_basis(u)
        front = self.settings.front_mm
        t0 = front_distances(
            u, geometry.distance_from_ip_mm if front is None else front, self.settings.surface
        )
        x, y, depth, layer = window_coordinates(
            position,
            self._length,
            batch.offsets.astype(np.int64),
            origin,
            u,
            ex,
            ey,
            t0,
            *geometry.anchor_mm,
            geometry.z_edges_mm,
        )
        cell = geometry.locate(x, y, depth, layer=layer)
        inside = cell >= 0
        labels = self._labels(batch, origin, u, ex, ey, t0)
        books = self._books(n, event, energy, inside, depth, layer)
        labels["loss"] = books.loss.astype(np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            labels["loss_fraction"] = np.where(
                books.energy_in > 0, books.loss / books.energy_in, 0.0
            ).astype(np.float32)
        incident = self._incident_energy(batch.events.get("incident_energy"), n, energy_unit)
        visible = np.where(inside, energy * self._cell_factor[np.maximum(cell, 0)], 0.0)
        offsets, index, sums = sum_cells(
            batch.offsets.astype(np.int64), cell, visible, geometry.n_cells
        )
        showers = SparseShowers(
            geometry,
            offsets,
            index.astype(index_dtype(geometry.n_cells)),
            sums.astype(np.float32),
            np.asarray(incident, dtype=np.float32),
            labels,
        )
        return showers, books

    def _incident_energy(self, given: np.ndarray | None, n: int, unit: float) -> np.ndarray:
        """(n,) incident energies in GeV: the input's, where it has them, else the settings'."""
        incident = np.full(n, np.nan) if given is None else np.asarray(given, float) * unit
        unknown = ~np.isfinite(incident)
        if np.any(unknown):
            fallback = self.settings.incident_energy_gev
            if fallback is None:
                msg = (
                    f"{int(unknown.sum())} event(s) without an incident energy (no MC truth "
                    "or incident_energy column in the input): give it with --incident-energy GEV"
                )
                raise CalogeoError(msg)
            incident[unknown] = fallback
        return incident

    def _books(
        self,
        n: int,
        event: np.ndarray,
        energy: np.ndarray,
        inside: np.ndarray,
        depth: np.ndarray,
        layer: np.ndarray,
    ) -> BatchBooks:
        layers = self.geometry.n_layers
        missed = ~inside
        in_layer = layer >= 0
        out = missed & in_layer
        gap = np.searchsorted(self.geometry.z_edges_mm[:, 0], depth[~in_layer], side="right")
        gap_energy = energy[~in_layer]
        return BatchBooks(
            energy_in=np.bincount(event, energy, minlength=n),
            loss=np.bincount(event[missed], energy[missed], minlength=n),
            layer_hits=np.bincount(layer[in_layer], minlength=layers),
            layer_energy=np.bincount(layer[in_layer], energy[in_layer], minlength=layers),
            outside_hits=np.bincount(layer[out], minlength=layers),
            outside_energy=np.bincount(layer[out], energy[out], minlength=layers),
            gap_hits=np.bincount(gap, minlength=layers + 1),
            gap_energy=np.bincount(gap, gap_energy, minlength=layers + 1),
            n_hits=len(energy),
        )

    def _labels(
        self,
        batch: HitBatch,
        origin: np.ndarray,
        u: np.ndarray,
        ex: np.ndarray,
        ey: np.ndarray,
        t0: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """The batch's per-event columns (pdg, multiplicity, event_id...), the incident
        direction's angles to the window axis and its entry point into the window (if the truth
        is known) and the axis' own detector angles (rad)."""
        labels = {k: np.asarray(v) for k, v in batch.events.items() if k not in AXIS_COLUMNS}
        labels["axis_theta"] = np.arccos(np.clip(u[:, 2], -1.0, 1.0)).astype(np.float32)
        labels["axis_phi"] = np.arctan2(u[:, 1], u[:, 0]).astype(np.float32)
        if batch.has_truth:
            d = unit_vectors(batch.events["direction"])
            vertex = np.asarray(batch.events["vertex_mm"], dtype=np.float64) * self._length
            cosine = np.einsum("ij,ij->i", d, u)
            theta = np.arccos(np.clip(cosine, -1.0, 1.0))
            phi = np.arctan2(np.einsum("ij,ij->i", d, ey), np.einsum("ij,ij->i", d, ex))
            with np.errstate(invalid="ignore", divide="ignore"):
                s = (t0 - np.einsum("ij,ij->i", vertex - origin, u)) / cosine
            entry = vertex + s[:, None] * d - origin
            ax, ay = self.geometry.anchor_mm
            labels["theta"], labels["phi"] = theta.astype(np.float32), phi.astype(np.float32)
            labels["impact_x"] = (np.einsum("ij,ij->i", entry, ex) + ax).astype(np.float32)
            labels["impact_y"] = (np.einsum("ij,ij->i", entry, ey) + ay).astype(np.float32)
        return labels
