"""Transverse symmetries of a geometry: the mirror images and quarter turns about the window
axis that map every layer's cells exactly onto cells, as permutations of the flat cell vector.

A shower entering the centre of the window at normal incidence has no preferred transverse
direction (a pi0's two photons are equally likely at any azimuth), so its mirror images and
rotations are equally likely showers. Models use these permutations to augment their training
data and to average predictions over the images of an event. A square grid centred on the axis
(CLIC, CMS, ILD windows) has all eight symmetries of the square; an eta-phi window of strips
(ATLAS) has the four mirror images; a layout with no symmetry has the identity alone.
"""

from __future__ import annotations

import numpy as np

from calogeo.geometry import Geometry
from calogeo.layout import CellLayout
from calogeo.showers import Showers

__all__ = ["TRANSFORMS", "apply_symmetries", "transverse_symmetries"]

TRANSFORMS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "identity": ((1, 0), (0, 1)),
    "mirror_x": ((-1, 0), (0, 1)),
    "mirror_y": ((1, 0), (0, -1)),
    "rotate_180": ((-1, 0), (0, -1)),
    "transpose": ((0, 1), (1, 0)),
    "anti_transpose": ((0, -1), (-1, 0)),
    "rotate_90": ((0, -1), (1, 0)),
    "rotate_270": ((0, 1), (-1, 0)),
}
"""The symmetries of the square as 2x2 matrices acting on (x, y) in mm: the group D4."""


def _cell_boxes(layout: CellLayout) -> np.ndarray:
    """(n_cells, 4) bounding box (x_min, x_max, y_min, y_max) of every cell in mm."""
    pieces = layout.pieces()
    lo = np.nanmin(pieces.vertices, axis=1)
    hi = np.nanmax(pieces.vertices, axis=1)
    boxes = np.empty((layout.n_cells, 4))
    boxes[:, [0, 2]] = np.inf
    boxes[:, [1, 3]] = -np.inf
    np.minimum.at(boxes[:, 0], pieces.cell, lo[:, 0])
    np.maximum.at(boxes[:, 1], pieces.cell, hi[:, 0])
    np.minimum.at(boxes[:, 2], pieces.cell, lo[:, 1])
    np.maximum.at(boxes[:, 3], pieces.cell, hi[:, 1])
    return boxes


def _mapped_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Bounding boxes after a signed permutation of the axes (exact for these transforms)."""
    corners = np.stack(
        [boxes[:, [0, 2]], boxes[:, [0, 3]], boxes[:, [1, 2]], boxes[:, [1, 3]]], axis=1
    )
    mapped = corners @ matrix.T
    return np.stack(
        [
            mapped[..., 0].min(axis=1),
            mapped[..., 0].max(axis=1),
            mapped[..., 1].min(axis=1),
            mapped[..., 1].max(axis=1),
        ],
        axis=1,
    )


def _layout_symmetries(layout: CellLayout, tolerance_mm: float) -> dict[str, np.ndarray]:
    """For each transform that carries every cell of ``layout`` onto a cell of the same
    outline: the cell index each cell is carried to."""
    centres = layout.interior_points_mm()
    boxes = _cell_boxes(layout)
    found = {}
    for name, rows in TRANSFORMS.items():
        matrix = np.asarray(rows, dtype=np.float64)
        moved = centres @ matrix.T
        target = layout.locate(moved[:, 0], moved[:, 1])
        if np.any(target < 0) or len(np.unique(target)) != len(target):
            continue
        if np.allclose(_mapped_boxes(boxes, matrix), boxes[target], rtol=0, atol=tolerance_mm):
            found[name] = target
    return found


def transverse_symmetries(geometry: Geometry, tolerance_mm: float = 1e-3) -> dict[str, np.ndarray]:
    """The symmetries of :data:`TRANSFORMS` that map every layer of ``geometry`` onto itself,
    cell outlines matching within ``tolerance_mm`` (mm): name -> (n_cells,) int64 gather
    index, so that ``cells[:, index]`` is the transformed image of flat cells (N, n_cells).
    Layers sharing a layout (repeated layers of a spec) are examined once."""
    per_layout: dict[int, dict[str, np.ndarray]] = {}
    carried: dict[str, list[np.ndarray]] = {name: [] for name in TRANSFORMS}
    for layer, offset in zip(geometry.layers, geometry.layer_offsets, strict=False):
        key = id(layer.layout)
        if key not in per_layout:
            per_layout[key] = _layout_symmetries(layer.layout, tolerance_mm)
        for name, target in per_layout[key].items():
            carried[name].append(target + offset)
    found: dict[str, np.ndarray] = {}
    for name, parts in carried.items():
        if len(parts) == geometry.n_layers:
            destination = np.concatenate(parts)
            gather = np.empty_like(destination)
            gather[destination] = np.arange(len(destination))
            found[name] = gather
    return found


def apply_symmetries(showers: Showers, gathers: np.ndarray, choice: np.ndarray) -> Showers:
    """``showers`` with event i transformed by gather index ``gathers[choice[i]]`` (see
    :func:`transverse_symmetries`); incident energies and labels are kept."""
    flat = showers.flat()
    moved = np.take_along_axis(flat, gathers[choice], axis=1)
    return Showers.from_flat(showers.geometry, moved, showers.incident_energy, showers.labels)
