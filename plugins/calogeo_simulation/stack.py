"""A geometry seen by the simulator: longitudinal steps, media, and what the kernel eats.

Showers cross layers of different media, so the longitudinal profile is integrated in
cumulative radiation (or interaction) lengths along the axis over short steps (each layer is
cut into steps of at most ``max_step_x0`` X0 and ``max_step_lambda`` lambda_I); the radial
profile is applied in Moliere radii of the step's own material.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from calogeo import STANDARD_MATERIALS, Geometry, Layer, RectilinearLayout
from calogeo.materials import amaldi_stochastic_term

from .em import Medium

__all__ = [
    "Deposits",
    "SamplingStructure",
    "Stack",
    "allocate_spots",
    "build_stack",
    "gamma_fractions",
    "medium_of",
    "sampling_structure",
    "stochastic_terms",
]


def _slice_z(name: str, materials_spec: dict[str, Any]) -> float | None:
    """Mass-weighted Z of a slice material named in a spec (standard or mass fractions)."""
    if name in STANDARD_MATERIALS:
        return STANDARD_MATERIALS[name].z
    fractions = materials_spec.get(name, {}).get("mass_fractions")
    if not isinstance(fractions, dict) or not all(k in STANDARD_MATERIALS for k in fractions):
        return None
    total = sum(fractions.values())
    return sum(STANDARD_MATERIALS[k].z * w for k, w in fractions.items()) / total


@dataclass(frozen=True)
class SamplingStructure:
    """One period of a sampling layer as its spec gives it (slices of the layer's material):
    thickness and active thickness in mm, Z of the active and of the densest (passive) slice."""

    period_mm: float
    active_mm: float
    z_active: float | None
    z_passive: float | None


def sampling_structure(geometry: Geometry, layer: Layer) -> SamplingStructure | None:
    """The period of ``layer`` if its spec defines the material by slices and names the active
    one (``active``); None for homogeneous layers and materials without slices."""
    if layer.sampling_fraction is None or not geometry.spec:
        return None
    materials_spec = geometry.spec.get("materials", {})
    name = layer.material.name
    slices = materials_spec.get(name, {}).get("slices")
    tables = [t for entry in geometry.spec.get("layers", []) for t in entry.get("block", [entry])]
    active = next(
        (t["active"] for t in tables if t.get("material") == name and "active" in t), None
    )
    if not isinstance(slices, list) or not slices or active is None:
        return None
    passive = max(
        slices, key=lambda s: s[1] * getattr(STANDARD_MATERIALS.get(s[0]), "density_g_cm3", 10.0)
    )[0]
    return SamplingStructure(
        period_mm=float(sum(t for _, t in slices)),
        active_mm=float(sum(t for n, t in slices if n == active)),
        z_active=_slice_z(str(active), materials_spec),
        z_passive=_slice_z(str(passive), materials_spec),
    )


def medium_of(geometry: Geometry, layer: Layer) -> Medium:
    """The GFlash medium of ``layer``: homogeneous, or sampling with F_S and e/mip.

    F_S = X0_eff / period and e/mip = 1 / (1 + 0.007 (Z_passive - Z_active))
    (Grindhammer-Peters Sect. 3) from the spec's period (:func:`sampling_structure`); without
    one the layer counts as one period and e/mip = 1.
    """
    material = layer.material
    ec_gev = material.ec_mev / 1000.0
    if layer.sampling_fraction is None:
        return Medium(z=material.z, ec_gev=ec_gev)
    structure = sampling_structure(geometry, layer)
    if structure is None:
        return Medium(z=material.z, ec_gev=ec_gev, f_s=material.x0_mm / layer.thickness_mm)
    e_mip = 1.0
    if structure.z_active is not None and structure.z_passive is not None:
        e_mip = 1.0 / (1.0 + 0.007 * (structure.z_passive - structure.z_active))
    return Medium(
        z=material.z, ec_gev=ec_gev, f_s=material.x0_mm / structure.period_mm, e_mip=e_mip
    )


def stochastic_terms(geometry: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-layer stochastic terms (sigma/E = a/sqrt(E/GeV)) for EM showers and for pions, and
    which layers' pion term is a stated hadron term.

    A spec's ``stochastic_term`` describes the calorimeter the particles enter (its first
    group): an EM term for an ECAL, a pion term for an HCAL (as the detector specs state them).
    Layers it does not describe get the Amaldi estimate for EM showers when the spec gives their
    period (else none), and pions there see the EM term (no extra intrinsic term). A stated
    hadron term is the resolution of the *calibrated* pion energy, so the simulator scales its
    variance by the pion response (see :func:`~.hadronic.mean_response`).
    """
    first = geometry.groups[0]
    stated = geometry.stochastic_term
    em_terms, pion_terms, hadron_flags = [], [], []
    for layer in geometry.layers:
        structure = sampling_structure(geometry, layer)
        estimate = 0.0
        if structure is not None and layer.sampling_fraction:
            estimate = amaldi_stochastic_term(structure.active_mm, layer.sampling_fraction)
        described = stated is not None and layer.group == first
        hadron_stated = described and first == "HCAL"
        em_terms.append(stated if described and not hadron_stated else estimate)
        pion_terms.append(stated if hadron_stated else em_terms[-1])
        hadron_flags.append(hadron_stated)
    return (
        np.asarray(em_terms, dtype=np.float64),
        np.asarray(pion_terms, dtype=np.float64),
        np.asarray(hadron_flags, dtype=np.bool_),
    )


_NO_EDGES = np.zeros(2)  # placeholder edges of a non-rectilinear layer (never searched)


@dataclass(frozen=True)
class Stack:
    """Per-step arrays (S,) of a geometry and per-layer binning tables for the kernel."""

    layer: np.ndarray
    x0_edges: np.ndarray  # (S, 2) cumulative X0 at the front and back of each step
    z_edges_mm: np.ndarray  # (S, 2) depth in mm of the front and back of each step
    lambda_edges: np.ndarray  # (S, 2) cumulative lambda_I
    z_mid_mm: np.ndarray
    length_mm: np.ndarray
    rm_mm: np.ndarray
    lambda_mm: np.ndarray
    mip_gev_per_mm: np.ndarray
    medium: np.ndarray  # index into ``media``
    media: tuple[Medium, ...]
    media_em_term: tuple[float, ...]  # EM stochastic term of each medium (sets spot counts)
    rectilinear: np.ndarray  # (L,) bool
    x_edges: np.ndarray
    x_edge_offset: np.ndarray
    y_edges: np.ndarray
    y_edge_offset: np.ndarray
    cell_sampling_fraction: np.ndarray  # (n_cells,) float32, 1 for homogeneous layers
    cell_em_term: np.ndarray  # (n_cells,) stochastic term for EM showers
    cell_pion_term: np.ndarray  # (n_cells,) stochastic term for charged pions
    cell_hadron_stated: np.ndarray  # (n_cells,) bool: the pion term is a stated hadron term

    @property
    def n_steps(self) -> int:
        """Number of longitudinal steps."""
        return len(self.layer)

    def depth_mm(self, x0_depth: np.ndarray) -> np.ndarray:
        """Depth in mm (from the front, along the window axis) at cumulative ``x0_depth``;
        NaN beyond the stack."""
        z = np.interp(x0_depth, self.x0_edges.ravel(), self.z_edges_mm.ravel())
        return np.where(x0_depth < self.x0_edges[-1, 1], z, np.nan)

    def medium_at(self, x0_depth: np.ndarray) -> np.ndarray:
        """Index of the medium at cumulative depth ``x0_depth`` (X0 from the front)."""
        step = np.searchsorted(self.x0_edges[:, 1], x0_depth, side="right")
        return self.medium[np.clip(step, 0, self.n_steps - 1)]


def build_stack(
    geometry: Geometry, max_step_x0: float = 0.5, max_step_lambda: float = 0.1
) -> Stack:
    """Cut every layer of ``geometry`` into steps and collect the kernel's binning tables."""
    layer_of, x0e, lae, ze, length, media_index = [], [], [], [], [], []
    media: list[Medium] = []
    media_terms: list[float] = []
    em_terms, pion_terms, hadron_stated = stochastic_terms(geometry)
    for i, layer in enumerate(geometry.layers):
        n = max(
            1,
            int(np.ceil(layer.depth_x0 / max_step_x0 - 1e-9)),
            int(np.ceil(layer.depth_lambda / max_step_lambda - 1e-9)),
        )
        cuts = np.linspace(0.0, 1.0, n + 1)
        x0a, x0b = geometry.x0_edges[i]
        la, lb = geometry.lambda_edges[i]
        medium = medium_of(geometry, layer)
        if medium not in media:
            media.append(medium)
            media_terms.append(float(em_terms[i]))
        layer_of += [i] * n
        x0e.append(np.stack([x0a + (x0b - x0a) * cuts[:-1], x0a + (x0b - x0a) * cuts[1:]], 1))
        lae.append(np.stack([la + (lb - la) * cuts[:-1], la + (lb - la) * cuts[1:]], 1))
        z = layer.z_front_mm + layer.thickness_mm * cuts
        ze.append(np.stack([z[:-1], z[1:]], 1))
        length += [layer.thickness_mm / n] * n
        media_index += [media.index(medium)] * n
    layers = np.asarray(layer_of, dtype=np.int64)
    material = [geometry.layers[i].material for i in layers]
    rect = [ly.layout.is_rectilinear for ly in geometry.layers]
    layouts = [ly.layout for ly in geometry.layers]
    xs = [lo.x_edges_mm if isinstance(lo, RectilinearLayout) else _NO_EDGES for lo in layouts]
    ys = [lo.y_edges_mm if isinstance(lo, RectilinearLayout) else _NO_EDGES for lo in layouts]
    sampling = [
        np.full(ly.n_cells, ly.sampling_fraction or 1.0, dtype=np.float32) for ly in geometry.layers
    ]
    cells_per_layer = [ly.n_cells for ly in geometry.layers]
    return Stack(
        layer=layers,
        x0_edges=np.concatenate(x0e),
        lambda_edges=np.concatenate(lae),
        z_edges_mm=np.concatenate(ze),
        z_mid_mm=np.concatenate(ze).mean(axis=1),
        length_mm=np.asarray(length),
        rm_mm=np.array([m.rm_mm for m in material]),
        lambda_mm=np.array([m.lambda_i_mm for m in material]),
        mip_gev_per_mm=np.array([m.mip_mev_per_mm / 1000.0 for m in material]),
        medium=np.asarray(media_index, dtype=np.int64),
        media=tuple(media),
        media_em_term=tuple(media_terms),
        rectilinear=np.asarray(rect, dtype=np.bool_),
        x_edges=np.concatenate(xs),
        x_edge_offset=np.concatenate([[0], np.cumsum([len(x) for x in xs])]).astype(np.int64),
        y_edges=np.concatenate(ys),
        y_edge_offset=np.concatenate([[0], np.cumsum([len(y) for y in ys])]).astype(np.int64),
        cell_sampling_fraction=np.concatenate(sampling),
        cell_em_term=np.repeat(em_terms, cells_per_layer),
        cell_pion_term=np.repeat(pion_terms, cells_per_layer),
        cell_hadron_stated=np.repeat(hadron_stated, cells_per_layer),
    )


def gamma_fractions(
    shape: np.ndarray, rate: np.ndarray, front: np.ndarray, back: np.ndarray
) -> np.ndarray:
    """Fraction of a gamma-distributed profile (shape, rate per unit depth, both (M,)) between
    ``front`` and ``back`` (M, S) depths measured from the profile's start (negative: before)."""
    from scipy.special import gammainc  # imported here: loading the plugin stays fast

    a, b = shape[:, None], rate[:, None]
    return gammainc(a, b * np.maximum(back, 0.0)) - gammainc(a, b * np.maximum(front, 0.0))


def allocate_spots(
    energy_gev: np.ndarray,
    energy_fraction: np.ndarray,
    spot_fraction: np.ndarray,
    n_total: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Spots per step (stochastic rounding of n_total x spot fraction, at least one where energy
    falls) and the energy of each spot (GeV), so that each step's energy is kept exactly."""
    step_energy = energy_gev[:, None] * energy_fraction
    expected = n_total[:, None] * spot_fraction
    n_spots = np.floor(expected + rng.random(expected.shape)).astype(np.int64)
    n_spots = np.where(step_energy > 0.0, np.maximum(n_spots, 1), 0)
    e_spot = np.where(n_spots > 0, step_energy / np.maximum(n_spots, 1), 0.0)
    return n_spots, e_spot


@dataclass
class Deposits:
    """Sub-showers reduced to what :func:`~.kernels.deposit_spots` needs.

    Per sub-shower (M,): ``event`` (row in the batch), ``stretch`` = 1/cos(theta), cos and sin
    of the azimuth, ``leak_gev`` (energy leaving the stack behind) and ``start_mm`` (depth
    where it starts, NaN for a track or beyond the stack); per (M, S): the axis
    position (mm), spot count, spot energy (GeV) and radial profile (mm).
    """

    event: np.ndarray
    stretch: np.ndarray
    cos_phi: np.ndarray
    sin_phi: np.ndarray
    leak_gev: np.ndarray
    start_mm: np.ndarray
    axis_x: np.ndarray
    axis_y: np.ndarray
    n_spots: np.ndarray
    e_spot: np.ndarray
    r_core_mm: np.ndarray
    r_tail_mm: np.ndarray
    p_core: np.ndarray

    @classmethod
    def concatenate(cls, parts: list[Deposits]) -> Deposits:
        """Join sub-shower sets along the shower axis."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    @property
    def energy_gev(self) -> np.ndarray:
        """(M,) energy each sub-shower puts into spots."""
        return (self.n_spots * self.e_spot).sum(axis=1)
