"""Materials as effective media: radiation length, Moliere radius, interaction length, MIPs.

Lengths are stored per unit mass (g/cm2) so that mixtures follow the PDG rules; the ``*_mm``
properties divide by the density. Sources: PDG, "Atomic and nuclear properties of materials"
(pdg.lbl.gov/AtomicNuclearProperties, the 2020 edition for the element table in
:mod:`calogeo._pdg_elements`) and PDG Review of Particle Physics (R.L. Workman et al., PTEP 2022
083C01), chapter 34 "Passage of particles through matter" (Eq. numbers below are that edition's).

Every element Z = 1-92 is known by its symbol (``STANDARD_MATERIALS["Cr"]``), next to common
compounds and alloys (:func:`material_sources` says where each comes from). Elements without a
tabulated value get X0 from Tsai's formula (Eq. 34.26), E_c from the PDG fits (Fig. 34.13),
lambda_I interpolated between PDG values in A, and the minimum dE/dx from the Bethe equation
(Eq. 34.5) with the Sternheimer density effect (Eq. 34.7) for muons.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache

from calogeo import _pdg_elements as pdg

__all__ = [
    "AMALDI_COEFFICIENT",
    "E_S_MEV",
    "STANDARD_MATERIALS",
    "Material",
    "MipScale",
    "amaldi_stochastic_term",
    "bethe_dedx_mev_cm2_g",
    "element",
    "landau_mpv_mev",
    "layered",
    "material_sources",
    "minimum_ionisation",
    "mip_scale",
    "mixture",
    "tsai_x0_g_cm2",
]

E_S_MEV = 21.2052
"""Scale energy E_s = m_e c^2 sqrt(4 pi / alpha) in MeV (PDG Eq. 34.37), R_M = X0 E_s / E_c."""

K_MEV_CM2_MOL = 0.307075
"""K = 4 pi N_A r_e^2 m_e c^2 in MeV cm2/mol (PDG Table 34.1)."""
ME_MEV = 0.51099895
"""Electron mass in MeV (PDG 2022)."""
MMU_MEV = 105.6583755
"""Muon mass in MeV (PDG 2022): the minimum-ionising particle of the dE/dx tables."""
TSAI_G_CM2 = 716.408
"""A / X0 prefactor of Tsai's radiation length, (4 alpha r_e^2 N_A)^-1 in g/cm2 (Eq. 34.26)."""
LANDAU_J = 0.200
"""j of the Landau-Vavilov most probable energy loss (PDG Eq. 34.12, Bichsel)."""
ALPHA = 1.0 / 137.035999084
"""Fine-structure constant (PDG 2022)."""
_TSAI_LIGHT = {1: (5.31, 6.144), 2: (4.79, 5.621), 3: (4.74, 5.805), 4: (4.71, 5.924)}
"""L_rad and L'_rad for Z = 1-4 (PDG Table 34.2); heavier: ln(184.15 Z^-1/3), ln(1194 Z^-2/3)."""


