"""Layers and geometries: the cells a network sees, with their physical depth and width."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from calogeo._spec_text import geometry_to_spec_text, parse_spec_text
from calogeo.layout import CellLayout
from calogeo.materials import Material

__all__ = ["Geometry", "Layer"]


@dataclass(frozen=True, eq=False)
class Layer:
    """A slab along the shower axis.

    ``z_front_mm`` and ``z_back_mm`` are measured from the calorimeter front along the axis; the
    ``material`` is the layer's effective medium; ``sampling_fraction`` is the fraction of a
    minimum-ionising particle's energy that is visible (None for a homogeneous layer);
    ``group`` names the sub-detector (e.g. "ECAL", "HCAL") the layer belongs to.
    """

    name: str
    z_front_mm: float
    z_back_mm: float
    material: Material
    layout: CellLayout
    sampling_fraction: float | None = None
    group: str = "ECAL"

    @property
    def thickness_mm(self) -> float:
        """Thickness along the axis in mm."""
        return self.z_back_mm - self.z_front_mm

    @property
    def depth_x0(self) -> float:
        """Thickness in radiation lengths."""
        return self.thickness_mm / self.material.x0_mm

    @property
    def depth_lambda(self) -> float:
        """Thickness in nuclear interaction lengths."""
        return self.thickness_mm / self.material.lambda_i_mm

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape (rows, cols)."""
        return self.layout.shape

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return self.layout.n_cells

    def cell_size_rm(self) -> tuple[float, float]:
        """Typical cell size (dx, dy) in Moliere radii of the layer's material."""
        dx, dy = self.layout.cell_size_mm()
        return dx / self.material.rm_mm, dy / self.material.rm_mm


