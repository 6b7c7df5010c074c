"""The finest regular 3D grid covering a geometry: the ``voxels`` view of any detector."""

from __future__ import annotations

import math

import numpy as np

from calogeo.geometry import Geometry, Layer
from calogeo.layout import CellLayout, GridLayout, RectilinearLayout

__all__ = ["regular_grid_for"]


def _pitch_mm(layout: CellLayout) -> tuple[float, float]:
    """Smallest cell size (x, y) in mm: edge spacing for rectilinear cells, else the typical
    cell size."""
    if isinstance(layout, RectilinearLayout):
        return float(np.diff(layout.x_edges_mm).min()), float(np.diff(layout.y_edges_mm).min())
    return layout.cell_size_mm()


def regular_grid_for(geometry: Geometry) -> Geometry:
    """Identical grid layers covering ``geometry``'s window, in mm.

    The pitch is the smallest cell pitch in x and in y over all layers; the grid is centred on
    the axis like the layouts and covers the union of the layers' extents. There is one grid
    layer per geometry layer, with the same depth and material, so resampling onto it is a
    purely geometric re-binning (fixed depth binning: the geometry's own layers).
    """
    pitches = np.array([_pitch_mm(layer.layout) for layer in geometry.layers])
    pitch_x, pitch_y = float(pitches[:, 0].min()), float(pitches[:, 1].min())
    extents = np.array([layer.layout.extent_mm() for layer in geometry.layers])
    half_x = float(np.abs(extents[:, :2]).max())
    half_y = float(np.abs(extents[:, 2:]).max())
    n_x = max(1, math.ceil(2.0 * half_x / pitch_x - 1e-9))
    n_y = max(1, math.ceil(2.0 * half_y / pitch_y - 1e-9))
    layout = GridLayout(pitch_x, pitch_y, n_x=n_x, n_y=n_y)
    layers = [
        Layer(
            layer.name,
            layer.z_front_mm,
            layer.z_back_mm,
            layer.material,
            layout,
            layer.sampling_fraction,
            layer.group,
        )
        for layer in geometry.layers
    ]
    return Geometry(
        f"{geometry.name}_voxels",
        layers,
        title=f"{geometry.title}: regular {n_y}x{n_x}x{geometry.n_layers} grid",
        citation=geometry.citation,
        variant=geometry.variant,
        distance_from_ip_mm=geometry.distance_from_ip_mm,
        anchor_mm=geometry.anchor_mm,
        stochastic_term=geometry.stochastic_term,
    )
