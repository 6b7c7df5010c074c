"""Geometry specs: validation errors name the file and the key; specs round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calogeo.errors import CalogeoError, SpecError
from calogeo.geometry import Geometry
from calogeo.materials import STANDARD_MATERIALS
from calogeo.spec import geometry_from_spec, geometry_to_spec_text, load_geometry

GEOMETRIES = Path(__file__).resolve().parent.parent / "geometries"

HEADER = """
name = "tiny"
title = "A tiny test calorimeter"
citation = "calogeo tests"
distance_from_ip_mm = 1000.0
"""

GOOD_LAYERS = """
[materials.period]
slices = [["Pb", 2.0], ["LAr", 4.0]]

[[layers]]
name = "front"
repeat = 2
thickness_mm = 6.0
material = "period"
active = "LAr"
layout = { type = "grid", pitch_mm = [5.0, 10.0], shape = [3, 4] }

[[layers]]
name = "back"
thickness_x0 = 2.0
material = "Pb"
layout = { type = "eta_phi", d_eta = 0.025, d_phi = 0.0245, shape = [4, 4] }
"""


def _spec_error(text: str, source: str = "tiny.toml") -> SpecError:
    with pytest.raises(SpecError) as info:
        geometry_from_spec(text, source=source)
    assert str(info.value).startswith(f"{source}: ")
    assert isinstance(info.value, CalogeoError)
    return info.value


def _layer(body: str, materials: str = "") -> str:
    """A spec with the good header, optional [materials] and one layer table ``body``."""
    return HEADER + materials + "\n[[layers]]\n" + body


GRID = 'layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [2, 2] }\n'


def test_good_spec_builds() -> None:
    g = geometry_from_spec(HEADER + GOOD_LAYERS, source="tiny.toml")
    assert g.name == "tiny"
    assert [layer.name for layer in g.layers] == ["front00", "front01", "back"]
    assert g.shapes == [(3, 4), (3, 4), (4, 4)]
    np.testing.assert_allclose(g.z_edges_mm[:2], [[0.0, 6.0], [6.0, 12.0]])
    # thickness_x0 converts with the layer's own material.
    assert g.layers[2].depth_x0 == pytest.approx(2.0)
    assert g.layers[2].thickness_mm == pytest.approx(2.0 * STANDARD_MATERIALS["Pb"].x0_mm)
    # An eta-phi layout without radius_mm is placed at its layer's mid-depth radius.
    mid = 1000.0 + 0.5 * (g.layers[2].z_front_mm + g.layers[2].z_back_mm)
    assert g.layers[2].layout.radius_mm == pytest.approx(mid)
    assert g.variant == "effective"
    assert g.source == "tiny.toml"


def test_active_slice_gives_the_mip_sampling_fraction() -> None:
    g = geometry_from_spec(HEADER + GOOD_LAYERS)
    pb, lar = STANDARD_MATERIALS["Pb"], STANDARD_MATERIALS["LAr"]
    visible = 4.0 * lar.mip_mev_per_mm
    expected = visible / (visible + 2.0 * pb.mip_mev_per_mm)
    assert g.layers[0].sampling_fraction == pytest.approx(expected)
    assert g.layers[2].sampling_fraction is None


def test_thickness_lambda_uses_the_interaction_length() -> None:
    text = _layer('thickness_lambda = 1.5\nmaterial = "Fe"\n' + GRID)
    g = geometry_from_spec(text)
    assert g.layers[0].depth_lambda == pytest.approx(1.5)
    assert g.total_depth_lambda == pytest.approx(1.5)


def test_repeated_layers_are_numbered_on_across_tables() -> None:
    table = 'name = "ecal"\nrepeat = 2\nthickness_mm = 1.0\nmaterial = "W"\n' + GRID
    g = geometry_from_spec(HEADER + "\n[[layers]]\n" + table + "\n[[layers]]\n" + table)
    assert [layer.name for layer in g.layers] == ["ecal00", "ecal01", "ecal02", "ecal03"]


def test_z_front_leaves_a_gap() -> None:
    text = HEADER + GOOD_LAYERS.replace('name = "back"', 'name = "back"\nz_front_mm = 50.0')
    g = geometry_from_spec(text)
    assert g.layers[2].z_front_mm == 50.0
    # The gap adds no radiation lengths.
    assert g.x0_edges[2, 0] == pytest.approx(g.x0_edges[1, 1])


# -- every validation error names the key at fault ------------------------------------------

ERRORS = {
    "negative pitch": (
        _layer(
            'thickness_mm = 1.0\nmaterial = "W"\n'
            'layout = { type = "grid", pitch_mm = [-5.0, 5.0], shape = [2, 2] }\n'
        ),
        "layers[0].layout.pitch_mm: must be positive, got -5.0",
    ),
    "zero thickness": (
        _layer('thickness_mm = 0.0\nmaterial = "W"\n' + GRID),
        "layers[0].thickness_mm: must be positive, got 0.0",
    ),
    "negative thickness in X0": (
        _layer('thickness_x0 = -2.0\nmaterial = "W"\n' + GRID),
        "layers[0].thickness_x0: must be positive, got -2.0",
    ),
    "two thicknesses": (
        _layer('thickness_mm = 1.0\nthickness_x0 = 1.0\nmaterial = "W"\n' + GRID),
        "layers[0].thickness_mm: give exactly one of",
    ),
    "overlapping layers": (
        HEADER + GOOD_LAYERS.replace('name = "back"', 'name = "back"\nz_front_mm = 10.0'),
        (
            "layers[1].z_front_mm: layer starts at 10 mm, overlapping the previous layer that "
            "ends at 12 mm"
        ),
    ),
    "unknown material in a layer": (
        _layer('thickness_mm = 1.0\nmaterial = "unobtainium"\n' + GRID),
        "layers[0].material: unknown material 'unobtainium'",
    ),
    "unknown material in slices": (
        _layer(
            'thickness_mm = 1.0\nmaterial = "period"\n' + GRID,
            '[materials.period]\nslices = [["Pb", 2.0], ["LArr", 4.0]]\n',
        ),
        "materials.period.slices[1]: unknown material 'LArr'",
    ),
    "unknown material in mass fractions": (
        _layer(
            'thickness_mm = 1.0\nmaterial = "alloy"\n' + GRID,
            "[materials.alloy]\ndensity_g_cm3 = 17.0\nmass_fractions = { W = 0.9, Nickel = 0.1 }\n",
        ),
        "materials.alloy.mass_fractions.Nickel: unknown material 'Nickel'",
    ),
    "mass fractions not summing to 1": (
        _layer(
            'thickness_mm = 1.0\nmaterial = "alloy"\n' + GRID,
            "[materials.alloy]\ndensity_g_cm3 = 17.0\nmass_fractions = { W = 0.9, Ni = 0.2 }\n",
        ),
        "materials.alloy.mass_fractions: must sum to 1, got 1.1000",
    ),
    "missing top-level field": (
        HEADER.replace('title = "A tiny test calorimeter"\n', "") + GOOD_LAYERS,
        "title: missing field",
    ),
    "missing layers": (HEADER, "layers: missing field"),
    "missing material": (
        _layer("thickness_mm = 1.0\n" + GRID),
        "layers[0].material: missing field",
    ),
    "missing layout": (
        _layer('thickness_mm = 1.0\nmaterial = "W"\n'),
        "layers[0].layout: missing field",
    ),
    "missing layout field": (
        _layer(
            'thickness_mm = 1.0\nmaterial = "W"\nlayout = { type = "eta_phi", d_eta = 0.1, '
            "shape = [2, 2] }\n"
        ),
        "layers[0].layout.d_phi: missing field",
    ),
    "unknown top-level key": (HEADER + 'colour = "blue"\n' + GOOD_LAYERS, "colour: unknown key"),
    "unknown layer key": (
        _layer('thickness_mm = 1.0\nmaterial = "W"\ncolour = "red"\n' + GRID),
        "layers[0].colour: unknown key",
    ),
    "unknown layout key": (
        _layer(
            'thickness_mm = 1.0\nmaterial = "W"\n'
            'layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [2, 2], rotation = 3 }\n'
        ),
        "layers[0].layout.rotation: unknown key",
    ),
    "unknown material key": (
        _layer(
            'thickness_mm = 1.0\nmaterial = "lead"\n' + GRID,
            '[materials.lead]\nelement = "Pb"\ncolour = "grey"\n',
        ),
        "materials.lead.colour: unknown key",
    ),
    "bad layout type": (
        _layer(
            'thickness_mm = 1.0\nmaterial = "W"\nlayout = { type = "spiral", shape = [2, 2] }\n'
        ),
        (
            "layers[0].layout.type: must be one of grid, eta_phi, hexagonal, r_alpha, polygons, "
            "got 'spiral'"
        ),
    ),
    "bad shape": (
        _layer(
            'thickness_mm = 1.0\nmaterial = "W"\n'
            'layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [2, 0] }\n'
        ),
        "layers[0].layout.shape: must be [rows, cols] of positive integers, got [2, 0]",
    ),
    "bad variant": (
        HEADER + 'variant = "paper"\n' + GOOD_LAYERS,
        "variant: must be 'effective' or 'seed', got 'paper'",
    ),
    "sampling fraction above one": (
        _layer('thickness_mm = 1.0\nmaterial = "W"\nsampling_fraction = 1.5\n' + GRID),
        "layers[0].sampling_fraction: must be in (0, 1], got 1.5",
    ),
    "active slice not in the material": (
        _layer(
            'thickness_mm = 6.0\nmaterial = "period"\nactive = "Si"\n' + GRID,
            '[materials.period]\nslices = [["Pb", 2.0], ["LAr", 4.0]]\n',
        ),
        "layers[0].active: 'Si' is not a slice of 'period'",
    ),
    "wrong type": (
        HEADER.replace("1000.0", '"far"') + GOOD_LAYERS,
        "distance_from_ip_mm: must be a number, got 'far'",
    ),
}


MALFORMED_LAYOUTS = {
    'type = "grid", pitch_mm = 5.0, shape = [2, 2]': "layers[0].layout.pitch_mm",
    'type = "grid", pitch_mm = [5.0, "a"], shape = [2, 2]': "layers[0].layout.pitch_mm",
    'type = "grid", pitch_mm = [5.0, 5.0], shape = [2, true]': "layers[0].layout.shape",
    'type = "hexagonal", pitch_mm = 0.0, shape = [2, 2]': "layers[0].layout.pitch_mm",
    'type = "r_alpha", r_edges_mm = "far", n_alpha = 4': "layers[0].layout.r_edges_mm",
    'type = "r_alpha", r_edges_mm = [0.0, 5.0, 4.0], n_alpha = 4': "layers[0].layout.r_edges_mm",
    'type = "r_alpha", r_edges_mm = [0.0, 5.0], n_alpha = true': "layers[0].layout.n_alpha",
    'type = "r_alpha", r_edges_mm = [0.0, 5.0], n_alpha = 4, arc_segments = -1': (
        "layers[0].layout.arc_segments"
    ),
    'type = "polygons", shape = [1, 1], cells = 5': "layers[0].layout.cells",
    'type = "polygons", shape = [1, 2], cells = [[[0, 0], [1, 0], [0, 1]]]': (
        "layers[0].layout.cells: has 1 cells, shape needs 2"
    ),
    'type = "polygons", shape = [1, 1], cells = [[[0, 0], ["x", 0], [0, 1]]]': (
        "layers[0].layout.cells[0]"
    ),
    'type = "polygons", shape = [1, 1], cells = [[[0, 0], [2, 0], [1, 0.2], [2, 2], [0, 2]]]': (
        "layers[0].layout.cells[0]: must be a convex polygon"
    ),
}


@pytest.mark.parametrize("layout", sorted(MALFORMED_LAYOUTS))
def test_malformed_layouts_are_spec_errors(layout: str) -> None:
    error = _spec_error(_layer(f'thickness_mm = 1.0\nmaterial = "W"\nlayout = {{ {layout} }}\n'))
    expected = MALFORMED_LAYOUTS[layout]
    assert any(problem.startswith(expected) for problem in error.problems), error.problems


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_validation_error_names_file_and_key(case: str) -> None:
    text, expected = ERRORS[case]
    error = _spec_error(text)
    assert any(problem.startswith(expected) for problem in error.problems), error.problems


def test_bad_toml_names_the_file() -> None:
    error = _spec_error(HEADER + "[[layers]\nname = 'x'\n")
    assert error.problems[0].startswith("invalid TOML:")


def test_every_problem_is_reported_at_once() -> None:
    text = (
        HEADER.replace('title = "A tiny test calorimeter"\n', "")
        + "[materials.alloy]\ndensity_g_cm3 = 17.0\nmass_fractions = { W = 0.5, Ni = 0.2 }\n"
        + "\n[[layers]]\n"
        + 'thickness_mm = -1.0\nmaterial = "alloy"\n'
        + 'layout = { type = "grid", pitch_mm = [5.0, 0.0], shape = [2, 2] }\n'
        + "\n[[layers]]\n"
        + 'thickness_mm = 1.0\nmaterial = "unobtainium"\ncolour = 1\n'
        + GRID
    )
    problems = _spec_error(text).problems
    keys = sorted(p.split(":")[0] for p in problems)
    assert keys == [
        "layers[0].layout.pitch_mm",
        "layers[0].thickness_mm",
        "layers[1].colour",
        "layers[1].material",
        "materials.alloy.mass_fractions",
        "title",
    ]
    # The failed material is not reported again as unknown where layer 0 uses it.
    assert not any(p.startswith("layers[0].material") for p in problems)


def test_load_geometry_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(_layer('thickness_mm = 0.0\nmaterial = "W"\n' + GRID), encoding="utf-8")
    with pytest.raises(SpecError, match=r"broken\.toml: layers\[0\]\.thickness_mm"):
        load_geometry(path)
    with pytest.raises(SpecError, match=r"missing\.toml: cannot read"):
        load_geometry(tmp_path / "missing.toml")


# -- round trip ----------------------------------------------------------------------------------

POLYGON_SPEC = (
    HEADER
    + """