@dataclass(frozen=True)
class Material:
    """An effective medium.

    Attributes are per unit mass where the PDG tabulates them so: ``x0_g_cm2`` (radiation
    length), ``lambda_i_g_cm2`` (nuclear interaction length), ``ec_mev`` (critical energy for
    electrons, MeV), ``density_g_cm3``, ``z`` (mass-weighted atomic number, as GFlash uses it) and
    ``dedx_min_mev_cm2_g`` (minimum ionisation, for MIP sampling fractions). For energy-loss
    fluctuations (the MIP's most probable deposit): ``z_over_a`` (<Z/A>, mol/g), ``i_ev``
    (mean excitation energy, eV) and ``density_effect`` (Sternheimer Cbar, x0, x1, a, k,
    delta0; empty: the Sternheimer-Peierls general formula is used). A sampling structure
    (:func:`layered`) keeps its ``slices`` (material, mm) and, once a layer names it, its
    ``active`` slice.
    """

    name: str
    density_g_cm3: float
    x0_g_cm2: float
    lambda_i_g_cm2: float
    ec_mev: float
    z: float
    dedx_min_mev_cm2_g: float
    source: str = ""
    z_over_a: float = 0.0
    i_ev: float = 0.0
    density_effect: tuple[float, ...] = ()
    slices: tuple[tuple[Material, float], ...] = ()
    active: str | None = None

    @property
    def x0_mm(self) -> float:
        """Radiation length in mm."""
        return 10.0 * self.x0_g_cm2 / self.density_g_cm3

    @property
    def lambda_i_mm(self) -> float:
        """Nuclear interaction length in mm."""
        return 10.0 * self.lambda_i_g_cm2 / self.density_g_cm3

    @property
    def rm_mm(self) -> float:
        """Moliere radius in mm, R_M = X0 E_s / E_c."""
        return self.x0_mm * E_S_MEV / self.ec_mev

    @property
    def mip_mev_per_mm(self) -> float:
        """Mean energy a minimum-ionising particle loses per mm (MeV/mm)."""
        return 0.1 * self.dedx_min_mev_cm2_g * self.density_g_cm3

    @property
    def period_mm(self) -> float:
        """Thickness of one period of a sampling structure (0 if not one)."""
        return sum(t for _, t in self.slices)

    def with_active(self, slice_name: str) -> Material:
        """This sampling structure with ``slice_name`` as its read-out medium."""
        if slice_name not in {m.name for m, _ in self.slices}:
            msg = f"{slice_name!r} is not a slice of {self.name!r}"
            raise ValueError(msg)
        return replace(self, active=slice_name)

    @classmethod
    def from_lengths(
        cls,
        name: str,
        *,
        x0_mm: float,
        rm_mm: float,
        lambda_i_mm: float,
        density_g_cm3: float,
        z: float,
        dedx_min_mev_cm2_g: float,
        source: str = "",
    ) -> Material:
        """Build a material from lengths in mm (e.g. a paper's quoted X0 and R_M)."""
        x0_g_cm2 = x0_mm / 10.0 * density_g_cm3
        return cls(
            name=name,
            density_g_cm3=density_g_cm3,
            x0_g_cm2=x0_g_cm2,
            lambda_i_g_cm2=lambda_i_mm / 10.0 * density_g_cm3,
            ec_mev=x0_mm * E_S_MEV / rm_mm,
            z=z,
            dedx_min_mev_cm2_g=dedx_min_mev_cm2_g,
            source=source,
        )


def mixture(
    name: str, mass_fractions: Mapping[Material, float], density_g_cm3: float, source: str = ""
) -> Material:
    """Homogeneous mixture by mass fraction (PDG mixture rule).

    1/X0 = sum w_j / X0_j and 1/R_M = (1/E_s) sum w_j E_c,j / X0_j, lengths in g/cm2; the
    interaction length and dE/dx combine the same way as X0 and as a plain average; <Z/A> as a
    plain average and ln I = sum w_j (Z/A)_j ln I_j / <Z/A> (Bragg additivity, PDG Eq. 34.8
    context), when every component has them.
    """
    total = sum(mass_fractions.values())
    weights = {m: w / total for m, w in mass_fractions.items()}
    inv_x0 = sum(w / m.x0_g_cm2 for m, w in weights.items())
    inv_rm = sum(w * m.ec_mev / m.x0_g_cm2 for m, w in weights.items())
    x0 = 1.0 / inv_x0
    z_over_a, i_ev = 0.0, 0.0
    if all(m.z_over_a > 0 and m.i_ev > 0 for m in weights):
        z_over_a = sum(w * m.z_over_a for m, w in weights.items())
        log_i = sum(w * m.z_over_a * math.log(m.i_ev) for m, w in weights.items()) / z_over_a
        i_ev = math.exp(log_i)
    return Material(
        name=name,
        density_g_cm3=density_g_cm3,
        x0_g_cm2=x0,
        lambda_i_g_cm2=1.0 / sum(w / m.lambda_i_g_cm2 for m, w in weights.items()),
        ec_mev=x0 * inv_rm,
        z=sum(w * m.z for m, w in weights.items()),
        dedx_min_mev_cm2_g=sum(w * m.dedx_min_mev_cm2_g for m, w in weights.items()),
        source=source,
        z_over_a=z_over_a,
        i_ev=i_ev,
    )


