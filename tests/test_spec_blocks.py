"""Spec layer blocks (a repeated sequence of layer tables), element symbols and hexagon
options."""

from __future__ import annotations

import numpy as np
import pytest

from calogeo.errors import SpecError
from calogeo.layout import PolygonLayout
from calogeo.spec import geometry_from_spec

HEAD = """
name = "blocks"
title = "test"
citation = "test"
distance_from_ip_mm = 1000.0
[materials.pb_cassette]
slices = [["Pb", 4.0], ["Si", 0.3], ["Cu", 1.2]]
[materials.cuw_cassette]
slices = [["CuW", 1.4], ["Si", 0.3], ["Cu", 6.0]]
"""
GRID = 'layout = { type = "grid", pitch_mm = [10.0, 10.0], shape = [3, 3] }'


def block(repeat: int = 3, extra: str = "") -> str:
    return (
        HEAD
        + f"""
[[layers]]
name = "front"
thickness_mm = 5.5
material = "pb_cassette"
active = "Si"
{GRID}

[[layers]]
repeat = {repeat}
{extra}
[[layers.block]]
name = "pb"
thickness_mm = 5.5
material = "pb_cassette"
active = "Si"
{GRID}
[[layers.block]]
name = "cuw"
thickness_mm = 7.7
material = "cuw_cassette"
active = "Si"
{GRID}
"""
    )


def test_block_repeats_a_sequence_of_layer_tables() -> None:
    g = geometry_from_spec(block(3))
    assert [ly.name for ly in g.layers] == [
        "front", "pb00", "cuw00", "pb01", "cuw01", "pb02", "cuw02",
    ]  # fmt: skip
    assert [ly.material.name for ly in g.layers[1:3]] == ["pb_cassette", "cuw_cassette"]
    assert g.layers[-1].z_back_mm == pytest.approx(5.5 + 3 * (5.5 + 7.7))
    # Alternating media, each with its own sampling fraction and active slice.
    assert g.layers[1].sampling_fraction != g.layers[2].sampling_fraction
    assert g.layers[2].material.active == "Si"


def test_block_inline_form_and_numbering_across_tables() -> None:
    text = (
        HEAD
        + f"""
[[layers]]
repeat = 2
block = [
    {{ name = "a", thickness_mm = 5.5, material = "pb_cassette", {GRID} }},
    {{ name = "b", repeat = 2, thickness_mm = 7.7, material = "cuw_cassette", {GRID} }},
]
[[layers]]
name = "a"
repeat = 2
thickness_mm = 5.5
material = "pb_cassette"
{GRID}
"""
    )
    g = geometry_from_spec(text)
    assert [ly.name for ly in g.layers] == [
        "a00", "b00", "b01", "a01", "b02", "b03", "a02", "a03",
    ]  # fmt: skip


def test_block_problems_are_reported_once_with_their_key() -> None:
    text = block(4).replace('material = "cuw_cassette"', 'material = "CuWW"')
    with pytest.raises(SpecError) as exc:
        geometry_from_spec(text)
    problems = exc.value.problems
    assert "layers[1].block[1].material: unknown material 'CuWW'" in problems
    assert len(problems) == len(set(problems)) == 2  # + its `active`, not 4 times each
    for bad, key in (
        (block(0), "layers[1].repeat: must be a positive integer, got 0"),
        (block(2, 'name = "x"'), "layers[1].name: unknown key"),
        (HEAD + "[[layers]]\nblock = []\n", "layers[0].block: must be a non-empty list"),
    ):
        with pytest.raises(SpecError) as exc:
            geometry_from_spec(bad)
        assert any(p.startswith(key) for p in exc.value.problems), exc.value.problems


def test_any_element_symbol_and_alloy_is_a_material() -> None:
    text = (
        HEAD.replace('["CuW", 1.4]', '["steel316", 1.4]')
        + f"""
[materials.alloy]
mass_fractions = {{ Cr = 0.5, Mo = 0.5 }}
density_g_cm3 = 9.0
[[layers]]
name = "alloy"
thickness_mm = 5.0
material = "alloy"
{GRID}
[[layers]]
name = "titanium"
thickness_mm = 5.0
material = "Ti"
{GRID}
"""
    )
    g = geometry_from_spec(text)
    assert g.layers[0].material.z == pytest.approx(0.5 * 24 + 0.5 * 42)
    assert g.layers[1].material.name == "Ti"
    assert g.layers[1].material.density_g_cm3 == pytest.approx(4.54)


def hex_spec(options: str) -> str:
    return (
        HEAD
        + f"""
[[layers]]
thickness_mm = 5.5
material = "pb_cassette"
layout = {{ type = "hexagonal", pitch_mm = 10.0, shape = [5, 4]{options} }}
"""
    )


@pytest.mark.parametrize("orientation", ["pointy", "flat"])
def test_hexagon_axis_on_centre_vertex_edge(orientation: str) -> None:
    pitch, r = 10.0, 10.0 / np.sqrt(3.0)
    nearest = {"centre": 0.0, "vertex": r, "edge": pitch / 2}
    for axis_on, distance in nearest.items():
        options = f', orientation = "{orientation}", axis_on = "{axis_on}"'
        layout = geometry_from_spec(hex_spec(options)).layers[0].layout
        centres = layout.centres_mm()
        d = np.hypot(centres[:, 0], centres[:, 1])
        assert d.min() == pytest.approx(distance, abs=1e-9)
        # The axis is a vertex shared by 3 cells / an edge shared by 2 / inside one cell.
        assert np.sum(np.isclose(d, distance)) == {"centre": 1, "vertex": 3, "edge": 2}[axis_on]
        assert layout.areas_mm2() == pytest.approx(np.full(20, 1.5 * np.sqrt(3) * r**2))
        # Rows run along y; pointy hexagons have a vertex at the top, flat ones a flat side.
        poly = layout.polygons_mm()[0]
        top = poly[:, 1].max() - centres[0, 1]
        assert top == pytest.approx(r if orientation == "pointy" else pitch / 2)
        assert np.all(np.diff(centres.reshape(5, 4, 2)[:, 0, 1]) > 0)


def test_hexagon_default_keeps_the_previous_placement() -> None:
    # calogeo 0.1: pointy-top rows, the axis a quarter pitch from the nearest centre.
    layout = geometry_from_spec(hex_spec("")).layers[0].layout
    assert layout.to_spec() == PolygonLayout.hexagonal(10.0, 5, 4).to_spec()
    d = np.hypot(*layout.centres_mm().T)
    assert d.min() == pytest.approx(2.5)


def test_hexagon_options_are_checked() -> None:
    with pytest.raises(SpecError) as exc:
        geometry_from_spec(hex_spec(', orientation = "round", axis_on = "corner"'))
    assert exc.value.problems == [
        "layers[0].layout.orientation: must be 'pointy' or 'flat', got 'round'"
    ]
    with pytest.raises(SpecError) as exc:
        geometry_from_spec(hex_spec(', axis_on = "corner"'))
    assert exc.value.problems == [
        "layers[0].layout.axis_on: must be one of 'centre', 'vertex', 'edge', got 'corner'"
    ]