[[layers]]
name = "hexes"
thickness_mm = 3.0
material = "Si"
layout = { type = "hexagonal", pitch_mm = 8.0, shape = [4, 5] }

[[layers]]
name = "rings"
thickness_mm = 3.0
material = "Si"
layout = { type = "r_alpha", r_edges_mm = [0.0, 5.0, 12.0], n_alpha = 6 }

[[layers]]
name = "towers"
thickness_mm = 3.0
material = "Si"
layout = { type = "polygons", shape = [1, 2], cells = [
    [[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]],
    [[4.0, 0.0], [9.0, 0.0], [6.0, 4.0], [4.0, 4.0]],
] }
"""
)


def _same_cells_and_depths(a: Geometry, b: Geometry, rtol: float = 1e-10) -> None:
    """Equal up to the 12 significant digits written specs keep."""
    assert a.shapes == b.shapes
    np.testing.assert_allclose(a.z_edges_mm, b.z_edges_mm, rtol=rtol)
    np.testing.assert_allclose(a.x0_edges, b.x0_edges, rtol=rtol)
    np.testing.assert_allclose(a.lambda_edges, b.lambda_edges, rtol=rtol)
    np.testing.assert_allclose(a.cell_centres_mm(), b.cell_centres_mm(), rtol=rtol, atol=1e-9)
    for la, lb in zip(a.layers, b.layers, strict=True):
        assert la.name == lb.name
        assert la.group == lb.group
        assert la.sampling_fraction == pytest.approx(lb.sampling_fraction)
        assert la.material.rm_mm == pytest.approx(lb.material.rm_mm, rel=rtol)
        np.testing.assert_allclose(la.layout.areas_mm2(), lb.layout.areas_mm2(), rtol=rtol)
    assert (a.distance_from_ip_mm, a.anchor_mm, a.stochastic_term, a.variant) == (
        b.distance_from_ip_mm,
        b.anchor_mm,
        b.stochastic_term,
        b.variant,
    )


@pytest.mark.parametrize(
    "source", ["inline", "polygons", "clic.toml", "atlas_calo.toml", "cms_seed.toml"]
)
def test_spec_text_round_trips(source: str) -> None:
    if source == "inline":
        original = geometry_from_spec(HEADER + GOOD_LAYERS)
    elif source == "polygons":
        original = geometry_from_spec(POLYGON_SPEC)
    else:
        original = load_geometry(GEOMETRIES / source)
    rebuilt = geometry_from_spec(geometry_to_spec_text(original))
    _same_cells_and_depths(original, rebuilt)
    # Writing the rebuilt geometry again gives the same spec, hence the same hash.
    again = geometry_from_spec(geometry_to_spec_text(rebuilt))
    assert again.spec_hash == rebuilt.spec_hash
    assert again == rebuilt


def test_spec_hash_ignores_comments_and_key_order() -> None:
    a = geometry_from_spec(HEADER + GOOD_LAYERS)
    reordered = HEADER.replace('name = "tiny"\n', "") + '# a comment\nname = "tiny"\n'
    b = geometry_from_spec(reordered + GOOD_LAYERS)
    assert a == b
    c = geometry_from_spec(HEADER + GOOD_LAYERS.replace("[5.0, 10.0]", "[5.0, 11.0]"))
    assert a != c
