"""Materials: PDG values, the mixture rule, and the effective media of the shipped detectors."""

from __future__ import annotations

import pytest

from calogeo.materials import E_S_MEV, STANDARD_MATERIALS, Material, layered, mixture

S = STANDARD_MATERIALS

# PDG "Atomic and nuclear properties of materials": X0 (cm), R_M (cm), lambda_I (cm).
PDG_LENGTHS_CM = {
    "W": (0.3504, 0.9327, 9.946),
    "Pb": (0.5612, 1.602, 17.59),
    "PbWO4": (0.8903, 1.959, 20.27),
    "Fe": (1.757, 1.719, 16.77),
    "Cu": (1.436, 1.568, 15.32),
    "Si": (9.370, 4.944, 46.52),
    "LAr": (14.00, 9.043, 85.77),
}


@pytest.mark.parametrize("name", sorted(PDG_LENGTHS_CM))
def test_pdg_lengths_are_reproduced(name: str) -> None:
    # R_M = X0 E_s / E_c with E_s = 21.2052 MeV must give the PDG Moliere radius: the table in
    # calogeo.materials stores X0 and E_c, and the PDG rounds to 4 digits, hence 0.5%.
    x0_cm, rm_cm, lambda_cm = PDG_LENGTHS_CM[name]
    m = S[name]
    assert m.x0_mm == pytest.approx(10 * x0_cm, rel=2e-3)
    assert m.rm_mm == pytest.approx(10 * rm_cm, rel=5e-3)
    assert m.lambda_i_mm == pytest.approx(10 * lambda_cm, rel=5e-3)
    assert m.rm_mm == pytest.approx(m.x0_mm * E_S_MEV / m.ec_mev)


def test_from_lengths_round_trips_quoted_numbers() -> None:
    m = Material.from_lengths(
        "seed_lar",
        x0_mm=140.0,
        rm_mm=90.43,
        lambda_i_mm=857.7,
        density_g_cm3=1.396,
        z=18,
        dedx_min_mev_cm2_g=1.508,
    )
    assert (m.x0_mm, m.rm_mm, m.lambda_i_mm) == pytest.approx((140.0, 90.43, 857.7))
    assert m.ec_mev == pytest.approx(140.0 * E_S_MEV / 90.43)


def test_mixture_rule_against_hand_computation() -> None:
    # 50/50 by mass of W and Cu, by hand from the PDG per-mass values (g/cm2):
    # 1/X0 = 0.5/6.76 + 0.5/12.86; 1/R_M = (0.5 * 7.97/6.76 + 0.5 * 19.42/12.86) / E_s.
    w, cu = S["W"], S["Cu"]
    m = mixture("WCu", {w: 0.5, cu: 0.5}, density_g_cm3=12.0)
    x0_g_cm2 = 1.0 / (0.5 / 6.76 + 0.5 / 12.86)
    rm_g_cm2 = E_S_MEV / (0.5 * 7.97 / 6.76 + 0.5 * 19.42 / 12.86)
    assert m.x0_g_cm2 == pytest.approx(x0_g_cm2)
    assert m.x0_mm == pytest.approx(10 * x0_g_cm2 / 12.0)
    assert m.rm_mm == pytest.approx(10 * rm_g_cm2 / 12.0)
    assert m.lambda_i_g_cm2 == pytest.approx(1.0 / (0.5 / 191.9 + 0.5 / 137.3))
    assert m.z == pytest.approx(0.5 * 74 + 0.5 * 29)


def test_mixture_normalises_fractions_and_one_component_is_itself() -> None:
    pb = S["Pb"]
    alone = mixture("Pb", {pb: 3.0}, density_g_cm3=pb.density_g_cm3)
    assert (alone.x0_mm, alone.rm_mm, alone.lambda_i_mm) == pytest.approx(
        (pb.x0_mm, pb.rm_mm, pb.lambda_i_mm)
    )


def test_layered_uses_mass_fractions_of_one_period() -> None:
    # 2 mm Pb + 4 mm LAr by hand: masses 2.270 and 0.5584 g/cm2 per cm2 of a 0.6 cm period.
    m = layered("pb_lar", [(S["Pb"], 2.0), (S["LAr"], 4.0)])
    mass_pb, mass_lar = 0.2 * 11.35, 0.4 * 1.396
    total = mass_pb + mass_lar
    assert m.density_g_cm3 == pytest.approx(total / 0.6)
    x0_g_cm2 = 1.0 / ((mass_pb / total) / 6.37 + (mass_lar / total) / 19.55)
    assert m.x0_mm == pytest.approx(10 * x0_g_cm2 / m.density_g_cm3)
    # In X0 the period is the sum of its slices' depths: d/X0 adds up slice by slice.
    assert 6.0 / m.x0_mm == pytest.approx(2.0 / S["Pb"].x0_mm + 4.0 / S["LAr"].x0_mm)