def layered(name: str, slices: Sequence[tuple[Material, float]], source: str = "") -> Material:
    """Effective medium of one period of a sampling structure, slices given as (material, mm).

    Mass fractions are those of the period (PDG: "for a layered sampling structure use the mass
    fractions of one period"); the density is the period's mass over its thickness. The slices
    are kept, so a layer can name its active one (:meth:`Material.with_active`).
    """
    masses: dict[Material, float] = {}
    for material, thickness_mm in slices:
        masses[material] = masses.get(material, 0.0) + material.density_g_cm3 * thickness_mm
    thickness = sum(t for _, t in slices)
    medium = mixture(name, masses, sum(masses.values()) / thickness, source=source)
    return replace(medium, slices=tuple((m, float(t)) for m, t in slices))


# -- energy loss (PDG chapter 34) --------------------------------------------------------------


def _density_parameters(material: Material) -> tuple[float, ...]:
    """Sternheimer (Cbar, x0, x1, a, k, delta0): the material's own, else the general formula
    of Sternheimer & Peierls, Phys. Rev. B 3 (1971) 3681, for a condensed medium from I and the
    plasma energy hbar omega_p = 28.816 sqrt(rho <Z/A>) eV (PDG Eq. 34.7 context)."""
    if material.density_effect:
        return material.density_effect
    plasma_ev = 28.816 * math.sqrt(material.density_g_cm3 * material.z_over_a)
    cbar = 2.0 * math.log(material.i_ev / plasma_ev) + 1.0
    if material.i_ev < 100.0:
        x0, x1 = (0.2 if cbar < 3.681 else 0.326 * cbar - 1.0), 2.0
    else:
        x0, x1 = (0.2 if cbar < 5.215 else 0.326 * cbar - 1.5), 3.0
    return (cbar, x0, x1, (cbar - 4.606 * x0) / (x1 - x0) ** 3, 3.0, 0.0)


def _delta(material: Material, beta_gamma: float) -> float:
    """Density-effect correction delta(beta gamma) (Sternheimer parametrisation, Eq. 34.7)."""
    cbar, x0, x1, a, k, delta0 = _density_parameters(material)
    x = math.log10(beta_gamma)
    if x >= x1:
        return 2.0 * math.log(10.0) * x - cbar
    if x >= x0:
        return 2.0 * math.log(10.0) * x - cbar + a * (x1 - x) ** k
    return delta0 * 10.0 ** (2.0 * (x - x0))


def _check_loss_data(material: Material) -> None:
    if material.z_over_a <= 0 or material.i_ev <= 0:
        msg = (
            f"material {material.name!r} has no <Z/A> and mean excitation energy: build it "
            "from PDG elements or compounds to compute energy-loss fluctuations"
        )
        raise ValueError(msg)


def bethe_dedx_mev_cm2_g(material: Material, beta_gamma: float, mass_mev: float = MMU_MEV) -> float:
    """Mean stopping power <-dE/dx> (MeV cm2/g) of a unit-charge particle, Bethe (PDG Eq. 34.5)
    with W_max of Eq. 34.4 and the density effect."""
    _check_loss_data(material)
    bg2 = beta_gamma**2
    gamma = math.sqrt(1.0 + bg2)
    beta2 = bg2 / (1.0 + bg2)
    ratio = ME_MEV / mass_mev
    w_max = 2.0 * ME_MEV * bg2 / (1.0 + 2.0 * gamma * ratio + ratio**2)
    i_mev = material.i_ev * 1e-6
    log_term = 0.5 * math.log(2.0 * ME_MEV * bg2 * w_max / i_mev**2)
    bracket = log_term - beta2 - 0.5 * _delta(material, beta_gamma)
    return K_MEV_CM2_MOL * material.z_over_a / beta2 * bracket


