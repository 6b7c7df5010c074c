"""Input views: the arrays a model sees, built from showers on any geometry.

- ``flat``: all cells in one vector, (N, n_cells).
- ``layers``: one image per layer; consecutive layers of the same group and image shape are
  stacked as channels of one input, (N, n_layers_in_block, rows, cols), one input per block.
- ``voxels``: a regular 3D grid per layer group, (N, 1, depth, rows, cols). A group that is not
  a stack of identical grids is mapped by the resampler onto the finest regular grid covering it
  (Belayneh et al., EPJC 80 (2020) 688, Sect. 5.4: the up-sampling that lets a 3D CNN run on
  ATLAS cells).

:meth:`InputView.to_cells` goes the other way, for generative models: view arrays -> the
geometry's cells. For ``flat`` and ``layers`` it only reshapes. For a resampled voxel grid it is
the energy-conserving transpose of the view's resampling: each voxel's energy is shared among
the cells it overlaps in proportion to the overlap (:meth:`calogeo.resample.Resampler.
spread_back_array`). What that round trip can and cannot represent: energy in voxels that no
cell covers (outside an r-alpha disc, beyond a narrower layer) is dropped; structure finer than a
cell is summed away (a cell's energy is the sum of its voxels' shares); a voxel straddling two
cells splits its energy by area, so cells -> voxels -> cells blurs energy across the borders of
cells that are not unions of voxels (about a voxel's width); total energy inside the cells is
conserved exactly.

Every view also carries per-event global features, as the source papers feed them to the
networks (Belayneh et al. Sect. 5.1): the summed energy of each layer group (GeV) and the
estimated incident angles from the interaction point to the shower barycentre (rad).
All arrays are float32; sums are taken in float64 first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from calogeo.errors import CalogeoError
from calogeo.geometry import Geometry
from calogeo.showers import Showers

__all__ = ["VIEWS", "InputView", "global_feature_names", "global_features", "group_geometry"]

VIEWS = ("flat", "layers", "voxels")


def group_geometry(geometry: Geometry, group: str) -> Geometry:
    """The layers of one group (e.g. "ECAL") as a geometry of their own (same anchor and IP)."""
    layers = [layer for layer in geometry.layers if layer.group == group]
    if not layers:
        msg = f"geometry {geometry.name!r} has no layer group {group!r}"
        raise CalogeoError(msg)
    if len(layers) == geometry.n_layers:
        return geometry
    return Geometry(
        f"{geometry.name}-{group}",
        layers,
        title=f"{geometry.title} ({group} layers)",
        citation=geometry.citation,
        variant=geometry.variant,
        distance_from_ip_mm=geometry.distance_from_ip_mm,
        anchor_mm=geometry.anchor_mm,
    )


def global_feature_names(geometry: Geometry) -> list[str]:
    """Names of the columns of :func:`global_features`."""
    return [f"energy_{g}_gev" for g in geometry.groups] + ["theta_x_rad", "theta_y_rad"]


def global_features(showers: Showers) -> np.ndarray:
    """(N, n_groups + 2) float32: summed energy per layer group (GeV), then the estimated
    angles atan(x_b / (D + z_b)) and atan(y_b / (D + z_b)) of the energy barycentre
    (x_b, y_b, z_b) in mm seen from the interaction point at distance D (rad)."""
    geometry = showers.geometry
    per_layer = showers.layer_energies()
    groups = np.array([layer.group for layer in geometry.layers])
    sums = np.stack([per_layer[:, groups == g].sum(axis=1) for g in geometry.groups], axis=1)
    centres = _centres(geometry)
    flat = showers.flat().astype(np.float64)
    total = flat.sum(axis=1, keepdims=True)
    bary = (flat @ centres) / np.where(total > 0, total, 1.0)
    depth = geometry.distance_from_ip_mm + bary[:, 2]
    angles = np.arctan2(bary[:, :2] - np.asarray(geometry.anchor_mm), depth[:, None])
    return np.concatenate([sums, angles], axis=1).astype(np.float32)


_CENTRES: dict[str, np.ndarray] = {}


def _concat(pieces: list[Any]) -> Any:
    """numpy or torch concatenation along the cells."""
    if len(pieces) == 1:
        return pieces[0]
    if isinstance(pieces[0], np.ndarray):
        return np.concatenate(pieces, axis=1)
    import torch

    return torch.cat(pieces, dim=1)


def _group_order(geometry: Geometry) -> np.ndarray | None:
    """Cell permutation from group order (every group's cells in turn) to layer order, or None
    where the groups follow each other in depth (the usual ECAL-then-HCAL)."""
    groups = [layer.group for layer in geometry.layers]
    by_group = [i for g in geometry.groups for i, lg in enumerate(groups) if lg == g]
    if by_group == sorted(by_group):
        return None
    offsets = geometry.layer_offsets
    grouped = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in by_group])
    return np.argsort(grouped)


def _centres(geometry: Geometry) -> np.ndarray:
    key = geometry.spec_hash
    if key not in _CENTRES:
        _CENTRES[key] = geometry.cell_centres_mm()
    return _CENTRES[key]


@dataclass(frozen=True)
class Block:
    """Consecutive layers ``first..last`` (inclusive) of one group and image shape."""

    group: str
    first: int
    last: int
    shape: tuple[int, int]

    @property
    def n_layers(self) -> int:
        return self.last - self.first + 1


def layer_blocks(geometry: Geometry) -> list[Block]:
    """Runs of consecutive layers with the same group and image shape."""
    blocks: list[Block] = []
    for i, layer in enumerate(geometry.layers):
        prev = blocks[-1] if blocks else None
        if prev is not None and prev.group == layer.group and prev.shape == layer.shape:
            blocks[-1] = Block(prev.group, prev.first, i, prev.shape)
        else:
            blocks.append(Block(layer.group, i, i, layer.shape))
    return blocks


class InputView:
    """Turns showers on ``geometry`` into the arrays of one view, ready for a network.

    ``shapes`` lists the per-event shape of every input array; ``__call__`` returns the arrays
    (float32, energies in GeV) for a batch of showers.
    """

    def __init__(self, geometry: Geometry, view: str) -> None:
        if view not in VIEWS:
            msg = f"unknown input view {view!r}: expected one of {', '.join(VIEWS)}"
            raise CalogeoError(msg)
        self.geometry = geometry
        self.view = view

    @cached_property
    def blocks(self) -> list[Block]:
        """Layer blocks of the ``layers`` view."""
        return layer_blocks(self.geometry)

    @cached_property
    def voxel_grids(self) -> list[tuple[Geometry, Any]]:
        """Per layer group: (its geometry, resampler onto a regular grid or None if it is one)."""
        grids: list[tuple[Geometry, Any]] = []
        for group in self.geometry.groups:
            sub = group_geometry(self.geometry, group)
            if sub.is_regular_grid:
                grids.append((sub, None))
                continue
            from calogeo.resample import Resampler, regular_grid_for

            grid = regular_grid_for(sub)
            grids.append((grid, Resampler(sub, grid)))
        return grids

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Per-event shape of every input array."""
        if self.view == "flat":
            return [(self.geometry.n_cells,)]
        if self.view == "layers":
            return [(b.n_layers, *b.shape) for b in self.blocks]
        return [(1, grid.n_layers, *grid.layers[0].shape) for grid, _ in self.voxel_grids]

    @property
    def n_globals(self) -> int:
        """Number of global features per event."""
        return len(self.geometry.groups) + 2

    def __call__(self, showers: Showers) -> list[np.ndarray]:
        """The input arrays (float32, GeV) of ``showers``."""
        if self.view == "flat":
            return [showers.flat()]
        if self.view == "layers":
            return [np.stack(showers.layers[b.first : b.last + 1], axis=1) for b in self.blocks]
        return self._voxels(showers)

    def to_cells(self, arrays: Sequence[Any]) -> Any:
        """(N, n_cells) cell energies (GeV, visible) from the view's ``arrays`` (numpy or torch,
        as :meth:`__call__` returns them, same kind and device out): the inverse of the view,
        through the energy-conserving transpose of the resampling for resampled voxel grids."""
        if len(arrays) != len(self.shapes):
            msg = f"view {self.view!r} has {len(self.shapes)} inputs, got {len(arrays)}"
            raise CalogeoError(msg)
        n = arrays[0].shape[0]
        pieces = [a.reshape(n, -1) for a in arrays]
        if self.view == "voxels":
            pieces = [
                p if resampler is None else resampler.spread_back_array(p)
                for p, (_, resampler) in zip(pieces, self.voxel_grids, strict=True)
            ]
            order = _group_order(self.geometry)
            if order is not None:  # groups interleaved in depth: back to layer order
                pieces = [_concat(pieces)[:, order]]
        return _concat(pieces)

    def _voxels(self, showers: Showers) -> list[np.ndarray]:
        n = len(showers)
        groups = [layer.group for layer in self.geometry.layers]
        out = []
        for (grid, resampler), group in zip(self.voxel_grids, self.geometry.groups, strict=True):
            layers = [a for a, g in zip(showers.layers, groups, strict=True) if g == group]
            if resampler is None:
                cube = np.stack(layers, axis=1)
            else:
                flat = np.concatenate([a.reshape(n, -1) for a in layers], axis=1)
                cells = np.asarray(resampler.apply_array(flat), dtype=np.float32)
                cube = cells.reshape(n, grid.n_layers, *grid.layers[0].shape)
            out.append(cube[:, None].astype(np.float32, copy=False))
        return out
