"""The Resampler: showers on one geometry seen through the cells of another."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from calogeo.energy_scale import ENERGY_SCALES, EnergyScale, scale_factors
from calogeo.errors import GeometryMismatchError
from calogeo.geometry import Geometry
from calogeo.resample.apply import spread_back, transfer
from calogeo.resample.bookkeeping import LabelMap, depth_map, front_impact_map
from calogeo.resample.cache import load_or_build
from calogeo.resample.kernel import SparseRows, weighted_sums
from calogeo.resample.weights import Overlaps
from calogeo.showers import Showers

if TYPE_CHECKING:
    from scipy import sparse

    from calogeo.sparse import SparseShowers

__all__ = ["Resampler"]


class Resampler:
    """Maps energies on ``source`` cells to ``target`` cells by shared volume (Belayneh et al.,
    EPJC 80 (2020) 688, Sect. 5.4): ``W[t, s] = overlap_area(s, t) / area(s) x
    depth_overlap(s, t) / depth(s)``, lengths in each layer's Moliere radii, depth in cumulative
    radiation lengths, the geometries aligned at their anchors (``offset_mm`` moves the source
    anchor to ``target.anchor_mm + offset_mm``, mm in the target's layers).

    Energy is extensive: what is moved is the *deposited* energy (each source layer's visible
    energy divided by its sampling fraction, :mod:`calogeo.energy_scale`), shared by volume,
    never renormalised; the part that no target cell covers — outside the target window, or
    deeper than the target's last layer — is the edge loss. ``output_scale`` ``"visible"``
    (default) hands back what the output geometry's read-out would see (deposited energy times
    its layers' sampling fractions), ``"deposited"`` the deposited energy itself.
    ``round_trip=True`` maps source -> target -> source, spreading each target cell's
    deposited energy over the source cells it covers in proportion to the shared volume, so
    models built for the source arrays see the target's granularity (on the source's scale).

    ``cache``: True keeps the overlap tables in ``$CALOGEO_CACHE_DIR`` (default
    ``~/.cache/calogeo``), a path keeps them there, False builds them every time (tables that
    need no polygon clipping are always built: that is faster than loading them). ``method``
    ``"general"`` clips polygons even for rectilinear layers (the reference for tests).
    """

    def __init__(
        self,
        source: Geometry,
        target: Geometry,
        *,
        round_trip: bool = False,
        offset_mm: tuple[float, float] = (0.0, 0.0),
        cache: bool | Path = True,
        method: str = "auto",
        output_scale: EnergyScale = "visible",
    ) -> None:
        if output_scale not in ENERGY_SCALES:
            msg = (
                f"unknown output_scale {output_scale!r}: expected one of {', '.join(ENERGY_SCALES)}"
            )
            raise ValueError(msg)
        self.source = source
        self.target = target
        self.round_trip = round_trip
        self.output_scale: EnergyScale = output_scale
        self.offset_mm = (float(offset_mm[0]), float(offset_mm[1]))
        self.overlaps: Overlaps = load_or_build(source, target, self.offset_mm, method, cache)
        self.deposited = scale_factors(source, "visible", "deposited")
        """(source layers,) factors from the input's visible to deposited energy."""
        self._forward_out = scale_factors(target, "deposited", output_scale)
        self._back_out = scale_factors(source, "deposited", output_scale)

    def __repr__(self) -> str:
        arrow = " -> ".join(g.name for g in (self.source, self.target, self.output_geometry))
        return f"Resampler({arrow if self.round_trip else self.source.name + ' -> ' + self.target.name})"

    @property
    def output_geometry(self) -> Geometry:
        """The geometry of the resampled showers: the target, or the source for a round trip."""
        return self.source if self.round_trip else self.target

    @cached_property
    def weights(self) -> sparse.csr_matrix:
        """(output cells, source cells) float64 CSR: output energies = weights @ source energies.

        Built on first access (for a round trip it is the product of both steps, and can be
        large: the factored form in :attr:`overlaps` is what :meth:`apply` uses).
        """
        from scipy import sparse

        def per_cell(geometry: Geometry, factors: np.ndarray) -> sparse.dia_matrix:
            return sparse.diags(np.repeat(factors, np.diff(geometry.layer_offsets)))

        volumes = self.overlaps.volumes()
        forward = volumes @ sparse.diags(
            np.repeat(self.deposited, np.diff(self.source.layer_offsets))
            / self.overlaps.source_volume
        )
        if not self.round_trip:
            return (per_cell(self.target, self._forward_out) @ forward).tocsr()
        cover = self.overlaps.target_covered_volume
        inverse = np.divide(1.0, cover, out=np.zeros_like(cover), where=cover > 0)
        back = per_cell(self.source, self._back_out) @ volumes.T @ sparse.diags(inverse)
        return (back @ forward).tocsr()

    @property
    def covered_fraction(self) -> np.ndarray:
        """(source cells,) float64 fraction of every source cell's energy that is kept."""
        return self.overlaps.covered_fraction

    def apply_array(self, x: Any) -> Any:
        """Resample a (N, source cells) numpy array or torch tensor (any device) in GeV.

        Returns the same kind, dtype and device, shape (N, output cells). Float32 stays float32
        (float64 input is computed in float64).
        """
        self._check_cells(x)
        if isinstance(x, np.ndarray) and x.dtype != np.float64:
            x = x.astype(np.float32, copy=False)
        return self._map(x)

    def spread_back_array(self, y: Any) -> Any:
        """The energy-conserving transpose of the map: (N, target cells) energies on the
        target's visible scale (GeV) -> (N, source cells) on ``output_scale`` of the source.

        Each target cell's deposited energy is spread over the source cells it covers in
        proportion to the shared volume (the second step of a round trip), so everything in a
        target cell that some source cell covers is kept; energy in a target cell that no
        source cell covers is dropped. numpy arrays or torch tensors on any device.
        """
        if self.round_trip:
            msg = "spread_back_array: the resampler is a round trip; spread back its target step"
            raise ValueError(msg)
        if y.shape[-1] != self.target.n_cells:
            msg = f"expected (N, {self.target.n_cells}) target cells, got {tuple(y.shape)}"
            raise ValueError(msg)
        if isinstance(y, np.ndarray) and y.dtype != np.float64:
            y = y.astype(np.float32, copy=False)
        into = scale_factors(self.target, "visible", "deposited")
        return spread_back(self.overlaps, y, into=into, out=self._back_out)

    def _map(self, x: Any, result: np.ndarray | None = None) -> Any:
        """The map itself: visible input -> deposited -> output scale, the factors folded
        into the weights; ``result`` (numpy only) receives the output."""
        if not self.round_trip:
            return transfer(
                self.overlaps, x, into=self.deposited, out=self._forward_out, result=result
            )
        y = transfer(self.overlaps, x, into=self.deposited)
        return spread_back(self.overlaps, y, out=self._back_out, result=result)

    @overload
    def apply(self, showers: Showers, *, batch_size: int = ..., device: str = ...) -> Showers: ...
    @overload
    def apply(self, showers: Any, *, batch_size: int = ..., device: str = ...) -> Any: ...
    def apply(self, showers: Any, *, batch_size: int = 1024, device: str = "cpu") -> Any:
        """Resample showers in batches on ``device`` ("cpu", "cuda" or "auto"). Incident
        energies are carried over; the labels gain the per-event bookkeeping and those the
        resampling invalidates are updated or dropped (:attr:`label_map`).

        Each batch is gathered into one reused dense buffer and resampled straight into the
        output array, so this runs at the speed of :meth:`apply_array`. A Dask array of flat
        cell energies (N, source cells) in GeV (e.g. from :func:`calogeo.io.to_dask`) gives a
        Dask array (N, output cells), resampled block by block over events (``map_blocks``).
        """
        if type(showers).__module__.startswith("dask."):
            return self._apply_dask(showers, device)
        self._check(showers)
        n, size = len(showers), max(1, batch_size)
        cells = np.empty((n, self.output_geometry.n_cells), dtype=np.float32)
        buffer = np.empty((min(n, size), self.source.n_cells), dtype=np.float32)
        sums = np.zeros((n, 2))  # the bookkeeping, from the same gathered batches
        for first in range(0, n, size):
            batch = showers[first : first + size]
            dense = batch.flat(out=buffer[: len(batch)])
            self.apply_dense(dense, out=cells[first : first + len(batch)], device=device)
            weighted_sums(dense, self._book_weights, sums[first : first + len(batch)])
        labels = self.label_map.apply(showers.labels, _books(sums))
        return Showers.from_flat(self.output_geometry, cells, showers.incident_energy, labels)

    @cached_property
    def label_map(self) -> LabelMap:
        """What resampling does to the per-event labels: bookkeeping added, ``leakage``
        updated, positions mapped like the cells (:mod:`calogeo.resample.bookkeeping`)."""
        if self.round_trip:
            return LabelMap()  # back on the source's cells: positions stay
        impact = front_impact_map(self.source, self.target, self.offset_mm)
        return LabelMap(impact=impact, depth=depth_map(self.source, self.target))

    def _apply_dask(self, cells: Any, device: str) -> Any:
        """:meth:`apply_dense` mapped over the event blocks of a Dask array."""
        self._check_cells(cells)
        whole_rows = cells.rechunk({1: -1})

        def block(x: np.ndarray) -> np.ndarray:
            return self.apply_dense(np.ascontiguousarray(x, dtype=np.float32), device=device)

        return whole_rows.map_blocks(
            block,
            chunks=(whole_rows.chunks[0], (self.output_geometry.n_cells,)),
            dtype=np.float32,
        )

    def apply_dense(
        self, cells: np.ndarray, *, out: np.ndarray | None = None, device: str = "cpu"
    ) -> np.ndarray:
        """Resample one dense C-contiguous float32 (N, source cells) batch in GeV on
        ``device``; the result is written into ``out`` ((N, output cells) float32,
        C-contiguous) when given, and returned."""
        if device != "cpu":
            import torch

            from calogeo.device import resolve_device

            target = resolve_device(device)
            if target.type != "cpu":
                result = self.apply_array(torch.from_numpy(cells).to(target)).cpu().numpy()
                if out is None:
                    return result
                out[...] = result
                return out
        self._check_cells(cells)
        return self._map(cells, result=out)

    def apply_sparse(self, batch: SparseShowers, *, out: np.ndarray | None = None) -> np.ndarray:
        """:meth:`apply_dense` of a batch given by its non-zero cells (GeV, on the CPU): each
        event is laid out in a cache-resident row, so no dense batch is built or read."""
        self._check(batch)
        return self._map(self._rows(batch), result=out)

    def bookkeeping_sparse(self, batch: SparseShowers) -> dict[str, np.ndarray]:
        """:meth:`bookkeeping` of a batch given by its non-zero cells, summed over those."""
        self._check(batch)
        return self._book_sums(self._rows(batch))

    def _rows(self, batch: SparseShowers) -> SparseRows:
        energy = batch.energy.astype(np.float32, copy=False)
        return SparseRows(batch.offsets, batch.index, energy, self.source.n_cells)

    def bookkeeping(self, showers: Showers) -> dict[str, np.ndarray]:
        """Per-event float64 ``energy_in``, ``energy_out`` and ``edge_loss`` in GeV of
        *deposited* energy (each source layer's visible energy over its sampling fraction):
        ``energy_in = energy_out + edge_loss``, and ``energy_out`` is what the resampled
        showers hold on the deposited scale.

        ``energy_out`` and ``edge_loss`` come from the covered fraction of every source cell
        (the weights' column sums), so they do not need the resampled showers.
        """
        self._check(showers)
        sums = np.zeros((len(showers), 2))
        for layer, weights in zip(showers.layers, self._book_layers, strict=True):
            weighted_sums(layer.reshape(len(showers), -1), weights, sums)
        return _books(sums)

    def bookkeeping_dense(self, cells: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`bookkeeping` of a dense (N, source cells) batch in GeV."""
        return self._book_sums(cells)

    def _book_sums(self, cells: np.ndarray | SparseRows) -> dict[str, np.ndarray]:
        sums = np.zeros((cells.shape[0], 2))
        weighted_sums(cells, self._book_weights, sums)
        return _books(sums)

    @cached_property
    def _book_weights(self) -> np.ndarray:
        """(source cells, 2) float64: deposited energy per visible GeV in, and kept (the edge
        loss is their difference, so it costs no third pass over the cells)."""
        per_cell = np.repeat(self.deposited, np.diff(self.source.layer_offsets))
        return np.stack([per_cell, per_cell * self.covered_fraction], axis=1)

    @property
    def _book_layers(self) -> list[np.ndarray]:
        off = self.source.layer_offsets
        return [self._book_weights[off[i] : off[i + 1]] for i in range(self.source.n_layers)]

    def _check_cells(self, x: Any) -> None:
        if x.ndim != 2 or x.shape[1] != self.overlaps.n_source:
            msg = (
                f"resampler from {self.source.name!r} needs (N, {self.overlaps.n_source}) "
                f"energies, got {tuple(x.shape)}"
            )
            raise GeometryMismatchError(msg)

    def _check(self, showers: Showers | SparseShowers) -> None:
        if showers.geometry != self.source:
            msg = (
                f"showers are on {showers.geometry.name!r}, the resampler maps from "
                f"{self.source.name!r}"
            )
            raise GeometryMismatchError(msg)


def _books(sums: np.ndarray) -> dict[str, np.ndarray]:
    """Per-event bookkeeping from the (N, 2) sums of deposited energy in and kept."""
    return {"energy_in": sums[:, 0], "energy_out": sums[:, 1], "edge_loss": sums[:, 0] - sums[:, 1]}