class Geometry:
    """An ordered stack of layers: the window of cells a network sees.

    ``anchor_mm`` is the (x, y) point, in layer coordinates, where the particle axis enters
    (the resampler aligns geometries there); ``distance_from_ip_mm`` is how far the window's
    front lies from the interaction point (it sets pi0 photon separations and eta-phi sizes);
    ``stochastic_term`` is the sampling term a of sigma/E = a/sqrt(E/GeV) the spec states, if any.
    """

    def __init__(
        self,
        name: str,
        layers: Sequence[Layer],
        *,
        title: str = "",
        citation: str = "",
        variant: str = "effective",
        distance_from_ip_mm: float = 1500.0,
        anchor_mm: tuple[float, float] = (0.0, 0.0),
        stochastic_term: float | None = None,
        spec: dict[str, Any] | None = None,
        spec_text: str | None = None,
        source: str = "<python>",
    ) -> None:
        self.name = name
        self.layers = tuple(layers)
        self.title = title or name
        self.citation = citation
        self.variant = variant
        self.distance_from_ip_mm = float(distance_from_ip_mm)
        self.anchor_mm = (float(anchor_mm[0]), float(anchor_mm[1]))
        self.stochastic_term = stochastic_term
        self._spec_text = spec_text
        self.spec = spec if spec is not None else {}
        self.source = source

    def __repr__(self) -> str:
        shapes = ", ".join(f"{r}x{c}" for r, c in self.shapes)
        return f"Geometry({self.name!r}, {self.n_layers} layers: {shapes})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Geometry):
            return NotImplemented
        return self.spec_hash == other.spec_hash

    def __hash__(self) -> int:
        return hash(self.spec_hash)

    @property
    def spec_text(self) -> str:
        """The spec (TOML) this geometry was built from, or one generated from it."""
        if self._spec_text is None:
            self._spec_text = geometry_to_spec_text(self)
        return self._spec_text

    @cached_property
    def spec_hash(self) -> str:
        """SHA-256 of the parsed spec (comments and key order do not change it)."""
        if not self.spec:
            self.spec = parse_spec_text(self.spec_text)
        text = json.dumps(self.spec, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def n_layers(self) -> int:
        """Number of layers."""
        return len(self.layers)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """Image shape (rows, cols) of every layer."""
        return [layer.shape for layer in self.layers]

    @cached_property
    def layer_offsets(self) -> np.ndarray:
        """(n_layers + 1,) start of each layer's cells in the flat cell vector."""
        return np.concatenate([[0], np.cumsum([layer.n_cells for layer in self.layers])])

    @property
    def n_cells(self) -> int:
        """Total number of cells."""
        return int(self.layer_offsets[-1])

    @cached_property
    def z_edges_mm(self) -> np.ndarray:
        """(n_layers, 2) front and back of every layer in mm."""
        return np.array([[ly.z_front_mm, ly.z_back_mm] for ly in self.layers], dtype=np.float64)

    @cached_property
    def x0_edges(self) -> np.ndarray:
        """(n_layers, 2) cumulative radiation lengths at the front and back of every layer.

        Gaps between layers count as empty (air-like) and add no radiation lengths.
        """
        back = np.cumsum([layer.depth_x0 for layer in self.layers])
        front = back - [layer.depth_x0 for layer in self.layers]
        return np.stack([front, back], axis=1)

    @cached_property
    def lambda_edges(self) -> np.ndarray:
        """(n_layers, 2) cumulative interaction lengths at each layer's front and back."""
        back = np.cumsum([layer.depth_lambda for layer in self.layers])
        front = back - [layer.depth_lambda for layer in self.layers]
        return np.stack([front, back], axis=1)

    @property
    def total_depth_x0(self) -> float:
        """Depth of the whole stack in radiation lengths."""
        return float(self.x0_edges[-1, 1])

    @property
    def total_depth_lambda(self) -> float:
        """Depth of the whole stack in nuclear interaction lengths."""
        return float(self.lambda_edges[-1, 1])

    @property
    def groups(self) -> list[str]:
        """Distinct layer groups (e.g. ["ECAL", "HCAL"]) in depth order."""
        return list(dict.fromkeys(layer.group for layer in self.layers))

    def layer_index(self, name: str) -> int:
        """Position of the layer called ``name``."""
        for i, layer in enumerate(self.layers):
            if layer.name == name:
                return i
        msg = f"geometry {self.name!r} has no layer {name!r}"
        raise KeyError(msg)

    def layer_runs(self) -> list[tuple[int, int]]:
        """Index ranges [first, last] of consecutive layers with the same cells, material,
        thickness and group (how ``calogeo show`` and the geometry plot group a deep stack)."""
        runs: list[tuple[int, int]] = []
        for i, layer in enumerate(self.layers):
            if runs:
                prev = self.layers[runs[-1][1]]
                if (
                    prev.layout.to_spec() == layer.layout.to_spec()
                    and prev.material == layer.material
                    and abs(prev.thickness_mm - layer.thickness_mm) < 1e-9
                    and prev.group == layer.group
                ):
                    runs[-1] = (runs[-1][0], i)
                    continue
            runs.append((i, i))
        return runs

    @cached_property
    def is_regular_grid(self) -> bool:
        """True if every layer is the same grid of cells (a ready 3D voxel image)."""
        first = self.layers[0].layout
        if not first.is_rectilinear:
            return False
        return all(
            layer.layout.is_rectilinear
            and layer.shape == first.shape
            and np.allclose(layer.layout.x_edges_mm, first.x_edges_mm)  # type: ignore[attr-defined]
            and np.allclose(layer.layout.y_edges_mm, first.y_edges_mm)  # type: ignore[attr-defined]
            for layer in self.layers
        )

    def layer_at_depth(self, z_mm: np.ndarray) -> np.ndarray:
        """Index of the layer containing each depth z (mm from the front), -1 outside a layer."""
        z = np.asarray(z_mm, dtype=np.float64)
        fronts, backs = self.z_edges_mm[:, 0], self.z_edges_mm[:, 1]
        idx = np.searchsorted(fronts, z, side="right") - 1
        safe = np.clip(idx, 0, self.n_layers - 1)
        inside = (idx >= 0) & (z < backs[safe])
        return np.where(inside, safe, -1)

    def locate(
        self,
        x_mm: np.ndarray,
        y_mm: np.ndarray,
        z_mm: np.ndarray,
        *,
        layer: np.ndarray | None = None,
    ) -> np.ndarray:
        """Flat cell index (into the geometry's cell vector) of each point in mm; -1 outside.

        x and y are measured in the layer plane from the window centre, z from the front;
        ``layer``, if the caller has it, is ``layer_at_depth(z_mm)`` (not computed again).
        """
        x = np.asarray(x_mm, dtype=np.float64).ravel()
        y = np.asarray(y_mm, dtype=np.float64).ravel()
        if layer is None:
            layer = self.layer_at_depth(np.asarray(z_mm).ravel())
        layer = np.asarray(layer).ravel()
        out = np.full(len(x), -1, dtype=np.int64)
        for i, ly in enumerate(self.layers):
            sel = np.flatnonzero(layer == i)
            if len(sel):
                cell = ly.layout.locate(x[sel], y[sel])
                out[sel] = np.where(cell >= 0, cell + self.layer_offsets[i], -1)
        return out.reshape(np.shape(x_mm))

    def cell_centres_mm(self, convention: str = "centroid") -> np.ndarray:
        """(n_cells, 3) centre of every cell as (x, y, z) in mm, z at the layer's mid-depth.

        ``convention``: ``"centroid"`` (each cell's centre of area, ``CellLayout.centres_mm``)
        or ``"reference"`` (the published convention of the layout's community, e.g. the
        CaloChallenge's bin-midpoint radius, ``CellLayout.reference_centres_mm``).
        """
        if convention not in ("centroid", "reference"):
            msg = f"unknown cell-centre convention {convention!r}: expected centroid or reference"
            raise ValueError(msg)
        parts = []
        for layer in self.layers:
            layout = layer.layout
            xy = layout.centres_mm() if convention == "centroid" else layout.reference_centres_mm()
            z = np.full((len(xy), 1), 0.5 * (layer.z_front_mm + layer.z_back_mm))
            parts.append(np.hstack([xy, z]))
        return np.vstack(parts)