@lru_cache(maxsize=512)
def minimum_ionisation(material: Material) -> tuple[float, float]:
    """(beta gamma, dE/dx in MeV cm2/g) at the minimum of the muon's mean stopping power.

    Golden-section search in log10(beta gamma) over [0, 2] (the minimum lies near 3-4)."""
    lo, hi = 0.0, 2.0
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(60):
        a = hi - golden * (hi - lo)
        b = lo + golden * (hi - lo)
        fa = bethe_dedx_mev_cm2_g(material, 10.0**a)
        fb = bethe_dedx_mev_cm2_g(material, 10.0**b)
        lo, hi = (lo, b) if fa < fb else (a, hi)
    beta_gamma = 10.0 ** (0.5 * (lo + hi))
    return beta_gamma, bethe_dedx_mev_cm2_g(material, beta_gamma)


def landau_mpv_mev(
    material: Material, thickness_mm: float, beta_gamma: float | None = None
) -> float:
    """Most probable energy loss (MeV) of a unit-charge particle crossing ``thickness_mm``.

    Landau-Vavilov-Bichsel, PDG Eq. 34.12: Delta_p = xi [ln(2 m c^2 beta^2 gamma^2 / I) +
    ln(xi / I) + j - beta^2 - delta(beta gamma)], xi = (K/2) <Z/A> x / beta^2 (x in g/cm2),
    j = 0.200. ``beta_gamma`` defaults to the muon's ionisation minimum in this material.
    """
    if beta_gamma is None:
        beta_gamma = minimum_ionisation(material)[0]
    _check_loss_data(material)
    bg2 = beta_gamma**2
    beta2 = bg2 / (1.0 + bg2)
    x_g_cm2 = 0.1 * thickness_mm * material.density_g_cm3
    xi = 0.5 * K_MEV_CM2_MOL * material.z_over_a * x_g_cm2 / beta2
    i_mev = material.i_ev * 1e-6
    bracket = (
        math.log(2.0 * ME_MEV * bg2 / i_mev)
        + math.log(xi / i_mev)
        + LANDAU_J
        - beta2
        - _delta(material, beta_gamma)
    )
    return xi * bracket


@dataclass(frozen=True)
class MipScale:
    """What a minimum-ionising particle leaves in one layer at normal incidence.

    ``visible_mev``: the most probable visible deposit (MeV) on the layer's read-out scale;
    ``medium`` and ``active_mm``: the active material and the thickness of it crossed;
    ``method``: ``"landau"`` (most probable value, PDG Eq. 34.12) or ``"mean"`` (the mean
    dE/dx_min x thickness x sampling fraction, where the active medium is unknown or lacks
    I and <Z/A>).
    """

    visible_mev: float
    medium: str
    active_mm: float
    method: str


def mip_scale(
    material: Material, thickness_mm: float, sampling_fraction: float | None = None
) -> MipScale:
    """The MIP scale of a layer of ``material`` (mm thick) read out with ``sampling_fraction``.

    A sampling structure with an ``active`` slice: the most probable loss in all its active
    slices together (a layer of n periods crosses n times the slice; Landau losses in
    consecutive slices add up like one slice of the summed thickness). A homogeneous layer
    (no sampling fraction): the most probable loss in the whole layer. Otherwise, or without
    I and <Z/A>: the mean dE/dx_min x thickness x sampling fraction (``method = "mean"``).
    """
    if material.active is not None and material.period_mm > 0:
        active = [(m, t) for m, t in material.slices if m.name == material.active]
        medium = active[0][0]
        crossed = sum(t for _, t in active) * thickness_mm / material.period_mm
    elif sampling_fraction is None:
        medium, crossed = material, thickness_mm
    else:
        medium, crossed = material, thickness_mm
        visible = material.mip_mev_per_mm * thickness_mm * sampling_fraction
        return MipScale(visible, material.name, crossed, "mean")
    if medium.z_over_a > 0 and medium.i_ev > 0:
        return MipScale(landau_mpv_mev(medium, crossed), medium.name, crossed, "landau")
    fraction = 1.0 if sampling_fraction is None else sampling_fraction
    visible = material.mip_mev_per_mm * thickness_mm * fraction
    return MipScale(visible, medium.name, crossed, "mean")


