"""The PDG element table, compounds and alloys by name, and mixtures of them in specs."""

from __future__ import annotations

import math

import pytest

from calogeo import _pdg_elements as pdg
from calogeo.materials import (
    E_S_MEV,
    STANDARD_MATERIALS,
    element,
    material_sources,
    minimum_ionisation,
    tsai_x0_g_cm2,
)
from calogeo.spec import geometry_from_spec

S = STANDARD_MATERIALS


def test_every_element_z_1_to_92_is_known_by_symbol() -> None:
    assert [row[1] for row in pdg.ELEMENTS] == list(range(1, 93))
    for symbol, z, *_ in pdg.ELEMENTS:
        m = S[symbol]
        assert m.z == z
        for value in (m.x0_mm, m.rm_mm, m.lambda_i_mm, m.ec_mev, m.dedx_min_mev_cm2_g):
            assert math.isfinite(value)
            assert value > 0
        assert m.i_ev > 0
        assert 0.38 < m.z_over_a <= 1.0
    for name in ("Cr", "Mn", "Mo", "Zn", "Sn", "Ti", "Al", "Mg", "O", "N", "H", "U"):
        assert name in S
    assert all(material_sources()[name] for name in S)


@pytest.mark.parametrize("symbol", sorted(pdg.TABULATED))
def test_formulas_reproduce_the_pdg_pages(symbol: str) -> None:
    # The elements without a tabulated value get X0 from Tsai's formula and dE/dx_min from
    # Bethe with the density effect: both must give the PDG page's numbers where it has them.
    x0, _, ec, dedx = pdg.TABULATED[symbol]
    _, z, a, *_ = next(row for row in pdg.ELEMENTS if row[0] == symbol)
    assert tsai_x0_g_cm2(z, a) == pytest.approx(x0, rel=1.5e-3)
    assert minimum_ionisation(element(symbol))[1] == pytest.approx(dedx, rel=4e-3)
    assert 610.0 / (z + 1.24) == pytest.approx(ec, rel=0.05)  # the PDG fit: within 5%


def test_minimum_ionisation_of_tabulated_compounds() -> None:
    # PDG pages: LAr 1.508, polystyrene 1.936, PbWO4 1.229 MeV cm2/g; the minimum lies at
    # beta gamma ~ 3-4 (PDG Fig. 34.2).
    for name, dedx in (("LAr", 1.508), ("polystyrene", 1.936), ("PbWO4", 1.229)):
        beta_gamma, value = minimum_ionisation(S[name])
        assert value == pytest.approx(dedx, rel=3e-3)
        assert 2.8 < beta_gamma < 4.2


@pytest.mark.parametrize(
    ("name", "x0_cm"),
    # PDG pages (radiation length in cm): BGO 1.118, CsI 1.860, PbF2 0.9305, lead glass (SF5-like,
    # 6.22 g/cm3) 1.265, PVT 42.54, fused quartz 12.29, water 36.08.
    [
        ("BGO", 1.118),
        ("CsI", 1.860),
        ("PbF2", 0.9305),
        ("lead_glass", 1.265),
        ("PVT", 42.54),
        ("quartz", 12.29),
        ("water", 36.08),
    ],
)
def test_compounds_by_mixture_rule_match_pdg(name: str, x0_cm: float) -> None:
    assert S[name].x0_mm == pytest.approx(10 * x0_cm, rel=8e-3)


def test_alloys_have_sources_and_sum_to_one() -> None:
    for name in ("steel304", "steel316", "brass", "CuW", "FR4", "LYSO"):
        assert S[name].source
        assert S[name].density_g_cm3 > 1
    # Stainless steel is mostly iron: X0 within 2% of iron's per unit mass.
    assert S["steel304"].x0_g_cm2 == pytest.approx(13.84, rel=0.02)


# -- acceptance: a stainless-steel / scintillator HCAL with alternating layers ----------------

HCAL_SPEC = """
name = "steel_scint"
title = "steel304 / PVT HCAL, alternating 20 and 10 mm plates"
citation = "test"
distance_from_ip_mm = 2000.0
stochastic_term = 0.6

[materials.thick]
slices = [["steel304", 20.0], ["PVT", 3.0]]
[materials.thin]
slices = [["steel304", 10.0], ["PVT", 3.0]]

[[layers]]
repeat = 7
block = [
    { name = "hcal_a", thickness_mm = 23.0, material = "thick", active = "PVT", group = "HCAL", layout = { type = "grid", pitch_mm = [30.0, 30.0], shape = [5, 5] } },
    { name = "hcal_b", thickness_mm = 13.0, material = "thin", active = "PVT", group = "HCAL", layout = { type = "grid", pitch_mm = [30.0, 30.0], shape = [5, 5] } },
]
"""

