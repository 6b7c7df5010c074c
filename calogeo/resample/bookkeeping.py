"""Energy bookkeeping of a resampling, per event and per run.

Per event, it travels with the showers as labels (:class:`LabelMap`):

- ``energy_kept_fraction``: the fraction of the event's deposited energy (visible / sampling
  fraction) that the resampling kept; 1 for an event without energy. Resampling a file that
  already has it multiplies, so it stays the fraction kept since the first geometry.
- ``edge_loss_gev``: the deposited energy (GeV) that fell outside the target (its window
  edges, or behind its last layer); added up over successive resamplings.

Labels that the resampling invalidates are updated or dropped:

- ``leakage`` (GeV of energy that left the window or the stack) gains the edge loss;
- ``impact_x``, ``impact_y`` (mm at the front face) are mapped like the cells: about the
  anchors, in Moliere radii of the front layers (unchanged by a round trip, and when the
  resampled layers are not the front ones);
- ``start_depth_mm`` (depth along the axis) is mapped through cumulative radiation lengths,
  as the cells' depths are (NaN when it falls behind the target's last layer); a group
  resampling (``--layers``) drops it, since the carried layers keep their own depths.

Any other label is copied unchanged. Per run, :class:`KeptReport` keeps the mean and both
extremes of the kept fraction, naming the event that lost most and the one that gained most
(a gain means overlapping target cells and must never hide behind a mean).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from calogeo.geometry import Geometry

__all__ = [
    "EDGE_LOSS_LABEL",
    "KEPT_LABEL",
    "KeptReport",
    "LabelMap",
    "depth_map",
    "front_impact_map",
    "kept_fraction",
]

KEPT_LABEL = "energy_kept_fraction"
EDGE_LOSS_LABEL = "edge_loss_gev"
LEAKAGE_LABEL = "leakage"
IMPACT_LABELS = ("impact_x", "impact_y")
DEPTH_LABELS = ("start_depth_mm",)
GAIN_TOLERANCE = 1e-6
"""A kept fraction above 1 + this is reported as energy gained (float32 sums stay below)."""


def kept_fraction(books: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N,) float64 deposited energy out / in per event (1 for an event without energy; an
    event whose noisy cells sum to a negative energy keeps its ratio too)."""
    energy_in = np.asarray(books["energy_in"], dtype=np.float64)
    energy_out = np.asarray(books["energy_out"], dtype=np.float64)
    safe = np.where(energy_in != 0, energy_in, 1.0)
    return np.where(energy_in != 0, energy_out / safe, 1.0)


@dataclass(frozen=True)
class ImpactMap:
    """x_out = out_anchor + (x_in - in_anchor) * scale (mm), the front face's cell mapping."""

    in_anchor: tuple[float, float]
    out_anchor: tuple[float, float]
    scale: float

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.out_anchor[0] + (np.asarray(x, dtype=np.float64) - self.in_anchor[0]) * self.scale,
            self.out_anchor[1] + (np.asarray(y, dtype=np.float64) - self.in_anchor[1]) * self.scale,
        )


def front_impact_map(
    source: Geometry, target: Geometry, offset_mm: tuple[float, float] = (0.0, 0.0)
) -> ImpactMap:
    """How the resampler maps a point of the source's front face onto the target's: the anchors
    aligned (the source's moved to ``target.anchor_mm + offset_mm``), lengths in Moliere radii
    of each front layer's material."""
    anchor = (target.anchor_mm[0] + offset_mm[0], target.anchor_mm[1] + offset_mm[1])
    scale = target.layers[0].material.rm_mm / source.layers[0].material.rm_mm
    return ImpactMap(source.anchor_mm, anchor, scale)


@dataclass(frozen=True)
class DepthMap:
    """A depth (mm along the axis) of one geometry -> the depth with the same cumulative
    radiation length in another; NaN behind the other's last layer."""

    z_in: np.ndarray
    x0_in: np.ndarray
    z_out: np.ndarray
    x0_out: np.ndarray

    def __call__(self, z_mm: np.ndarray) -> np.ndarray:
        x0 = np.interp(z_mm, self.z_in, self.x0_in)
        x0 = np.where(np.asarray(z_mm) > self.z_in[-1], np.inf, x0)  # behind the source stack
        out = np.interp(x0, self.x0_out, self.z_out)
        return np.where(x0 <= self.x0_out[-1], out, np.nan)


def depth_map(source: Geometry, target: Geometry) -> DepthMap:
    """:class:`DepthMap` from ``source`` to ``target`` (both measured from their fronts in X0,
    as the resampler aligns them)."""
    return DepthMap(
        source.z_edges_mm.ravel(), source.x0_edges.ravel(), target.z_edges_mm.ravel(),
        target.x0_edges.ravel(),
    )  # fmt: skip


