"""Shower observables: pure, vectorised functions of :class:`~calogeo.Showers` and its geometry.

Every function takes a batch of showers and returns one value per event (``(N,)``) or one per
event and layer (``(N, n_layers)``), accumulated in float64. Undefined values (the width of an
empty layer, the centre of an empty event) are NaN; :func:`table` reports the centre, width
and E_ratio of an empty layer as 0 by default (the CaloChallenge convention, see
:data:`EMPTY_LAYER`).

Transverse coordinates are measured from the shower axis, i.e. from the geometry's
``anchor_mm``, in mm or in Moliere radii of each layer's material ("rm"); depth is measured from
the calorimeter front in mm, in cumulative radiation lengths ("x0") or in layer index ("layer",
the unit of CaloGAN's Table IV). :func:`table` collects the scalar observables under fixed
names (per-layer ones as ``BASE[i]``, see :func:`resolve_names`), in one pass over the cells;
it is the feature vector of the BDT baselines and the input of the fidelity metrics, which
share it through :func:`cached_table`. Every centre, width, moment and radius places a cell's
energy at :meth:`Geometry.cell_centres_mm <calogeo.geometry.Geometry.cell_centres_mm>` (each
layout's ``centres_mm()``), the one place where a cell-centre convention is chosen.

Sources of the definitions:

- layer energies and fractions, E_ratio, deepest layer, shower depth s_d and its width,
  lateral width per layer, occupancy (CaloGAN's "sparsity level", the fraction of cells with
  energy; the CaloChallenge "sparsity" is one minus it): Paganini et al., CaloGAN, PRD 97 (2018) 014021, Table IV
  and Fig. 12;
- R9 and the energy in the first, second and last third of the depth, moments of order 1-6
  along x, y, z: Belayneh et al., EPJC 80 (2020) 688, App. C, Fig. 10 and the Triforce
  features (zenodo 3889046);
- hits over a threshold, first moments (centre of gravity), second moments, shower start:
  Buhmann et al., "Hadrons, better, faster, stronger" (2021), Sect. 4 and Fig. 5; the shower
  start follows the CALICE idea (JINST 6 (2011) P07005) of the first layer of a run of layers
  with a clear energy rise.
"""

from __future__ import annotations

import itertools
import math
import re
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from calogeo.geometry import Geometry
from calogeo.materials import mip_scale
from calogeo.showers import Showers

__all__ = [
    "AXES",
    "DEPTH_UNITS",
    "EMPTY_LAYER",
    "PER_LAYER",
    "TRANSVERSE_UNITS",
    "cached_table",
    "cell_energy_histogram",
    "cell_thresholds_gev",
    "centroid",
    "deepest_layer",
    "depth_thirds",
    "e_ratio",
    "is_per_layer",
    "layer_centroids",
    "layer_column",
    "layer_energies",
    "layer_fractions",
    "layer_occupancy",
    "layer_widths",
    "longitudinal_profile",
    "mean_profiles",
    "mip_energy_gev",
    "moments",
    "n_hits",
    "r9",
    "radial_profile",
    "resolve_names",
    "shower_depth",
    "shower_depth_width",
    "shower_start",
    "sparsity",
    "table",
    "total_energy",
    "width",
]

AXES = ("x", "y", "z")
TRANSVERSE_UNITS = ("mm", "rm", "cell")
DEPTH_UNITS = ("mm", "x0", "layer")
MAX_BATCH_VALUES = 1 << 22
"""Events x cells processed at once (float64: 32 MB), so that any geometry fits in memory."""


# -- per-geometry coordinates -----------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """Coordinates of every cell of a geometry, flat order, in all supported units."""

    layer: np.ndarray  # (n_cells,) layer index of each cell
    x: dict[str, np.ndarray]  # unit -> (n_cells,)
    y: dict[str, np.ndarray]
    z: dict[str, np.ndarray]
    r_mm: np.ndarray
    r_rm: np.ndarray


@lru_cache(maxsize=16)
def _frame(geometry: Geometry, centres: str = "centroid") -> _Frame:
    ax, ay = geometry.anchor_mm
    xs, ys, layer_of, rms = [], [], [], []
    col_idx, row_idx = [], []
    centres_mm = geometry.cell_centres_mm(centres)  # the one source of cell centres
    off = geometry.layer_offsets
    for i, layer in enumerate(geometry.layers):
        xy = centres_mm[off[i] : off[i + 1], :2]
        rows, cols = layer.shape
        xs.append(xy[:, 0] - ax)
        ys.append(xy[:, 1] - ay)
        layer_of.append(np.full(layer.n_cells, i))
        rms.append(np.full(layer.n_cells, layer.material.rm_mm))
        rr, cc = np.divmod(np.arange(layer.n_cells), cols)
        row_idx.append(rr - 0.5 * (rows - 1))
        col_idx.append(cc - 0.5 * (cols - 1))
    x_mm, y_mm = np.concatenate(xs), np.concatenate(ys)
    layer_index = np.concatenate(layer_of)
    rm = np.concatenate(rms)
    z_mid_mm = geometry.z_edges_mm.mean(axis=1)
    z_mid_x0 = geometry.x0_edges.mean(axis=1)
    return _Frame(
        layer=layer_index,
        x={"mm": x_mm, "rm": x_mm / rm, "cell": np.concatenate(col_idx).astype(np.float64)},
        y={"mm": y_mm, "rm": y_mm / rm, "cell": np.concatenate(row_idx).astype(np.float64)},
        z={
            "mm": z_mid_mm[layer_index],
            "x0": z_mid_x0[layer_index],
            "layer": layer_index.astype(np.float64),
        },
        r_mm=np.hypot(x_mm, y_mm),
        r_rm=np.hypot(x_mm, y_mm) / rm,
    )


