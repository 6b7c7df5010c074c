"""Running totals of a voxelization: energy kept per event, and where the lost hits fell."""

from __future__ import annotations

import numpy as np

from calogeo.geometry import Geometry
from calogeo.voxelize.binning import BatchBooks

__all__ = ["VoxelizeReport"]


class VoxelizeReport:
    """Sums of :class:`~calogeo.voxelize.binning.BatchBooks` over a run (GeV of the input's
    energy scale): the summary line says how much energy the window kept per event, as
    ``calogeo resample`` does, and :meth:`check_table` where the rest went, layer by layer."""

    def __init__(self, geometry: Geometry) -> None:
        layers = geometry.n_layers
        self.geometry = geometry
        self.events = 0
        self.hits = 0
        self.energy = 0.0
        self.empty = 0
        self.kept_sum = 0.0
        self.kept_count = 0
        self.worst = 1.0
        self.layer_hits = np.zeros(layers, dtype=np.int64)
        self.layer_energy = np.zeros(layers)
        self.outside_hits = np.zeros(layers, dtype=np.int64)
        self.outside_energy = np.zeros(layers)
        self.gap_hits = np.zeros(layers + 1, dtype=np.int64)
        self.gap_energy = np.zeros(layers + 1)

    def add(self, books: BatchBooks) -> None:
        """Add one batch's bookkeeping."""
        has = books.energy_in > 0
        kept = 1.0 - books.loss[has] / books.energy_in[has]
        self.events += len(books.energy_in)
        self.hits += books.n_hits
        self.energy += float(books.energy_in.sum())
        self.empty += int((~has).sum())
        self.kept_sum += float(kept.sum())
        self.kept_count += int(has.sum())
        if len(kept):
            self.worst = min(self.worst, float(kept.min()))
        for name in ("layer_hits", "layer_energy", "outside_hits", "outside_energy"):
            getattr(self, name)[:] += getattr(books, name)
        self.gap_hits += books.gap_hits
        self.gap_energy += books.gap_energy

    @property
    def mean_kept(self) -> float:
        """Mean over events with energy of the fraction of their hit energy in the window."""
        return self.kept_sum / self.kept_count if self.kept_count else float("nan")

    def summary(self) -> str:
        """One line: events, hits, and the energy kept per event (mean and worst)."""
        head = f"{self.events} events, {self.hits} hits"
        if not self.kept_count:
            return f"{head}; no event deposits energy"
        line = (
            f"{head}; energy kept per event: mean {self.mean_kept:.4%}, worst {self.worst:.4%} "
            "of the hit energy (the rest fell outside the window or between its layers: loss)"
        )
        if self.empty:
            line += f"; {self.empty} events without energy"
        return line

    def check_table(self) -> str:
        """Per layer, the fraction of all hits and hit energy whose depth falls in the layer
        and, of all hits and energy, those that fell there outside the window; the gaps in
        depth (before the first layer, between layers, behind the last) with the fractions
        that fell there."""
        hits = max(self.hits, 1)
        energy = self.energy if self.energy > 0 else 1.0
        width = max(12, *(len(layer.name) + 5 for layer in self.geometry.layers))
        head = f"{'depth slice':<{width}} {'z [mm]':>17} {'hits':>8} {'energy':>8}"
        rows = [f"{head} {'hits out':>9} {'energy out':>10}"]

        def gap(k: int, label: str, z: str) -> None:
            if self.gap_hits[k]:
                rows.append(
                    f"{label:<{width}} {z:>17} {self.gap_hits[k] / hits:>8.2%} "
                    f"{self.gap_energy[k] / energy:>8.2%} {self.gap_hits[k] / hits:>9.2%} "
                    f"{self.gap_energy[k] / energy:>10.2%}"
                )

        edges = self.geometry.z_edges_mm
        gap(0, "before front", f"< {edges[0, 0]:.1f}")
        for k, layer in enumerate(self.geometry.layers):
            if k:
                gap(k, f"gap {k - 1}-{k}", f"{edges[k - 1, 1]:.1f}-{edges[k, 0]:.1f}")
            rows.append(
                f"{f'{k:>3} {layer.name}':<{width}} {edges[k, 0]:>8.1f}-{edges[k, 1]:<8.1f}"
                f" {self.layer_hits[k] / hits:>8.2%} {self.layer_energy[k] / energy:>8.2%}"
                f" {self.outside_hits[k] / hits:>9.2%} {self.outside_energy[k] / energy:>10.2%}"
            )
        gap(len(edges), "behind back", f">= {edges[-1, 1]:.1f}")
        lost_hits = self.outside_hits.sum() + self.gap_hits.sum()
        lost_energy = self.outside_energy.sum() + self.gap_energy.sum()
        rows.append(
            f"{'total lost':<{width}} {'':>17} {'':>8} {'':>8} {lost_hits / hits:>9.2%} "
            f"{lost_energy / energy:>10.2%}"
        )
        return "\n".join(rows)
