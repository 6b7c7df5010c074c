"""Shower observables: pure, vectorised functions of :class:`~calogeo.Showers` and its geometry.

Every function takes a batch of showers and returns one value per event (``(N,)``) or one per
event and layer (``(N, n_layers)``), accumulated in float64. Undefined values (the width of an
empty layer, the centre of an empty event) are NaN.

Transverse coordinates are measured from the shower axis, i.e. from the geometry's
``anchor_mm``, in mm or in Moliere radii of each layer's material ("rm"); depth is measured from
the calorimeter front in mm, in cumulative radiation lengths ("x0") or in layer index ("layer",
the unit of CaloGAN's Table IV). :func:`table` collects the scalar observables under fixed
names; it is the feature vector of the BDT baselines and the input of the fidelity metrics.

Sources of the definitions:

- layer energies and fractions, E_ratio, deepest layer, shower depth s_d and its width,
  lateral width per layer, sparsity: Paganini et al., CaloGAN, PRD 97 (2018) 014021, Table IV
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

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from calogeo.geometry import Geometry
from calogeo.showers import Showers

__all__ = [
    "AXES",
    "DEPTH_UNITS",
    "TRANSVERSE_UNITS",
    "centroid",
    "deepest_layer",
    "depth_thirds",
    "e_ratio",
    "layer_centroids",
    "layer_energies",
    "layer_fractions",
    "layer_widths",
    "longitudinal_profile",
    "mip_energy_gev",
    "moments",
    "n_hits",
    "r9",
    "radial_profile",
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
def _frame(geometry: Geometry) -> _Frame:
    ax, ay = geometry.anchor_mm
    xs, ys, layer_of, rms = [], [], [], []
    col_idx, row_idx = [], []
    for i, layer in enumerate(geometry.layers):
        xy = layer.layout.centres_mm()
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


def _coordinate(geometry: Geometry, axis: str, unit: str) -> np.ndarray:
    """(n_cells,) coordinate of every cell along ``axis`` in ``unit``."""
    if axis not in AXES:
        msg = f"unknown axis {axis!r}: expected one of {', '.join(AXES)}"
        raise ValueError(msg)
    table = getattr(_frame(geometry), axis)
    if unit not in table:
        msg = f"axis {axis!r} has no unit {unit!r}: expected one of {', '.join(table)}"
        raise ValueError(msg)
    return table[unit]


def _batched(showers: Showers, func: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``func`` to float64 (n, n_cells) blocks of the events and join the results."""
    size = max(1, MAX_BATCH_VALUES // max(1, showers.geometry.n_cells))
    parts = [func(batch.flat().astype(np.float64)) for batch in showers.batches(size)]
    if not parts:
        return func(np.zeros((0, showers.geometry.n_cells)))
    return np.concatenate(parts)


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
    edges = np.asarray(edges, dtype=np.float64)
    ring = np.searchsorted(edges, r, side="right") - 1
    onehot = np.zeros((len(r), len(edges) - 1))
    inside = (ring >= 0) & (ring < len(edges) - 1)
    onehot[np.flatnonzero(inside), ring[inside]] = 1.0
    return _batched(showers, lambda e: e @ onehot)


# -- centres, widths and moments ---------------------------------------------------------------


def _weighted_moments(e: np.ndarray, c: np.ndarray, orders: tuple[int, ...]) -> np.ndarray:
    """(n, len(orders)) energy-weighted moments of coordinate ``c``: order 1 is the mean,
    higher orders are central moments sum E (c - mean)^k / sum E.

    Central moments come from the raw power sums S_j = E @ c^j by the binomial expansion, one
    matrix-vector product per power (float64; coordinates are axis-centred, so cancellation
    stays far below the moments' own statistical precision).
    """
    top = max(orders)
    sums = np.stack([e @ c**j for j in range(top + 1)], axis=1)  # (n, top + 1)
    raw = _divide(sums, sums[:, :1])  # raw moments <c^j>
    mean = raw[:, 1]
    out = np.empty((len(e), len(orders)))
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


def sparsity(showers: Showers, threshold_gev: float = 0.0) -> np.ndarray:
    """(N, n_layers) fraction of each layer's cells with energy above ``threshold_gev``
    (CaloGAN's per-layer sparsity level, Fig. 12)."""
    return _per_layer(showers, lambda e, _: (e > threshold_gev).mean(axis=1))


def n_hits(showers: Showers, threshold_gev: float = 0.0) -> np.ndarray:
    """(N,) number of cells with energy above ``threshold_gev`` (ILD study: 0.5 MIP)."""
    n = len(showers)
    counts = np.zeros(n, dtype=np.int64)
    for layer in showers.layers:
        counts += (layer.reshape(n, -1) > threshold_gev).sum(axis=1)
    return counts


def deepest_layer(showers: Showers) -> np.ndarray:
    """(N,) index of the deepest layer with any energy (CaloGAN's d); -1 for empty events."""
    hit = showers.layer_energies() > 0
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
    n = len(showers)
    best = np.zeros(n)
    for group in _grid_runs(showers.geometry):
        image = sum(showers.layers[i].astype(np.float64) for i in group)
        best = np.maximum(
            best, _box_max(np.asarray(image).reshape(n, *showers.layers[group[0]].shape[1:]))
        )
    return _divide(best, showers.total_energy())


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
    geometry = showers.geometry
    if unit == "layer":
        idx = np.arange(geometry.n_layers, dtype=np.float64)
        edges = np.stack([idx, idx + 1], axis=1)
    elif unit == "x0":
        edges = geometry.x0_edges
    elif unit == "mm":
        edges = geometry.z_edges_mm
    else:
        msg = f"unknown depth unit {unit!r}: expected one of {', '.join(DEPTH_UNITS)}"
        raise ValueError(msg)
    e = showers.layer_energies()
    return _divide(e @ _third_weights(edges), e.sum(axis=1, keepdims=True))


def mip_energy_gev(geometry: Geometry) -> np.ndarray:
    """(n_layers,) visible energy of a minimum-ionising particle crossing each layer at normal
    incidence, in GeV: dE/dx_min x thickness x sampling fraction (1 if homogeneous)."""
    return np.array(
        [
            layer.material.mip_mev_per_mm
            * layer.thickness_mm
            * (1.0 if layer.sampling_fraction is None else layer.sampling_fraction)
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
    above = showers.layer_energies() > threshold_mip * mip_energy_gev(showers.geometry)
    run = max(1, min(run, above.shape[1]))
    window = np.asarray(np.lib.stride_tricks.sliding_window_view(above, run, axis=1).all(axis=2))
    return np.where(window.any(axis=1), np.argmax(window, axis=1), -1)


# -- the table -----------------------------------------------------------------------------


def table(
    showers: Showers,
    *,
    per_layer: bool | None = None,
    threshold_gev: float = 0.0,
    fill_value: float = np.nan,
) -> dict[str, np.ndarray]:
    """Named per-event observables, float64 (N,) each, in a fixed order.

    ``per_layer`` adds energy, fraction, widths, E_ratio and sparsity of every layer (default:
    only for geometries with at most 8 layers, as CaloGAN's 3); ``threshold_gev`` is the hit
    threshold of the hit count and sparsity; undefined values become ``fill_value``.
    """
    geometry = showers.geometry
    if per_layer is None:
        per_layer = geometry.n_layers <= 8
    e_layers = showers.layer_energies()
    e_tot = e_layers.sum(axis=1)
    out: dict[str, np.ndarray] = {
        "e_total": e_tot,
        "e_total_over_incident": _divide(e_tot, showers.incident_energy.astype(np.float64)),
    }
    if len(geometry.groups) > 1:
        for group in geometry.groups:
            sel = [i for i, ly in enumerate(geometry.layers) if ly.group == group]
            out[f"e_{group.lower()}"] = e_layers[:, sel].sum(axis=1)
    for axis in ("x", "y"):
        for unit in ("mm", "rm"):
            out[f"{axis}_mean_{unit}"] = centroid(showers, axis, unit)
            out[f"{axis}_width_{unit}"] = width(showers, axis, unit)
    frame = _frame(geometry)
    out["r_mean_mm"] = _batched(showers, lambda e: _divide(e @ frame.r_mm, e.sum(axis=1)))
    out["r_mean_rm"] = _batched(showers, lambda e: _divide(e @ frame.r_rm, e.sum(axis=1)))
    out["e_frac_within_1rm"] = _divide(
        radial_profile(showers, np.array([0.0, 1.0]), "rm")[:, 0], e_tot
    )
    for unit in ("mm", "x0", "layer"):
        out[f"z_mean_{unit}"] = centroid(showers, "z", unit)
        out[f"z_width_{unit}"] = width(showers, "z", unit)
    out["deepest_layer"] = deepest_layer(showers).astype(np.float64)
    start = shower_start(showers)
    out["shower_start_layer"] = start.astype(np.float64)
    out["shower_start_x0"] = np.where(start >= 0, geometry.x0_edges[start, 0], np.nan)
    out["n_hits"] = n_hits(showers, threshold_gev).astype(np.float64)
    out["occupancy"] = out["n_hits"] / geometry.n_cells
    out["r9"] = r9(showers)
    for unit in ("layer", "x0"):
        thirds = depth_thirds(showers, unit)
        suffix = "" if unit == "layer" else "_x0"
        for k, name in enumerate(("first", "second", "last")):
            out[f"e_frac_{name}_third{suffix}"] = thirds[:, k]
    for axis in AXES:
        m = moments(showers, axis, (2, 3, 4, 5, 6), "mm")
        for j, k in enumerate((2, 3, 4, 5, 6)):
            out[f"moment{k}_{axis}_mm"] = m[:, j]
    if per_layer:
        fractions = layer_fractions(showers)
        wx, wy = layer_widths(showers, "x", "mm"), layer_widths(showers, "y", "mm")
        ratio, sparse = e_ratio(showers), sparsity(showers, threshold_gev)
        for i in range(geometry.n_layers):
            out[f"e_layer{i}"] = e_layers[:, i]
            out[f"e_frac_layer{i}"] = fractions[:, i]
            out[f"x_width_layer{i}_mm"] = wx[:, i]
            out[f"y_width_layer{i}_mm"] = wy[:, i]
            out[f"e_ratio_layer{i}"] = ratio[:, i]
            out[f"sparsity_layer{i}"] = sparse[:, i]
    if not np.isnan(fill_value):
        out = {k: np.where(np.isfinite(v), v, fill_value) for k, v in out.items()}
    return out


UNITS: dict[str, str] = {
    "e_total": "GeV",
    "r_mean_mm": "mm",
    "r_mean_rm": "R_M",
    "shower_start_x0": "X0",
}


def unit_of(name: str) -> str:
    """The unit of a :func:`table` column, for axis labels ("" if dimensionless)."""
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