# -- radiation length, critical energy, interaction length of an element ------------------------


AMALDI_COEFFICIENT = 0.027
"""Sampling term of an EM sampling calorimeter, a = 2.7% sqrt(d / f_samp) with d the active
layer thickness in mm and f_samp the MIP sampling fraction (U. Amaldi, Phys. Scripta 23 (1981)
409, as quoted in the PDG Review "Calorimetry")."""


def amaldi_stochastic_term(active_mm: float, sampling_fraction: float) -> float:
    """The Amaldi estimate of an EM sampling calorimeter's stochastic term a (sigma/E =
    a / sqrt(E/GeV)) for an active layer of ``active_mm`` mm at MIP sampling fraction
    ``sampling_fraction``: :data:`AMALDI_COEFFICIENT` x sqrt(d / f_samp)."""
    return AMALDI_COEFFICIENT * math.sqrt(active_mm / sampling_fraction)


def tsai_x0_g_cm2(z: int, a_g_mol: float) -> float:
    """Radiation length (g/cm2) of element Z from Tsai's formula (PDG Eq. 34.26)."""
    if z in _TSAI_LIGHT:
        l_rad, l_rad_prime = _TSAI_LIGHT[z]
    else:
        l_rad = math.log(184.15 * z ** (-1.0 / 3.0))
        l_rad_prime = math.log(1194.0 * z ** (-2.0 / 3.0))
    a2 = (ALPHA * z) ** 2
    coulomb = a2 * (1.0 / (1.0 + a2) + 0.20206 - 0.0369 * a2 + 0.0083 * a2**2 - 0.002 * a2**3)
    return TSAI_G_CM2 * a_g_mol / (z * z * (l_rad - coulomb) + z * l_rad_prime)


def _critical_energy_mev(z: float, gas: bool) -> float:
    """E_c (MeV) from the PDG fits of Fig. 34.13: 610/(Z+1.24) (solids, liquids), 710/(Z+0.92)
    (gases); good to a few per cent against the tabulated values."""
    return 710.0 / (z + 0.92) if gas else 610.0 / (z + 1.24)


def _lambda_i_g_cm2(a_g_mol: float) -> float:
    """Nuclear interaction length (g/cm2), linear in ln(lambda_I) against ln(A) between the PDG
    values of :data:`calogeo._pdg_elements.LAMBDA_I_ANCHORS`."""
    masses = {row[0]: row[2] for row in pdg.ELEMENTS}
    points = sorted((math.log(masses[s]), math.log(lam)) for s, lam in pdg.LAMBDA_I_ANCHORS)
    x = math.log(a_g_mol)
    if x <= points[0][0]:
        return math.exp(points[0][1])
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    (x0, y0), (x1, y1) = points[-2], points[-1]
    return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))


_ROWS = {row[0]: row for row in pdg.ELEMENTS}