def _coordinate(geometry: Geometry, axis: str, unit: str, centres: str = "centroid") -> np.ndarray:
    """(n_cells,) coordinate of every cell along ``axis`` in ``unit`` (cell-centre convention
    ``centres``, see :data:`CELL_CENTRES`)."""
    if axis not in AXES:
        msg = f"unknown axis {axis!r}: expected one of {', '.join(AXES)}"
        raise ValueError(msg)
    table = getattr(_frame(geometry, centres), axis)
    if unit not in table:
        msg = f"axis {axis!r} has no unit {unit!r}: expected one of {', '.join(table)}"
        raise ValueError(msg)
    return table[unit]


def _flat_batches(showers: Showers) -> Iterator[np.ndarray]:
    """Float64 (n, n_cells) blocks of the events (fresh copies; at least one, maybe empty)."""
    size = max(1, MAX_BATCH_VALUES // max(1, showers.geometry.n_cells))
    if len(showers) == 0:
        yield np.zeros((0, showers.geometry.n_cells))
        return
    for batch in showers.batches(size):
        yield batch.flat().astype(np.float64)


def _batched(showers: Showers, func: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``func`` to float64 (n, n_cells) blocks of the events and join the results."""
    return np.concatenate([func(e) for e in _flat_batches(showers)])


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with NaN where den is zero."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)


# -- energies ----------------------------------------------------------------------------------


def total_energy(showers: Showers) -> np.ndarray:
    """(N,) deposited energy in GeV (CaloGAN E_tot)."""
    return showers.total_energy()


def layer_energies(showers: Showers) -> np.ndarray:
    """(N, n_layers) energy per layer in GeV (CaloGAN E_i)."""
    return showers.layer_energies()


def layer_fractions(showers: Showers) -> np.ndarray:
    """(N, n_layers) fraction of the deposited energy in each layer (CaloGAN f_i)."""
    e = showers.layer_energies()
    return _divide(e, e.sum(axis=1, keepdims=True))


def longitudinal_profile(showers: Showers, unit: str = "layer") -> np.ndarray:
    """(N, n_layers) energy per unit depth: GeV per layer ("layer"), per mm or per X0."""
    e = showers.layer_energies()
    geometry = showers.geometry
    if unit == "layer":
        return e
    if unit == "mm":
        return e / np.diff(geometry.z_edges_mm, axis=1).ravel()
    if unit == "x0":
        return e / np.diff(geometry.x0_edges, axis=1).ravel()
    msg = f"unknown depth unit {unit!r}: expected one of {', '.join(DEPTH_UNITS)}"
    raise ValueError(msg)


def radial_profile(showers: Showers, edges: np.ndarray, unit: str = "rm") -> np.ndarray:
    """(N, len(edges) - 1) energy in GeV in rings around the shower axis.

    ``edges`` are ring radii in mm or Moliere radii (``unit`` "mm" or "rm"); a cell counts in
    the ring that holds its centre. Energy outside the last edge is not counted.
    """
    frame = _frame(showers.geometry)
    if unit not in ("mm", "rm"):
        msg = f"unknown radial unit {unit!r}: expected 'mm' or 'rm'"
        raise ValueError(msg)
    r = frame.r_mm if unit == "mm" else frame.r_rm
    return _batched(showers, lambda e: e @ _onehot(r, edges))


def _onehot(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(len(values), len(edges) - 1) matrix with a 1 in the bin holding each value (a row of
    zeros for values outside the edges)."""
    edges = np.asarray(edges, dtype=np.float64)
    which = np.searchsorted(edges, values, side="right") - 1
    onehot = np.zeros((len(values), len(edges) - 1))
    inside = (which >= 0) & (which < len(edges) - 1)
    onehot[np.flatnonzero(inside), which[inside]] = 1.0
    return onehot


@lru_cache(maxsize=16)
def _cell_intervals(geometry: Geometry, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) of every cell along "x" or "y" in mm from the shower axis (flat order): the
    extent of the cell's outline (its bounding interval for polygon cells)."""
    k = AXES.index(axis)
    anchor = geometry.anchor_mm[k]
    lo, hi = [], []
    for layer in geometry.layers:
        pieces = layer.layout.pieces()
        v = pieces.vertices[..., k]
        lo_piece, hi_piece = np.nanmin(v, axis=1), np.nanmax(v, axis=1)
        cell_lo = np.full(layer.n_cells, np.inf)
        cell_hi = np.full(layer.n_cells, -np.inf)
        np.minimum.at(cell_lo, pieces.cell, lo_piece)
        np.maximum.at(cell_hi, pieces.cell, hi_piece)
        lo.append(cell_lo - anchor)
        hi.append(cell_hi - anchor)
    return np.concatenate(lo), np.concatenate(hi)


def _overlap_matrix(lo: np.ndarray, hi: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(n_cells, n_bins) share of each cell interval [lo, hi] falling in each bin (energy
    spread uniformly over the interval; a zero-length interval counts in the bin holding it)."""
    edges = np.asarray(edges, dtype=np.float64)
    length = hi - lo
    overlap = np.clip(
        np.minimum(hi[:, None], edges[None, 1:]) - np.maximum(lo[:, None], edges[None, :-1]),
        0.0,
        None,
    )
    point = length <= 0
    share = overlap / np.where(point, 1.0, length)[:, None]
    if point.any():
        share[point] = _onehot(lo[point], edges)
    return share


def _zero_below(
    geometry: Geometry, threshold_gev: float | np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """A function that zeroes the cells of a float64 (n, n_cells) batch below the per-layer
    threshold, in place (the identity without a threshold)."""
    thresholds = cell_thresholds_gev(geometry, threshold_gev)
    cell_threshold = np.repeat(thresholds, np.diff(geometry.layer_offsets))
    if not np.any(thresholds > 0):
        return lambda e: e

    def cut(e: np.ndarray) -> np.ndarray:
        e[e < cell_threshold] = 0.0
        return e

    return cut


def mean_profiles(
    showers: Showers,
    edges: dict[str, np.ndarray],
    *,
    threshold_gev: float | np.ndarray = 0.0,
) -> dict[str, np.ndarray]:
    """Mean energy per event (GeV) in bins along the transverse axes, and per layer, in one
    pass over the cells.

    ``edges`` maps ``"x_mm"``, ``"y_mm"``, ``"x_rm"`` or ``"y_rm"`` to bin edges (mm from the
    shower axis, or Moliere radii of each cell's layer material); each cell's energy is spread
    uniformly over its extent along the axis, so bins finer than coarse cells show no aliasing.
    The result holds those keys and ``"layer"`` (n_layers,). Cells below ``threshold_gev``
    (scalar or per layer) are zeroed first."""
    geometry = showers.geometry
    rm = np.repeat([ly.material.rm_mm for ly in geometry.layers], np.diff(geometry.layer_offsets))
    blocks = [_onehot(_frame(geometry).layer.astype(np.float64), np.arange(geometry.n_layers + 1))]
    for key, bins in edges.items():
        axis, _, unit = key.partition("_")
        if axis not in ("x", "y") or unit not in ("mm", "rm"):
            msg = f"unknown profile {key!r}: expected x_mm, y_mm, x_rm or y_rm"
            raise ValueError(msg)
        lo, hi = _cell_intervals(geometry, axis)
        scale = 1.0 if unit == "mm" else rm
        blocks.append(_overlap_matrix(lo / scale, hi / scale, bins))
    matrix = np.concatenate(blocks, axis=1)
    cut = _zero_below(geometry, threshold_gev)
    cells = sum(cut(e).sum(axis=0) for e in _flat_batches(showers))  # summed before binning
    mean = (cells @ matrix) / max(len(showers), 1)
    sizes = np.cumsum([0, *(b.shape[1] for b in blocks)])
    out = {"layer": mean[: sizes[1]]}
    for k, key in enumerate(edges):
        out[key] = mean[sizes[k + 1] : sizes[k + 2]]
    return out


def cell_energy_histogram(
    showers: Showers, edges: np.ndarray, unit_gev: float | np.ndarray = 1.0
) -> np.ndarray:
    """(len(edges) - 1,) number of cells with energy in each bin, energies in units of
    ``unit_gev`` (a scalar, or one value per layer, e.g. :func:`mip_energy_gev` for MIPs).
    Empty cells are not counted; cells outside the edges neither."""
    geometry = showers.geometry
    units = np.broadcast_to(np.asarray(unit_gev, dtype=np.float64), geometry.n_layers)
    cell_unit = np.repeat(units, np.diff(geometry.layer_offsets))
    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    for e in _flat_batches(showers):
        hit = e > 0
        counts += np.histogram((e / cell_unit)[hit], edges)[0]
    return counts


# -- centres, widths and moments ---------------------------------------------------------------


def _weighted_moments(e: np.ndarray, c: np.ndarray, orders: tuple[int, ...]) -> np.ndarray:
    """(n, len(orders)) energy-weighted moments of coordinate ``c``: order 1 is the mean,
    higher orders are central moments sum E (c - mean)^k / sum E.

    Central moments come from the raw power sums S_j = E @ c^j by the binomial expansion, one
    matrix-vector product per power (float64; coordinates are axis-centred, so cancellation
    stays far below the moments' own statistical precision).
    """
    top = max(orders)
    return _central_moments(np.stack([e @ c**j for j in range(top + 1)], axis=1), orders)


def _central_moments(sums: np.ndarray, orders: tuple[int, ...]) -> np.ndarray:
    """(n, len(orders)) moments from the power sums S_j = sum E c^j, j = 0..max(orders)
    (columns of ``sums``): order 1 the mean, order k > 1 the central moment."""
    raw = _divide(sums, sums[:, :1])  # raw moments <c^j>
    mean = raw[:, 1]
    out = np.empty((len(sums), len(orders)))
    for col, k in enumerate(orders):
        if k == 1:
            out[:, col] = mean
        else:
            out[:, col] = sum(
                math.comb(k, j) * raw[:, j] * (-mean) ** (k - j) for j in range(k + 1)
            )
    return out


def moments(
    showers: Showers, axis: str, orders: tuple[int, ...] = (1, 2, 3, 4, 5, 6), unit: str = "mm"
) -> np.ndarray:
    """(N, len(orders)) energy-weighted moments along ``axis`` (Triforce): order 1 is the
    centre of energy, order k > 1 the central moment in ``unit``**k."""
    c = _coordinate(showers.geometry, axis, unit)
    return _batched(showers, lambda e: _weighted_moments(e, c, orders))


def centroid(showers: Showers, axis: str, unit: str = "mm") -> np.ndarray:
    """(N,) centre of energy along ``axis`` ("x", "y" in mm/rm/cell; "z" in mm/x0/layer)."""
    return moments(showers, axis, (1,), unit)[:, 0]


def width(showers: Showers, axis: str, unit: str = "mm") -> np.ndarray:
    """(N,) energy-weighted standard deviation along ``axis`` in ``unit``."""
    return np.sqrt(np.maximum(moments(showers, axis, (2,), unit)[:, 0], 0.0))


def shower_depth(showers: Showers, unit: str = "layer") -> np.ndarray:
    """(N,) energy-weighted depth: CaloGAN's s_d in layer index, or in mm or X0."""
    return centroid(showers, "z", unit)


def shower_depth_width(showers: Showers, unit: str = "layer") -> np.ndarray:
    """(N,) energy-weighted spread of the depth: CaloGAN's sigma_sd (layer index), mm or X0."""
    return width(showers, "z", unit)


def _per_layer(showers: Showers, func: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """(N, n_layers): ``func(energies (N, cells) float64, layer index) -> (N,)`` per layer."""
    n = len(showers)
    columns = [
        func(layer.reshape(n, -1).astype(np.float64), i) for i, layer in enumerate(showers.layers)
    ]
    return np.stack(columns, axis=1) if columns else np.zeros((n, 0))


def _layer_coordinate(showers: Showers, axis: str, unit: str, i: int) -> np.ndarray:
    off = showers.geometry.layer_offsets
    return _coordinate(showers.geometry, axis, unit)[off[i] : off[i + 1]]


def layer_centroids(showers: Showers, axis: str, unit: str = "mm") -> np.ndarray:
    """(N, n_layers) centre of energy along "x" or "y" in each layer."""
    return _per_layer(
        showers,
        lambda e, i: _weighted_moments(e, _layer_coordinate(showers, axis, unit, i), (1,))[:, 0],
    )


def layer_widths(showers: Showers, axis: str, unit: str = "mm") -> np.ndarray:
    """(N, n_layers) lateral width along "x" or "y" in each layer: CaloGAN's sigma_i
    (defined there in cell units, "cell"), also in mm and Moliere radii."""

    def one(e: np.ndarray, i: int) -> np.ndarray:
        c = _layer_coordinate(showers, axis, unit, i)
        return np.sqrt(np.maximum(_weighted_moments(e, c, (2,))[:, 0], 0.0))

    return _per_layer(showers, one)


# -- cell-level shape observables ------------------------------------------------------------


def e_ratio(showers: Showers) -> np.ndarray:
    """(N, n_layers) (I1 - I2) / (I1 + I2) of the two hottest cells of each layer (CaloGAN)."""

    def one(e: np.ndarray, _: int) -> np.ndarray:
        if e.shape[1] < 2:
            return np.full(len(e), np.nan)
        top = np.partition(e, e.shape[1] - 2, axis=1)[:, -2:]
        return _divide(top[:, 1] - top[:, 0], top[:, 1] + top[:, 0])

    return _per_layer(showers, one)


def layer_occupancy(showers: Showers, threshold_gev: float = 0.0) -> np.ndarray:
    """(N, n_layers) fraction of each layer's cells with energy above ``threshold_gev``
    (CaloGAN's per-layer "sparsity level", Fig. 12; the CaloChallenge "sparsity" is one minus
    it)."""
    return _per_layer(showers, lambda e, _: (e > threshold_gev).mean(axis=1))


def sparsity(showers: Showers, threshold_gev: float = 0.0) -> np.ndarray:
    """Deprecated name of :func:`layer_occupancy` (same values: the fraction of cells *above*
    threshold, the opposite of the CaloChallenge sparsity)."""
    warnings.warn(
        "observables.sparsity() is the occupancy (fraction of cells above threshold); call "
        "layer_occupancy(), or 1 - layer_occupancy() for the CaloChallenge sparsity",
        FutureWarning,
        stacklevel=2,
    )
    return layer_occupancy(showers, threshold_gev)


def n_hits(showers: Showers, threshold_gev: float = 0.0) -> np.ndarray:
    """(N,) number of cells with energy above ``threshold_gev`` (ILD study: 0.5 MIP)."""
    n = len(showers)
    counts = np.zeros(n, dtype=np.int64)
    for layer in showers.layers:
        counts += (layer.reshape(n, -1) > threshold_gev).sum(axis=1)
    return counts


def deepest_layer(showers: Showers) -> np.ndarray:
    """(N,) index of the deepest layer with any energy (CaloGAN's d); -1 for empty events."""
    return _deepest(showers.layer_energies())


def _deepest(e_layers: np.ndarray) -> np.ndarray:
    hit = e_layers > 0
    last = hit.shape[1] - 1 - np.argmax(hit[:, ::-1], axis=1)
    return np.where(hit.any(axis=1), last, -1)


def _box_max(image: np.ndarray, size: int = 3) -> np.ndarray:
    """(N,) largest sum over a size x size window (clipped to the image) of (N, rows, cols)."""
    n, rows, cols = image.shape
    wr, wc = min(size, rows), min(size, cols)
    c = np.zeros((n, rows + 1, cols + 1))
    c[:, 1:, 1:] = image.cumsum(axis=1).cumsum(axis=2)
    sums = c[:, wr:, wc:] - c[:, :-wr, wc:] - c[:, wr:, :-wc] + c[:, :-wr, :-wc]
    return sums.reshape(n, -1).max(axis=1)


def _grid_runs(geometry: Geometry) -> list[list[int]]:
    """Layers grouped by identical cell layout (each group projects to one (x, y) image)."""
    groups: dict[str, list[int]] = {}
    for i, layer in enumerate(geometry.layers):
        groups.setdefault(repr(sorted(layer.layout.to_spec().items())), []).append(i)
    return list(groups.values())


def r9(showers: Showers) -> np.ndarray:
    """(N,) largest 3x3-cell sum in the (x, y) projection over the deposited energy
    (Belayneh et al. App. C). Layers with different cell layouts are projected separately and
    the largest window among the projections is used."""
    geometry = showers.geometry
    projections = [(g, geometry.layers[g[0]].shape) for g in _grid_runs(geometry)]
    best = _batched(showers, lambda e: _r9_numerator(e, projections, geometry.layer_offsets))
    return _divide(best, showers.total_energy())


def _r9_numerator(
    e: np.ndarray, projections: list[tuple[list[int], tuple[int, int]]], offsets: np.ndarray
) -> np.ndarray:
    """(n,) largest 3x3 sum over the (x, y) projections of (n, n_cells) energies ``e``."""
    best = np.zeros(len(e))
    for group, shape in projections:
        image = sum(e[:, offsets[i] : offsets[i + 1]] for i in group)
        best = np.maximum(best, _box_max(np.asarray(image).reshape(len(e), *shape)))
    return best


def _third_weights(edges: np.ndarray) -> np.ndarray:
    """(n_layers, 3) share of each layer (interval edges (n_layers, 2)) in each depth third."""
    start, stop = edges[0, 0], edges[-1, 1]
    cuts = start + (stop - start) * np.arange(4) / 3.0
    lo = np.maximum(edges[:, :1], cuts[None, :-1])
    hi = np.minimum(edges[:, 1:], cuts[None, 1:])
    length = np.diff(edges, axis=1)
    return np.clip(hi - lo, 0.0, None) / np.where(length > 0, length, 1.0)


def depth_thirds(showers: Showers, unit: str = "layer") -> np.ndarray:
    """(N, 3) fraction of the energy in the first, second and last third of the depth.

    ``unit="layer"`` splits the layer count in three (Belayneh Fig. 10, ILD Fig. 5; a layer cut
    by a boundary is shared in proportion); ``"x0"`` and ``"mm"`` split the physical depth,
    assuming uniform deposition inside a layer.
    """
    edges = _depth_edges(showers.geometry, unit)
    e = showers.layer_energies()
    return _divide(e @ _third_weights(edges), e.sum(axis=1, keepdims=True))


def _depth_edges(geometry: Geometry, unit: str) -> np.ndarray:
    """(n_layers, 2) front and back of each layer in layer index, X0 or mm."""
    if unit == "layer":
        idx = np.arange(geometry.n_layers, dtype=np.float64)
        return np.stack([idx, idx + 1], axis=1)
    if unit == "x0":
        return geometry.x0_edges
    if unit == "mm":
        return geometry.z_edges_mm
    msg = f"unknown depth unit {unit!r}: expected one of {', '.join(DEPTH_UNITS)}"
    raise ValueError(msg)


def mip_energy_gev(geometry: Geometry) -> np.ndarray:
    """(n_layers,) most probable visible energy of a minimum-ionising particle crossing each
    layer at normal incidence, in GeV (:func:`calogeo.materials.mip_scale`: the Landau-Vavilov
    most probable loss in the layer's active medium, PDG Eq. 34.12)."""
    return np.array(
        [
            mip_scale(layer.material, layer.thickness_mm, layer.sampling_fraction).visible_mev
            * 1e-3
            for layer in geometry.layers
        ]
    )


def shower_start(showers: Showers, threshold_mip: float = 4.0, run: int = 3) -> np.ndarray:
    """(N,) index of the first layer of ``run`` consecutive layers that each hold more than
    ``threshold_mip`` MIP equivalents (:func:`mip_energy_gev`); -1 if there is none.

    A MIP crossing a layer deposits about one MIP; a started shower several in a row. This is
    the CALICE criterion (JINST 6 (2011) P07005) cast in its simplest form.
    """
    return _start(showers.layer_energies(), mip_energy_gev(showers.geometry), threshold_mip, run)


def _start(
    e_layers: np.ndarray, mip_gev: np.ndarray, threshold_mip: float = 4.0, run: int = 3
) -> np.ndarray:
    above = e_layers > threshold_mip * mip_gev
    run = max(1, min(run, above.shape[1]))
    window = np.asarray(np.lib.stride_tricks.sliding_window_view(above, run, axis=1).all(axis=2))
    return np.where(window.any(axis=1), np.argmax(window, axis=1), -1)


# -- the table -----------------------------------------------------------------------------

PER_LAYER = (
    "e_layer",
    "e_frac",
    "x_mean_mm",
    "y_mean_mm",
    "x_width_mm",
    "y_width_mm",
    "e_ratio",
    "occupancy",
)
"""Per-layer observables of :func:`table`, named ``BASE[i]`` for layer index ``i``: energy
(GeV), fraction of the event's energy, centre of energy and width along x and y (mm, from the
shower axis), E_ratio of the two hottest cells, fraction of cells holding energy."""

EMPTY_LAYER = ("zero", "nan")
"""Conventions for the centre, width and E_ratio of a layer without energy (above threshold):
"zero" reports 0, as the CaloChallenge evaluation code does (its features divide by
E + 1e-16), so such events stay in the histograms; "nan" leaves them undefined (dropped)."""

CELL_CENTRES = ("centroid", "reference")
"""Where a cell's energy is placed by every centre, width and moment: "centroid", each cell's
centre of area (the default); "reference", the published convention of the layout's community
where it differs (CaloChallenge r-alpha cells: the bin-midpoint radius at the alpha-bin centre,
as its evaluation code), see :meth:`Geometry.cell_centres_mm`."""

_LEGACY = re.compile(
    r"^(?:(e_layer)(\d+)|(e_frac)_layer(\d+)|([xy])_width_layer(\d+)_mm|(e_ratio)_layer(\d+)"
    r"|(sparsity)_layer(\d+))$"
)
_PER_LAYER_NAME = re.compile(r"^(\w+)\[([^\]]+)\]$")


def layer_column(base: str, index: int) -> str:
    """The :func:`table` column of per-layer observable ``base`` (one of :data:`PER_LAYER`)
    in layer ``index``: ``"e_layer[3]"``."""
    return f"{base}[{index}]"


def resolve_names(names: list[str], geometry: Geometry) -> list[str]:
    """Observable names as given by a user, as :func:`table` columns.

    ``BASE[i]`` names a per-layer observable in layer index ``i``, ``BASE[NAME]`` in the layer
    called NAME (``x_mean_mm[EMB2]``), ``BASE[*]`` in every layer. The names of calogeo < 0.x
    (``e_layer3``, ``e_frac_layer3``, ``x_width_layer3_mm``, ``e_ratio_layer3`` and
    ``sparsity_layer3``, which was the fraction of cells *above* threshold, now
    ``occupancy[3]``) are accepted with a warning. Other names are returned unchanged.
    """
    layer_names = [layer.name for layer in geometry.layers]
    out: list[str] = []
    for name in names:
        legacy = _LEGACY.match(name)
        if legacy:
            groups = [g for g in legacy.groups() if g is not None]
            base, index = groups[0], groups[1]
            base = {"x": "x_width_mm", "y": "y_width_mm", "sparsity": "occupancy"}.get(base, base)
            new = layer_column(base, int(index))
            warnings.warn(f"observable {name!r} is now called {new!r}", FutureWarning, 2)
            name = new
        match = _PER_LAYER_NAME.match(name)
        if not match:
            out.append(name)
            continue
        base, which = match.groups()
        if base not in PER_LAYER:
            msg = f"{name!r}: no per-layer observable {base!r}; known: {', '.join(PER_LAYER)}"
            raise ValueError(msg)
        if which == "*":
            out.extend(layer_column(base, i) for i in range(geometry.n_layers))
        elif which.isdigit() and int(which) < geometry.n_layers:
            out.append(layer_column(base, int(which)))
        elif which in layer_names and layer_names.count(which) == 1:
            out.append(layer_column(base, layer_names.index(which)))
        else:
            msg = (
                f"{name!r}: geometry {geometry.name!r} has no layer {which!r} (layers 0-"
                f"{geometry.n_layers - 1}, or a unique layer name: {', '.join(layer_names[:8])}"
                f"{', ...' if len(layer_names) > 8 else ''})"
            )
            raise ValueError(msg)
    return out


def is_per_layer(name: str) -> bool:
    """Whether ``name`` is a per-layer column (``BASE[i]``)."""
    return _PER_LAYER_NAME.match(name) is not None


def cell_thresholds_gev(geometry: Geometry, threshold_gev: float | np.ndarray = 0.0) -> np.ndarray:
    """(n_layers,) cell threshold in GeV from a scalar or a per-layer array (checked)."""
    thresholds = np.broadcast_to(np.asarray(threshold_gev, dtype=np.float64), geometry.n_layers)
    if not np.all(np.isfinite(thresholds) & (thresholds >= 0)):
        msg = f"cell thresholds must be finite and >= 0 GeV, got {threshold_gev}"
        raise ValueError(msg)
    return thresholds.copy()


@dataclass(frozen=True)
class _Sums:
    """Per-geometry matrices that turn a batch of cell energies into the table's sums."""

    names: dict[str, int]  # column of each coordinate power in ``matrix``
    matrix: np.ndarray  # (n_cells, K)
    layer_xy: list[np.ndarray]  # per layer (cells of layer, 4): x, x^2, y, y^2 in mm
    projections: list[tuple[list[int], tuple[int, int]]]  # r9: layer groups and their shape


@lru_cache(maxsize=16)
def _sums(geometry: Geometry, centres: str = "centroid") -> _Sums:
    frame = _frame(geometry, centres)
    columns: dict[str, np.ndarray] = {"1": np.ones(geometry.n_cells)}
    for axis in AXES:
        units = ("mm", "rm") if axis != "z" else ("mm", "x0", "layer")
        for unit in units:
            c = _coordinate(geometry, axis, unit, centres)
            top = 6 if unit == "mm" else 2
            for k in range(1, top + 1):
                columns[f"{axis}_{unit}^{k}"] = c**k
    columns["r_mm"], columns["r_rm"] = frame.r_mm, frame.r_rm
    columns["within_1rm"] = (frame.r_rm < 1.0).astype(np.float64)
    off = geometry.layer_offsets
    x, y = frame.x["mm"], frame.y["mm"]
    layer_xy = [
        np.stack([x[a:b], x[a:b] ** 2, y[a:b], y[a:b] ** 2], axis=1)
        for a, b in itertools.pairwise(off)
    ]
    projections = [(g, geometry.layers[g[0]].shape) for g in _grid_runs(geometry)]
    return _Sums(
        names={name: k for k, name in enumerate(columns)},
        matrix=np.stack(list(columns.values()), axis=1),
        layer_xy=layer_xy,
        projections=projections,
    )


def _table_batch(
    e: np.ndarray, geometry: Geometry, per_layer: bool, empty_zero: bool, centres: str
) -> dict[str, np.ndarray]:
    """The :func:`table` columns of one (n, n_cells) float64 batch, thresholds applied."""
    sums = _sums(geometry, centres)
    s = e @ sums.matrix
    col = sums.names
    e_tot = s[:, col["1"]]

    def central(axis: str, unit: str, orders: tuple[int, ...]) -> np.ndarray:
        top = max(orders)
        powers = np.stack(
            [e_tot, *(s[:, col[f"{axis}_{unit}^{k}"]] for k in range(1, top + 1))], axis=1
        )
        return _central_moments(powers, orders)

    off = geometry.layer_offsets
    e_layers = np.add.reduceat(e, off[:-1], axis=1) if geometry.n_cells else e[:, :0]
    out: dict[str, np.ndarray] = {"e_total": e_tot}
    if len(geometry.groups) > 1:
        for group in geometry.groups:
            sel = [i for i, ly in enumerate(geometry.layers) if ly.group == group]
            out[f"e_{group.lower()}"] = e_layers[:, sel].sum(axis=1)
    for axis in ("x", "y"):
        for unit in ("mm", "rm"):
            m = central(axis, unit, (1, 2))
            out[f"{axis}_mean_{unit}"] = m[:, 0]
            out[f"{axis}_width_{unit}"] = np.sqrt(np.maximum(m[:, 1], 0.0))
    out["r_mean_mm"] = _divide(s[:, col["r_mm"]], e_tot)
    out["r_mean_rm"] = _divide(s[:, col["r_rm"]], e_tot)
    out["e_frac_within_1rm"] = _divide(s[:, col["within_1rm"]], e_tot)
    for unit in DEPTH_UNITS:
        m = central("z", unit, (1, 2))
        out[f"z_mean_{unit}"] = m[:, 0]
        out[f"z_width_{unit}"] = np.sqrt(np.maximum(m[:, 1], 0.0))
    out["deepest_layer"] = _deepest(e_layers).astype(np.float64)
    start = _start(e_layers, mip_energy_gev(geometry))
    out["shower_start_layer"] = start.astype(np.float64)
    out["shower_start_x0"] = np.where(start >= 0, geometry.x0_edges[start, 0], np.nan)
    hits = e > 0
    out["n_hits"] = hits.sum(axis=1, dtype=np.float64)
    out["occupancy"] = out["n_hits"] / geometry.n_cells
    out["r9"] = _divide(_r9_numerator(e, sums.projections, off), e_tot)
    for unit in ("layer", "x0"):
        thirds = _divide(e_layers @ _third_weights(_depth_edges(geometry, unit)), e_tot[:, None])
        suffix = "" if unit == "layer" else "_x0"
        for k, name in enumerate(("first", "second", "last")):
            out[f"e_frac_{name}_third{suffix}"] = thirds[:, k]
    for axis in AXES:
        m = central(axis, "mm", (2, 3, 4, 5, 6))
        for j, k in enumerate((2, 3, 4, 5, 6)):
            out[f"moment{k}_{axis}_mm"] = m[:, j]
    if per_layer:
        out.update(_per_layer_batch(e, e_layers, hits, geometry, empty_zero, centres))
    return out


def _per_layer_batch(
    e: np.ndarray,
    e_layers: np.ndarray,
    hits: np.ndarray,
    geometry: Geometry,
    empty_zero: bool,
    centres: str,
) -> dict[str, np.ndarray]:
    """Per-layer columns (:data:`PER_LAYER`) of one thresholded batch."""
    off = geometry.layer_offsets
    fractions = _divide(e_layers, e_layers.sum(axis=1, keepdims=True))
    occupancy = np.add.reduceat(hits, off[:-1], axis=1) / np.diff(off)
    undefined = 0.0 if empty_zero else np.nan
    columns: dict[str, list[np.ndarray]] = {base: [] for base in PER_LAYER}
    for i, xy in enumerate(_sums(geometry, centres).layer_xy):
        cells = e[:, off[i] : off[i + 1]]
        el = e_layers[:, i]
        s = cells @ xy
        empty = el == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s[:, [0, 2]] / el[:, None]
            var = s[:, [1, 3]] / el[:, None] - mean**2
        width = np.sqrt(np.maximum(var, 0.0))
        if cells.shape[1] >= 2:
            top = np.partition(cells, cells.shape[1] - 2, axis=1)[:, -2:]
            ratio = _divide(top[:, 1] - top[:, 0], top[:, 1] + top[:, 0])
        else:
            ratio = np.full(len(e), np.nan)
        for base, value in (
            ("x_mean_mm", mean[:, 0]),
            ("y_mean_mm", mean[:, 1]),
            ("x_width_mm", width[:, 0]),
            ("y_width_mm", width[:, 1]),
            ("e_ratio", ratio),
        ):
            columns[base].append(np.where(empty, undefined, value))
        columns["e_layer"].append(el)
        columns["e_frac"].append(fractions[:, i])
        columns["occupancy"].append(occupancy[:, i])
    return {
        layer_column(base, i): values[i]
        for i in range(geometry.n_layers)
        for base, values in columns.items()
    }


def table(
    showers: Showers,
    *,
    per_layer: bool | None = None,
    threshold_gev: float | np.ndarray = 0.0,
    empty_layer: str = "zero",
    cell_centres: str = "centroid",
    fill_value: float = np.nan,
) -> dict[str, np.ndarray]:
    """Named per-event observables, float64 (N,) each, in a fixed order.

    ``threshold_gev`` (a scalar or one value per layer, GeV of the stored energy) is a cell
    threshold: cells below it are set to zero before any observable is computed, as the
    CaloChallenge evaluation does; ``n_hits`` and ``occupancy`` count the cells left with
    energy. ``per_layer`` adds the :data:`PER_LAYER` observables of every layer, named
    ``BASE[i]`` (default: only for geometries with at most 8 layers, as CaloGAN's 3);
    ``empty_layer`` is the convention of :data:`EMPTY_LAYER` for the centre, width and
    E_ratio of a layer without energy; ``cell_centres`` where a cell's energy is placed
    (:data:`CELL_CENTRES`); other undefined values (the centre of an empty event) become
    ``fill_value``.
    """
    geometry = showers.geometry
    if empty_layer not in EMPTY_LAYER:
        msg = f"empty_layer must be one of {', '.join(EMPTY_LAYER)}, got {empty_layer!r}"
        raise ValueError(msg)
    if cell_centres not in CELL_CENTRES:
        msg = f"cell_centres must be one of {', '.join(CELL_CENTRES)}, got {cell_centres!r}"
        raise ValueError(msg)
    if per_layer is None:
        per_layer = geometry.n_layers <= 8
    cut = _zero_below(geometry, threshold_gev)

    def one(e: np.ndarray) -> dict[str, np.ndarray]:
        return _table_batch(cut(e), geometry, per_layer, empty_layer == "zero", cell_centres)

    parts = [one(e) for e in _flat_batches(showers)]
    out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out = {
        "e_total": out["e_total"],
        "e_total_over_incident": _divide(
            out["e_total"], showers.incident_energy.astype(np.float64)
        ),
        **out,
    }
    if not np.isnan(fill_value):
        out = {k: np.where(np.isfinite(v), v, fill_value) for k, v in out.items()}
    return out


_TABLES: weakref.WeakKeyDictionary[Showers, dict[tuple[object, ...], dict[str, np.ndarray]]] = (
    weakref.WeakKeyDictionary()
)


def cached_table(
    showers: Showers,
    *,
    per_layer: bool | None = None,
    threshold_gev: float | np.ndarray = 0.0,
    empty_layer: str = "zero",
    cell_centres: str = "centroid",
) -> dict[str, np.ndarray]:
    """:func:`table` of ``showers``, computed once per batch of showers and options (the
    metrics and plots of one evaluation share it; the cache lives as long as the showers)."""
    thresholds = cell_thresholds_gev(showers.geometry, threshold_gev)
    key = (per_layer, thresholds.tobytes(), empty_layer, cell_centres)
    cache = _TABLES.setdefault(showers, {})
    if key not in cache:
        cache[key] = table(
            showers,
            per_layer=per_layer,
            threshold_gev=thresholds,
            empty_layer=empty_layer,
            cell_centres=cell_centres,
        )
    return cache[key]


UNITS: dict[str, str] = {
    "e_total": "GeV",
    "r_mean_mm": "mm",
    "r_mean_rm": "R_M",
    "shower_start_x0": "X0",
}


def unit_of(name: str) -> str:
    """The unit of a :func:`table` column, for axis labels ("" if dimensionless)."""
    match = _PER_LAYER_NAME.match(name)
    if match:
        name = match.group(1)
    if name in UNITS:
        return UNITS[name]
    if name.startswith("e_") and not name.startswith(("e_frac", "e_ratio", "e_total_")):
        return "GeV"
    for suffix, unit in (("_mm", "mm"), ("_rm", "R_M"), ("_x0", "X0"), ("_layer", "layer")):
        if name.endswith(suffix):
            if name.startswith("moment"):
                return f"mm^{name[6]}"
            return unit
    if name in ("deepest_layer", "shower_start_layer"):
        return "layer"
    return ""
