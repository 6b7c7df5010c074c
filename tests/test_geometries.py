"""Every shipped detector spec: loads, has the documented images, and its derived numbers hold."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from calogeo.cli.cmd_show import describe
from calogeo.geometry import Geometry
from calogeo.registry import get_geometry, list_geometries
from calogeo.spec import load_geometry

SPEC_DIR = Path(__file__).resolve().parent.parent / "geometries"
SPEC_FILES = sorted(SPEC_DIR.glob("*.toml"))

# name -> (image shape of every layer, {group: (total depth, unit, relative tolerance)}).
# Depths: clic_ecal [calc] 17 x 4.4/6.8 + 8 x 6.8/5.4 = 21.1 X0 (PHYSICS.md effective media;
# our slices give 20.6, see test_materials.py for the 3% on the thin section); clic_hcal and
# ild_ahcal 1.15 X0 per layer [calc]; atlas 4.3 + 16 + 2 X0 and Tile 1.5 + 4.1 + 1.8 lambda_I
# (their specs); cms 25.8 X0 (CMS JINST 3 (2008) S08004); luxe ~1 X0 per layer (seed 004);
# calogan 5.8 + 22.3 + 2.8 X0 [calc]; clic_seed 17 x 2.4 + 8 x 4.8 mm of W over 3.504 mm.
CLIC_REC = [(25, 25)] * 25
ATLAS_EM = [(128, 4), (16, 16), (8, 16)]
ATLAS_TILE = [(4, 4), (4, 4), (2, 4)]
CLIC_ECAL_DEPTH = (21.1, "X0", 0.03)
ATLAS_EM_DEPTH = (22.3, "X0", 1e-9)
TILE_DEPTH = (7.4, "lambda", 1e-9)
EXPECTED = {
    "clic_ecal": ([(51, 51)] * 25, {"ECAL": CLIC_ECAL_DEPTH}),
    "clic_ecal_rec": (CLIC_REC, {"ECAL": CLIC_ECAL_DEPTH}),
    "clic_seed": ([(51, 51)] * 25, {"ECAL": ((17 * 2.4 + 8 * 4.8) / 3.504, "X0", 1e-9)}),
    "clic_hcal": ([(11, 11)] * 60, {"HCAL": (60 * 1.15, "X0", 0.01)}),
    "clic": (
        CLIC_REC + [(11, 11)] * 60,
        {"ECAL": CLIC_ECAL_DEPTH, "HCAL": (60 * 1.15, "X0", 0.01)},
    ),
    "clic_large": (
        [(51, 51)] * 25 + [(11, 11)] * 60,
        {"ECAL": CLIC_ECAL_DEPTH, "HCAL": (60 * 1.15, "X0", 0.01)},
    ),
    "atlas": (ATLAS_EM, {"ECAL": ATLAS_EM_DEPTH}),
    "atlas_seed": (ATLAS_EM, {"ECAL": ATLAS_EM_DEPTH}),
    "atlas_tile": (ATLAS_TILE, {"HCAL": TILE_DEPTH}),
    "atlas_calo": (ATLAS_EM + ATLAS_TILE, {"ECAL": ATLAS_EM_DEPTH, "HCAL": TILE_DEPTH}),
    "cms": ([(23, 23)], {"ECAL": (25.8, "X0", 0.005)}),
    "cms_seed": ([(23, 23)], {"ECAL": (25.8, "X0", 0.005)}),
    "ild_ahcal": ([(25, 25)] * 48, {"HCAL": (48 * 1.15, "X0", 0.01)}),
    "luxe_ecal": ([(110, 11)] * 20, {"ECAL": (20.0, "X0", 0.01)}),
    "calogan": ([(3, 96), (12, 12), (12, 6)], {"ECAL": (5.8 + 22.3 + 2.8, "X0", 0.005)}),
}
SEEDS = {"clic_seed": "clic_ecal", "atlas_seed": "atlas", "cms_seed": "cms"}
# Belayneh et al. Table 1: X0 and R_M in mm of the pure materials the paper used.
SEED_MEDIA = {"clic_seed": (3.504, 9.327), "atlas_seed": (140.0, 90.43), "cms_seed": (8.903, 19.59)}


@pytest.fixture(scope="module", params=[p.stem for p in SPEC_FILES])
def geometry(request: pytest.FixtureRequest) -> Geometry:
    return load_geometry(SPEC_DIR / f"{request.param}.toml")


def _load(name: str) -> Geometry:
    return load_geometry(SPEC_DIR / f"{name}.toml")


def test_every_detector_of_the_issue_is_shipped() -> None:
    assert sorted(p.stem for p in SPEC_FILES) == sorted(EXPECTED)


def test_every_spec_is_registered_under_its_file_name() -> None:
    registered = {entry.name for entry in list_geometries()}
    assert set(EXPECTED) <= registered
    for name in EXPECTED:
        assert get_geometry(name) == _load(name)


def test_shapes_and_groups(geometry: Geometry) -> None:
    shapes, depths = EXPECTED[geometry.name]
    assert geometry.shapes == shapes
    assert geometry.groups == list(depths)


def test_depth_of_each_group(geometry: Geometry) -> None:
    _, depths = EXPECTED[geometry.name]
    for group, (depth, unit, tolerance) in depths.items():
        layers = [layer for layer in geometry.layers if layer.group == group]
        per_layer = [ly.depth_x0 if unit == "X0" else ly.depth_lambda for ly in layers]
        assert sum(per_layer) == pytest.approx(depth, rel=tolerance)


def test_layers_are_ordered_and_deep(geometry: Geometry) -> None:
    z = geometry.z_edges_mm
    assert np.all(z[:, 1] > z[:, 0])
    assert np.all(z[1:, 0] >= z[:-1, 1] - 1e-9)
    assert len({layer.name for layer in geometry.layers}) == geometry.n_layers


def test_the_particle_axis_enters_the_window(geometry: Geometry) -> None:
    # The anchor (window centre) lies in a cell of every layer.
    ax, ay = geometry.anchor_mm
    mids = geometry.z_edges_mm.mean(axis=1)
    cells = geometry.locate(np.full(len(mids), ax), np.full(len(mids), ay), mids)
    assert np.all(cells >= 0)


def test_sampling_fractions(geometry: Geometry) -> None:
    for layer in geometry.layers:
        if geometry.name.startswith("cms"):
            assert layer.sampling_fraction is None  # homogeneous crystals
        else:
            assert layer.sampling_fraction is not None
            assert 0.005 < layer.sampling_fraction < 0.3


def test_stochastic_term_is_given_or_its_absence_explained(geometry: Geometry) -> None:
    if geometry.stochastic_term is None:
        assert "stochastic_term is omitted" in geometry.spec_text
    else:
        assert 0.01 < geometry.stochastic_term < 1.0


def test_show_says_which_variant(geometry: Geometry) -> None:
    text = describe(geometry)
    assert f"variant:   {geometry.variant}" in text
    assert ("SEED VARIANT" in text) == (geometry.variant == "seed")


# -- derived numbers per detector ----------------------------------------------------------------


def test_clic_cells_in_moliere_radii() -> None:
    # 5.1 mm cells: 0.32 / 0.39 R_M with the effective thin / thick media, 0.55 with pure W.
    for name in ("clic_ecal", "clic_ecal_rec"):
        g = _load(name)
        assert g.layers[0].cell_size_rm()[0] == pytest.approx(5.1 / 16.09, rel=0.005)
        assert g.layers[-1].cell_size_rm()[0] == pytest.approx(5.1 / 13.14, rel=0.005)
    assert _load("clic_seed").layers[0].cell_size_rm() == pytest.approx((0.5468, 0.5468), rel=1e-3)
    for name in ("clic_ecal", "clic_ecal_rec", "clic_seed", "clic"):
        for layer in _load(name).layers:
            if layer.group == "ECAL":
                assert 0.3 < layer.cell_size_rm()[0] < 0.55


def test_cms_crystal_is_about_one_moliere_radius() -> None:
    assert _load("cms").layers[0].cell_size_rm() == pytest.approx((22 / 21.9, 22 / 21.9))
    assert _load("cms_seed").layers[0].cell_size_rm() == pytest.approx((22 / 19.59, 22 / 19.59))
    assert _load("cms").layers[0].depth_x0 == pytest.approx(230 / 8.9)


def test_cms_window_covers_the_clic_rec_window_in_moliere_radii() -> None:
    clic = _load("clic_ecal_rec")
    clic_half_width_rm = max(
        0.5 * (layer.layout.extent_mm()[1] - layer.layout.extent_mm()[0]) / layer.material.rm_mm
        for layer in clic.layers
    )
    pure_w_half_width_rm = 0.5 * 25 * 5.1 / 9.327  # the seed's CLIC: pure-W R_M
    for name, needed in (("cms", clic_half_width_rm), ("cms_seed", pure_w_half_width_rm)):
        layer = _load(name).layers[0]
        half_width_rm = 0.5 * 23 * 22.0 / layer.material.rm_mm
        assert half_width_rm > needed


def test_atlas_layers() -> None:
    g = _load("atlas")
    emb1, emb2, emb3 = g.layers
    assert emb2.depth_x0 == pytest.approx(16.0)
    assert (emb1.depth_x0, emb3.depth_x0) == pytest.approx((4.3, 2.0))
    # Effective accordion medium (PHYSICS.md [calc]: X0 ~2.0 cm, R_M ~3.7 cm).
    assert emb2.material.x0_mm == pytest.approx(20.0, rel=0.01)
    assert emb2.material.rm_mm == pytest.approx(37.0, rel=0.03)
    # Cells: eta-phi granularity of ATL-PHYS-PUB-2020-018 Table 1 in a 0.4 x ~0.39 window.
    granularity = [(0.025 / 8, math.pi / 32), (0.025, math.pi / 128), (0.05, math.pi / 128)]
    for layer, (d_eta, d_phi) in zip(g.layers, granularity, strict=True):
        assert (layer.layout.d_eta, layer.layout.d_phi) == pytest.approx((d_eta, d_phi))
        rows, cols = layer.shape
        assert rows * d_eta == pytest.approx(0.4)
        assert cols * d_phi == pytest.approx(0.4, rel=0.02)
        # Projective cells at the layer's own radius: x = R phi.
        mid_radius = g.distance_from_ip_mm + 0.5 * (layer.z_front_mm + layer.z_back_mm)
        assert layer.layout.radius_mm == pytest.approx(mid_radius, abs=0.1)
    assert emb2.cell_size_rm()[0] == pytest.approx(1745.8 * math.pi / 128 / 37.54, rel=0.01)


def test_atlas_tile_depths_in_interaction_lengths() -> None:
    g = _load("atlas_tile")
    assert [layer.depth_lambda for layer in g.layers] == pytest.approx([1.5, 4.1, 1.8])
    assert g.total_depth_lambda == pytest.approx(7.4)


def test_hcal_depths_in_interaction_lengths() -> None:
    # PHYSICS.md [calc]: 0.125 lambda_I per 26.5 mm layer -> ~7.5 (CLIC) and ~6 (ILD).
    assert _load("clic_hcal").total_depth_lambda == pytest.approx(7.5, rel=0.01)
    assert _load("ild_ahcal").total_depth_lambda == pytest.approx(6.0, rel=0.01)


def test_calogan_layers() -> None:
    g = _load("calogan")
    assert [layer.thickness_mm for layer in g.layers] == pytest.approx([90.0, 347.0, 43.0])
    assert [layer.depth_x0 for layer in g.layers] == pytest.approx([5.8, 22.3, 2.8], rel=0.02)
    assert g.layers[0].material.rm_mm == pytest.approx(35.5, rel=0.01)
    # 480 x 480 mm in every layer.
    for layer in g.layers:
        x0, x1, y0, y1 = layer.layout.extent_mm()
        assert (x1 - x0, y1 - y0) == pytest.approx((480.0, 480.0))


def test_luxe_pads() -> None:
    g = _load("luxe_ecal")
    assert g.n_cells == 110 * 11 * 20
    assert g.layers[0].layout.cell_size_mm() == pytest.approx((5.0, 5.0))
    assert g.layers[1].z_front_mm == pytest.approx(4.5)


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_seed_variants_carry_the_paper_numbers(seed: str) -> None:
    g = _load(seed)
    assert g.variant == "seed"
    x0_mm, rm_mm = SEED_MEDIA[seed]
    for layer in g.layers:
        assert layer.material.x0_mm == pytest.approx(x0_mm, rel=1e-12)
        assert layer.material.rm_mm == pytest.approx(rm_mm, rel=1e-12)
    # Same cells as the effective variant: only the medium differs.
    effective = _load(SEEDS[seed])
    assert effective.variant == "effective"
    assert g.shapes == effective.shapes
    for a, b in zip(g.layers, effective.layers, strict=True):
        np.testing.assert_allclose(a.layout.centres_mm(), b.layout.centres_mm())
        np.testing.assert_allclose(a.layout.areas_mm2(), b.layout.areas_mm2())


def test_combined_clic_is_the_rec_ecal_and_the_hcal_behind_it() -> None:
    clic, ecal, hcal = _load("clic"), _load("clic_ecal_rec"), _load("clic_hcal")
    assert clic.n_layers == ecal.n_layers + hcal.n_layers
    first_hcal = clic.layers[ecal.n_layers]
    assert first_hcal.z_front_mm == pytest.approx(1697.0 - 1500.0)
    assert clic.layers[ecal.n_layers - 1].z_back_mm < first_hcal.z_front_mm
    for combined, alone in zip(clic.layers, ecal.layers + hcal.layers, strict=True):
        assert combined.depth_x0 == pytest.approx(alone.depth_x0)
        assert combined.sampling_fraction == pytest.approx(alone.sampling_fraction)
        np.testing.assert_allclose(combined.layout.centres_mm(), alone.layout.centres_mm())
    assert clic.total_depth_lambda == pytest.approx(
        ecal.total_depth_lambda + hcal.total_depth_lambda
    )


def test_atlas_calo_is_atlas_and_tile() -> None:
    calo, em, tile = _load("atlas_calo"), _load("atlas"), _load("atlas_tile")
    assert [ly.name for ly in calo.layers] == [ly.name for ly in em.layers + tile.layers]
    assert calo.layers[3].z_front_mm == pytest.approx(2280.0 - 1500.0)
    for combined, alone in zip(calo.layers, em.layers + tile.layers, strict=True):
        assert combined.depth_x0 == pytest.approx(alone.depth_x0)
        np.testing.assert_allclose(
            combined.layout.centres_mm(), alone.layout.centres_mm(), rtol=1e-9
        )