@cache
def element(symbol: str) -> Material:
    """The element ``symbol`` (Z = 1-92) as a material, from the PDG table (2020 edition)."""
    if symbol not in _ROWS:
        msg = f"unknown element {symbol!r}"
        raise KeyError(msg)
    _, z, a, rho, i_ev, z_over_a, density_effect, gas = _ROWS[symbol]
    bare = Material(
        symbol, rho, 0.0, 0.0, 0.0, z, 0.0, z_over_a=z_over_a, i_ev=i_ev,
        density_effect=density_effect,
    )  # fmt: skip
    if symbol in pdg.TABULATED:
        x0, lam, ec, dedx = pdg.TABULATED[symbol]
        note = ""
    else:
        x0, lam, ec = tsai_x0_g_cm2(z, a), _lambda_i_g_cm2(a), _critical_energy_mev(z, gas)
        dedx = minimum_ionisation(bare)[1]
        note = "; X0 Tsai, E_c PDG fit, lambda_I interpolated in A, dE/dx_min Bethe"
    source = f"{pdg.PDG_EDITION}, {symbol}{note}"
    return replace(bare, x0_g_cm2=x0, lambda_i_g_cm2=lam, ec_mev=ec, dedx_min_mev_cm2_g=dedx,
                   source=source)  # fmt: skip


def _compound(name: str) -> Material:
    """A PDG compound (:data:`calogeo._pdg_elements.COMPOUNDS`): X0, lambda_I, E_c and Z by the
    mixture rule of its elements, I, <Z/A> and the density effect from its PDG page, and dE/dx_min
    from Bethe."""
    rho, i_ev, z_over_a, density_effect, fractions = pdg.COMPOUNDS[name]
    mixed = mixture(name, {element(s): w for s, w in fractions.items()}, rho)
    medium = replace(mixed, i_ev=i_ev, z_over_a=z_over_a, density_effect=density_effect)
    source = f"{pdg.PDG_EDITION}, {name}: composition, I, density effect; mixture rule"
    return replace(medium, dedx_min_mev_cm2_g=minimum_ionisation(medium)[1], source=source)


# -- the catalogue ---------------------------------------------------------------------------

_PDG = "PDG Atomic and nuclear properties of materials"


def _pdg(
    name: str, rho: float, x0: float, lam: float, ec: float, z: float, dedx: float, note: str = ""
) -> Material:
    """A compound with its PDG page's tabulated numbers, plus the loss data of
    :data:`calogeo._pdg_elements.COMPOUNDS` where the PDG gives them."""
    medium = Material(name, rho, x0, lam, ec, z, dedx, source=f"{_PDG}{note}")
    if name not in pdg.COMPOUNDS:
        return medium
    _, i_ev, z_over_a, density_effect, _ = pdg.COMPOUNDS[name]
    return replace(medium, i_ev=i_ev, z_over_a=z_over_a, density_effect=density_effect)


def _tabulated() -> Iterator[Material]:
    # name, density g/cm3, X0 g/cm2, lambda_I g/cm2, E_c(e-) MeV, Z, dE/dx_min MeV cm2/g
    yield _pdg("LAr", 1.396, 19.55, 119.7, 32.84, 18, 1.508)
    # PbWO4: Z is the mass-weighted mean of Pb (0.455), W (0.404), O (0.141).
    yield _pdg("PbWO4", 8.30, 7.39, 168.3, 9.64, 68.4, 1.229)
    yield _pdg("polystyrene", 1.06, 43.79, 81.7, 93.11, 5.61, 1.936)
    yield _pdg("air", 0.001205, 36.62, 90.1, 87.92, 7.31, 1.815)
    yield _pdg("kapton", 1.42, 40.58, 85.8, 85.97, 6.7, 1.820)
    # Epoxy glue and G10/FR4 PCB: approximate (Geant4 NIST-like compositions), thin slices.
    yield _pdg("epoxy", 1.25, 41.0, 82.0, 90.0, 6.4, 1.90, "; approximate epoxy")
    yield _pdg("G10", 1.70, 33.0, 90.2, 67.0, 10.4, 1.87, "; approximate FR4/G10")


