"""Materials as effective media: radiation length, Moliere radius, interaction length.

Lengths are stored per unit mass (g/cm2) so that mixtures follow the PDG rules; the ``*_mm``
properties divide by the density. Sources: PDG, "Atomic and nuclear properties of materials"
(pdg.lbl.gov/AtomicNuclearProperties) and PDG Review "Passage of particles through matter",
Sect. "Electromagnetic cascades".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["E_S_MEV", "STANDARD_MATERIALS", "Material", "layered", "mixture"]

E_S_MEV = 21.2052
"""Scale energy E_s = m_e c^2 sqrt(4 pi / alpha) in MeV (PDG Eq. 34.37), R_M = X0 E_s / E_c."""


@dataclass(frozen=True)
class Material:
    """An effective medium.

    Attributes are per unit mass where the PDG tabulates them so: ``x0_g_cm2`` (radiation
    length), ``lambda_i_g_cm2`` (nuclear interaction length), ``ec_mev`` (critical energy for
    electrons, MeV), ``density_g_cm3``, ``z`` (mass-weighted atomic number, as GFlash uses it) and
    ``dedx_min_mev_cm2_g`` (minimum ionisation, for MIP sampling fractions).
    """

    name: str
    density_g_cm3: float
    x0_g_cm2: float
    lambda_i_g_cm2: float
    ec_mev: float
    z: float
    dedx_min_mev_cm2_g: float
    source: str = ""

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
        """Energy a minimum-ionising particle loses per mm (MeV/mm)."""
        return 0.1 * self.dedx_min_mev_cm2_g * self.density_g_cm3

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
    interaction length and dE/dx combine the same way as X0 and as a plain average.
    """
    total = sum(mass_fractions.values())
    weights = {m: w / total for m, w in mass_fractions.items()}
    inv_x0 = sum(w / m.x0_g_cm2 for m, w in weights.items())
    inv_rm = sum(w * m.ec_mev / m.x0_g_cm2 for m, w in weights.items())
    x0 = 1.0 / inv_x0
    return Material(
        name=name,
        density_g_cm3=density_g_cm3,
        x0_g_cm2=x0,
        lambda_i_g_cm2=1.0 / sum(w / m.lambda_i_g_cm2 for m, w in weights.items()),
        ec_mev=x0 * inv_rm,
        z=sum(w * m.z for m, w in weights.items()),
        dedx_min_mev_cm2_g=sum(w * m.dedx_min_mev_cm2_g for m, w in weights.items()),
        source=source,
    )


def layered(name: str, slices: Sequence[tuple[Material, float]], source: str = "") -> Material:
    """Effective medium of one period of a sampling structure, slices given as (material, mm).

    Mass fractions are those of the period (PDG: "for a layered sampling structure use the mass
    fractions of one period"); the density is the period's mass over its thickness.
    """
    masses: dict[Material, float] = {}
    for material, thickness_mm in slices:
        masses[material] = masses.get(material, 0.0) + material.density_g_cm3 * thickness_mm
    thickness = sum(t for _, t in slices)
    return mixture(name, masses, sum(masses.values()) / thickness, source=source)


_PDG = "PDG Atomic and nuclear properties of materials"


def _pdg(
    name: str, rho: float, x0: float, lam: float, ec: float, z: float, dedx: float, note: str = ""
) -> Material:
    return Material(name, rho, x0, lam, ec, z, dedx, source=f"{_PDG}{note}")


STANDARD_MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        # name, density g/cm3, X0 g/cm2, lambda_I g/cm2, E_c(e-) MeV, Z, dE/dx_min MeV cm2/g
        _pdg("W", 19.30, 6.76, 191.9, 7.97, 74, 1.145),
        _pdg("Pb", 11.35, 6.37, 199.6, 7.43, 82, 1.122),
        _pdg("Fe", 7.874, 13.84, 132.1, 21.68, 26, 1.451),
        _pdg("Cu", 8.96, 12.86, 137.3, 19.42, 29, 1.403),
        _pdg("Ni", 8.902, 12.68, 134.9, 20.86, 28, 1.468, "; E_c from 610 MeV/(Z+1.24)"),
        _pdg("Si", 2.329, 21.82, 108.4, 40.19, 14, 1.664),
        _pdg("LAr", 1.396, 19.55, 119.7, 32.84, 18, 1.508),
        _pdg("C", 2.00, 42.70, 85.8, 81.74, 6, 1.742),
        # PbWO4: Z is the mass-weighted mean of Pb (0.455), W (0.404), O (0.141).
        _pdg("PbWO4", 8.30, 7.39, 168.3, 9.64, 68.4, 1.229),
        _pdg("polystyrene", 1.06, 43.79, 81.7, 93.11, 5.61, 1.936),
        _pdg("air", 0.001205, 36.62, 90.1, 87.92, 7.31, 1.815),
        _pdg("kapton", 1.42, 40.58, 85.8, 85.97, 6.7, 1.820),
        # Epoxy glue and G10/FR4 PCB: approximate (Geant4 NIST-like compositions), thin slices.
        _pdg("epoxy", 1.25, 41.0, 82.0, 90.0, 6.4, 1.90, "; approximate epoxy"),
        _pdg("G10", 1.70, 33.0, 90.2, 67.0, 10.4, 1.87, "; approximate FR4/G10"),
    )
}
"""Elements and standard compounds by name, PDG values (see table comment for columns)."""