def test_layered_merges_repeated_slices() -> None:
    split = layered("split", [(S["Fe"], 0.5), (S["polystyrene"], 3.0), (S["Fe"], 19.5)])
    merged = layered("merged", [(S["Fe"], 20.0), (S["polystyrene"], 3.0)])
    assert split.x0_mm == pytest.approx(merged.x0_mm)
    assert split.rm_mm == pytest.approx(merged.rm_mm)


# -- effective media of the detectors (shared/PHYSICS.md, values marked [calc]) ------------------

TUNGSTEN_DENS24 = mixture("TungstenDens24", {S["W"]: 0.93, S["Ni"]: 0.061, S["Fe"]: 0.009}, 17.8)


def _clic_ecal(absorber_mm: float) -> Material:
    """One CLIC ECAL period with the k4geo slices, as geometries/clic_ecal.toml describes it."""
    return layered(
        "clic_ecal",
        [
            (TUNGSTEN_DENS24, absorber_mm),
            (S["air"], 0.25),
            (S["Cu"], 0.10),
            (S["Si"], 0.50),
            (S["air"], 0.10),
            (S["G10"], 0.80),
            (S["air"], 0.25),
        ],
    )


# (material, [calc] X0 mm, [calc] R_M mm, relative tolerance). The [calc] values are rounded to
# two digits (0.5-2.5%), so 3% is the default. CLIC's thin section gets 6%: our slices model
# k4geo's siPCBMix (0.8 mm) as G10 and GroundOrHVMix as Cu, while k4geo's siPCBMix is a
# copper-rich mix; the extra copper accounts for the ~0.02 X0 per layer the [calc] has more
# (X0 7.01 vs 6.8 mm, R_M 16.1 vs 15.3 mm). ATLAS's [calc] is "~2.0 / ~3.7 cm" (5%).
EFFECTIVE_MEDIA = {
    "clic_thin": (lambda: _clic_ecal(2.40), 6.8, 15.3, 0.06),
    "clic_thick": (lambda: _clic_ecal(4.80), 5.4, 12.8, 0.03),
    "atlas_accordion": (
        lambda: layered(
            "atlas",
            [
                (S["Pb"], 1.532),
                (S["Fe"], 0.4),
                (S["epoxy"], 0.278),
                (S["LAr"], 4.2),
                (S["Cu"], 0.105),
                (S["kapton"], 0.17),
            ],
        ),
        20.0,
        37.0,
        0.05,
    ),
    "calogan": (lambda: layered("calogan", [(S["Pb"], 2.0), (S["LAr"], 4.0)]), 15.59, 35.5, 0.01),
    "luxe": (
        lambda: layered("luxe", [(S["W"], 3.5), (S["Si"], 0.32), (S["air"], 0.68)]),
        4.49,
        11.8,
        0.01,
    ),
}


@pytest.mark.parametrize("name", sorted(EFFECTIVE_MEDIA))
def test_effective_media_match_physics_reference(name: str) -> None:
    build, x0_mm, rm_mm, tolerance = EFFECTIVE_MEDIA[name]
    m = build()
    assert m.x0_mm == pytest.approx(x0_mm, rel=tolerance)
    assert m.rm_mm == pytest.approx(rm_mm, rel=tolerance)


def test_clic_ecal_readout_slices_shorten_the_period_x0() -> None:
    # The effective medium sits between pure W and a W/Si period without the PCB: adding slices
    # of matter can only shorten the period's X0 in mm (for fixed thickness).
    full = _clic_ecal(2.40)
    bare = layered("bare", [(TUNGSTEN_DENS24, 2.40), (S["Si"], 0.5), (S["air"], 1.5)])
    assert TUNGSTEN_DENS24.x0_mm < full.x0_mm < bare.x0_mm


@pytest.mark.parametrize(
    "slices",
    [
        # CLIC HCAL (k4geo HCalBarrel_o1_v01_01.xml) and ILD AHCAL (hcal_defs.xml): 26.5 mm.
        [("Fe", 20.0), ("polystyrene", 3.0), ("Cu", 0.1), ("G10", 0.7), ("air", 2.7)],
        [
            ("Fe", 0.5),
            ("Fe", 19.0),
            ("polystyrene", 3.0),
            ("Cu", 0.1),
            ("G10", 0.7),
            ("Fe", 0.5),
            ("air", 2.7),
        ],
    ],
)
def test_hcal_period_depth_per_layer(slices: list[tuple[str, float]]) -> None:
    # PHYSICS.md [calc]: 1.15 X0 and 0.125 lambda_I per 26.5 mm layer (rounded: 1%).
    m = layered("hcal", [(S[n], t) for n, t in slices])
    assert 26.5 / m.x0_mm == pytest.approx(1.15, rel=0.01)
    assert 26.5 / m.lambda_i_mm == pytest.approx(0.125, rel=0.01)