_ALLOYS: dict[str, tuple[float, dict[str, float], str]] = {
    # name: (density g/cm3, {element: mass fraction}, source)
    "steel304": (
        8.00,
        {"Fe": 0.6892, "Cr": 0.19, "Ni": 0.0925, "Mn": 0.02, "Si": 0.0075, "C": 0.0008},
        (
            "AISI 304 stainless (ASTM A240: Cr 18-20%, Ni 8-10.5%, Mn <= 2%, Si <= 0.75%, "
            "C <= 0.08%; range midpoints, maxima for Mn, Si, C; Fe balance), 8.00 g/cm3"
        ),
    ),
    "steel316": (
        8.00,
        {
            "Fe": 0.6567,
            "Cr": 0.17,
            "Ni": 0.12,
            "Mo": 0.025,
            "Mn": 0.02,
            "Si": 0.0075,
            "C": 0.0008,
        },
        (
            "AISI 316 stainless (ASTM A240: Cr 16-18%, Ni 10-14%, Mo 2-3%, Mn <= 2%, Si <= 0.75%, "
            "C <= 0.08%; range midpoints, maxima for Mn, Si, C; Fe balance), 8.00 g/cm3"
        ),
    ),
    "brass": (
        8.53,
        {"Cu": 0.70, "Zn": 0.30},
        "cartridge brass C26000 (Cu 70% / Zn 30% by mass), 8.53 g/cm3 (ASTM B36)",
    ),
    "CuW": (
        14.8,
        {"W": 0.75, "Cu": 0.25},
        (
            "copper-tungsten W75Cu25 (by mass), nominal 14.8 g/cm3 (98.8% of the 14.98 g/cm3 "
            "of the full-density mixture)"
        ),
    ),
    "FR4": (
        1.85,
        {"Si": 0.2805, "O": 0.4194, "C": 0.2749, "H": 0.0252},
        (
            "FR4 PCB as 60% glass (SiO2) + 40% epoxy (C11H12O3) by mass, 1.85 g/cm3 "
            "(IPC-4101 typical density)"
        ),
    ),
    "LYSO": (
        7.10,
        {"Lu": 0.7145, "Y": 0.0403, "Si": 0.0637, "O": 0.1815},
        (
            "LYSO Lu1.8Y0.2SiO5 (mass fractions from the formula), 7.10 g/cm3 "
            "(Saint-Gobain PreLude 420 data sheet)"
        ),
    ),
}
_COMPOUND_NAMES = ("PVT", "quartz", "BGO", "CsI", "PbF2", "lead_glass", "LSO", "water")


class _Catalogue(Mapping[str, Material]):
    """Materials known by name, built on first use (the element table needs a minimisation per
    element, which ``import calogeo`` should not pay for)."""

    def __init__(self) -> None:
        self._built: dict[str, Material] = {m.name: m for m in _tabulated()}
        symbols = [row[0] for row in pdg.ELEMENTS]
        self._names = list(self._built) + symbols + list(_COMPOUND_NAMES) + list(_ALLOYS)

    def __getitem__(self, name: str) -> Material:
        if name not in self._built:
            if name in _ROWS:
                self._built[name] = element(name)
            elif name in _COMPOUND_NAMES:
                self._built[name] = _compound(name)
            elif name in _ALLOYS:
                rho, fractions, source = _ALLOYS[name]
                parts = {element(s): w for s, w in fractions.items()}
                self._built[name] = mixture(name, parts, rho, source=source)
            else:
                raise KeyError(name)
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


STANDARD_MATERIALS: Mapping[str, Material] = _Catalogue()
"""Every element Z = 1-92 by symbol (PDG 2020), PDG compounds (``LAr``, ``PbWO4``,
``polystyrene``, ``PVT``, ``quartz``, ``BGO``, ``CsI``, ``PbF2``, ``lead_glass``, ``LSO``,
``water``, ``air``, ``kapton``), alloys and composites (``steel304``, ``steel316``, ``brass``,
``CuW``, ``FR4``, ``LYSO``), and the approximate ``epoxy`` and ``G10``; built on first use."""


def material_sources() -> dict[str, str]:
    """Name -> source of every standard material (builds them all)."""
    return {name: STANDARD_MATERIALS[name].source for name in STANDARD_MATERIALS}