# By hand from the PDG values per unit mass (g/cm2, MeV): steel304 = Fe 0.6892, Cr 0.19,
# Ni 0.0925, Mn 0.02, Si 0.0075, C 0.0008 by mass, 8.00 g/cm3; PVT = C 0.915, H 0.085,
# 1.032 g/cm3. X0 from the PDG pages (Fe 13.84, Cr 14.94, Ni 12.68, Mn 14.64, Si 21.82,
# C 42.70, H 63.04). E_c: PDG pages for Fe 21.68, Ni 20.86, Si 40.19, C 81.74; the PDG fit for
# Cr 610/25.24 and Mn 610/26.24 (solids), H 710/1.92 (gas). lambda_I: PDG pages for Fe 132.1,
# Ni 134.9, Si 108.4, C 85.8, H 52.0; Cr 129.35 and Mn 131.46 interpolated in ln A between
# the PDG Ar (119.7) and Fe values.
STEEL = {
    # fraction, X0, E_c, lambda_I
    "Fe": (0.6892, 13.84, 21.68, 132.1),
    "Cr": (0.19, 14.94, 610 / 25.24, 129.35),
    "Ni": (0.0925, 12.68, 20.86, 134.9),
    "Mn": (0.02, 14.64, 610 / 26.24, 131.46),
    "Si": (0.0075, 21.82, 40.19, 108.4),
    "C": (0.0008, 42.70, 81.74, 85.8),
}
PVT = {"C": (0.915, 42.70, 81.74, 85.8), "H": (0.085, 63.04, 710 / 1.92, 52.0)}


def _by_hand(parts: dict[str, tuple[float, float, float, float]]) -> tuple[float, float, float]:
    """(X0, R_M, lambda_I) in g/cm2 of a mixture: 1/X0 = sum w/X0, 1/R_M = sum w E_c/X0 / E_s,
    1/lambda = sum w/lambda."""
    x0 = 1 / sum(w / x for w, x, _, _ in parts.values())
    rm = E_S_MEV / sum(w * e / x for w, x, e, _ in parts.values())
    lam = 1 / sum(w / li for w, _, _, li in parts.values())
    return x0, rm, lam


def test_steel_scintillator_hcal_from_a_block_against_hand_computed_pdg_mixtures() -> None:
    g = geometry_from_spec(HCAL_SPEC)
    names = [layer.name for layer in g.layers]
    assert names[:4] == ["hcal_a00", "hcal_b00", "hcal_a01", "hcal_b01"]
    assert names[-1] == "hcal_b06"
    assert len(names) == 14
    assert g.layers[-1].z_back_mm == pytest.approx(7 * (23.0 + 13.0))
    steel, pvt = _by_hand(STEEL), _by_hand(PVT)
    # As components of a layer both are media with their own X0 and E_c = X0 E_s / R_M.
    components = {
        "steel": lambda w: (w, steel[0], steel[0] * E_S_MEV / steel[1], steel[2]),
        "pvt": lambda w: (w, pvt[0], pvt[0] * E_S_MEV / pvt[1], pvt[2]),
    }
    for layer, steel_mm in ((g.layers[0], 20.0), (g.layers[1], 10.0)):
        mass_steel, mass_pvt = 0.1 * steel_mm * 8.00, 0.1 * 3.0 * 1.032
        total = mass_steel + mass_pvt
        density = total / (0.1 * (steel_mm + 3.0))
        x0, rm, lam = _by_hand(
            {
                "steel": components["steel"](mass_steel / total),
                "pvt": components["pvt"](mass_pvt / total),
            }
        )
        m = layer.material
        assert m.density_g_cm3 == pytest.approx(density, rel=1e-6)
        assert m.x0_mm == pytest.approx(10 * x0 / density, rel=1e-3)
        assert m.rm_mm == pytest.approx(10 * rm / density, rel=1e-3)
        assert m.lambda_i_mm == pytest.approx(10 * lam / density, rel=1e-3)
    # Steel alone: X0 1.747 cm, R_M 1.671 cm, lambda_I 16.44 cm (8.00 g/cm3).
    assert 10 * steel[0] / 8.0 == pytest.approx(S["steel304"].x0_mm, rel=1e-3)
    assert 10 * steel[1] / 8.0 == pytest.approx(S["steel304"].rm_mm, rel=1e-3)
    assert 10 * steel[2] / 8.0 == pytest.approx(S["steel304"].lambda_i_mm, rel=1e-3)