@dataclass(frozen=True)
class LabelMap:
    """What one resampling does to the per-event labels (see the module docstring).

    ``impact`` / ``depth``: how positions move (None: they stay); ``drop``: labels that cannot
    be carried over.
    """

    impact: ImpactMap | None = None
    depth: DepthMap | None = None
    drop: tuple[str, ...] = ()

    def apply(
        self, labels: Mapping[str, np.ndarray], books: Mapping[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The output's labels: ``labels`` with the bookkeeping added and the labels the
        resampling invalidates updated or dropped; ``books`` as
        :meth:`~calogeo.resample.Resampler.bookkeeping` of the same events."""
        out = {name: values for name, values in labels.items() if name not in self.drop}
        loss = np.asarray(books["edge_loss"], dtype=np.float64)
        kept = kept_fraction(books)
        if KEPT_LABEL in out:
            kept = kept * out[KEPT_LABEL]
        out[KEPT_LABEL] = kept.astype(np.float32)
        out[EDGE_LOSS_LABEL] = (loss + out.get(EDGE_LOSS_LABEL, 0.0)).astype(np.float32)
        if LEAKAGE_LABEL in out:
            out[LEAKAGE_LABEL] = (out[LEAKAGE_LABEL] + loss).astype(out[LEAKAGE_LABEL].dtype)
        if self.impact is not None and all(name in out for name in IMPACT_LABELS):
            x, y = self.impact(out["impact_x"], out["impact_y"])
            out["impact_x"] = x.astype(out["impact_x"].dtype)
            out["impact_y"] = y.astype(out["impact_y"].dtype)
        if self.depth is not None:
            for name in DEPTH_LABELS:
                if name in out:
                    out[name] = self.depth(out[name]).astype(np.float32)
        return out

    def notes(self) -> dict[str, str]:
        """What happened to each label, for a file's metadata."""
        notes = {
            KEPT_LABEL: "added: fraction of the deposited energy kept (product over resamplings)",
            EDGE_LOSS_LABEL: "added: deposited energy lost at the target's edges, GeV (summed)",
            LEAKAGE_LABEL: f"updated if present: plus {EDGE_LOSS_LABEL}",
        }
        for name in IMPACT_LABELS:
            notes[name] = (
                "mapped to the target's front face (anchors aligned, Moliere radii)"
                if self.impact is not None
                else "unchanged (same front face)"
            )
        for name in DEPTH_LABELS:
            if name in self.drop:
                notes[name] = "dropped: carried layers keep their own depths"
            else:
                notes[name] = (
                    "mapped through cumulative radiation lengths (NaN behind the target)"
                    if self.depth is not None
                    else "unchanged (same depths)"
                )
        return notes


class KeptReport:
    """Mean and extremes of the fraction of deposited energy kept per event, over a run fed
    batch by batch with :meth:`add`; event numbers count from 0 over the whole run."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0
        self.events = 0
        self.empty = 0
        self.negative = 0  # events whose (noisy) cells sum to a negative energy
        self.lowest = (math.inf, -1)  # (fraction, event)
        self.highest = (-math.inf, -1)

    def add(self, books: Mapping[str, Any]) -> None:
        """Count one batch's bookkeeping (:meth:`Resampler.bookkeeping`)."""
        energy_in = np.asarray(books["energy_in"], dtype=np.float64)
        has = energy_in > 0
        fraction = kept_fraction(books)
        if has.any():  # ties go to the earlier event
            index = np.flatnonzero(has)
            low, high = index[np.argmin(fraction[has])], index[np.argmax(fraction[has])]
            if fraction[low] < self.lowest[0]:
                self.lowest = (float(fraction[low]), self.events + int(low))
            if fraction[high] > self.highest[0]:
                self.highest = (float(fraction[high]), self.events + int(high))
        self.total += float(fraction[has].sum())
        self.count += int(has.sum())
        self.empty += int((energy_in == 0).sum())
        self.negative += int((energy_in < 0).sum())
        self.events += len(energy_in)

    @property
    def gained(self) -> bool:
        """True if some event came out with more energy than it went in with."""
        return self.count > 0 and self.highest[0] > 1.0 + GAIN_TOLERANCE

    def report(self) -> str:
        """One line: mean, the event that lost most, the event that gained most (or kept most
        when none gained), the events without energy and those summing to a negative one (left
        out of the mean and the extremes)."""
        negative = (
            f"{self.negative} events whose cells sum to a negative energy (noise), resampled "
            "as they are and left out of the mean"
        )
        if not self.count:
            line = "energy kept: no event deposits energy"
            return line + (f" ({negative})" if self.negative else "")
        (low, low_event), (high, high_event) = self.lowest, self.highest
        most = "GAINED most (overlapping target cells?)" if self.gained else "kept most"
        line = (
            f"energy kept per event: mean {self.total / self.count:.4%}; lost most: event "
            f"{low_event} keeps {low:.4%}; {most}: event {high_event} keeps {high:.4%} of the "
            "deposited energy (visible / sampling fraction; the rest fell outside the target: "
            "edge loss)"
        )
        if self.empty:
            line += f"; {self.empty} events without energy"
        if self.negative:
            line += f"; {negative}"
        return line
