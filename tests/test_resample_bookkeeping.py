"""Energy is never created and its bookkeeping travels with the showers (issue 16, items 4, 6).

Item 4: polygon cells that overlap, or that are not simple polygons (a pentagram, a square
traced twice), are refused by spec validation, and the resample report names the event that
lost most AND the one that gained most. Item 6: the per-event kept fraction and edge loss are
labels of the resampled showers, the labels the resampling invalidates (``leakage``, the impact
point, the start depth) are updated or dropped, and the file's metadata says so.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from calogeo import Showers, geometry_from_spec, read_showers, write_showers
from calogeo.cli import main
from calogeo.clip import OVERLAP_TOLERANCE, overlapping_cells
from calogeo.errors import SpecError
from calogeo.io import ShowerFile
from calogeo.layout import PolygonLayout
from calogeo.resample import Resampler
from calogeo.resample.bookkeeping import EDGE_LOSS_LABEL, KEPT_LABEL, KeptReport
from calogeo.resample.groups import GroupResampler

SQUARE = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]
NEXT_SQUARE = [[10.0, 0.0], [20.0, 0.0], [20.0, 10.0], [10.0, 10.0]]
PENTAGRAM = [
    [10 * np.cos(np.pi / 2 + k * 4 * np.pi / 5), 10 * np.sin(np.pi / 2 + k * 4 * np.pi / 5)]
    for k in range(5)
]


def polygon_spec(cells: list[list[list[float]]], name: str = "cells") -> str:
    return f"""name = "{name}"
title = "polygon cells"
citation = "test"
distance_from_ip_mm = 1500.0
[[layers]]
name = "front"
thickness_mm = 5.0
material = "W"
layout = {{ type = "polygons", shape = [1, {len(cells)}], cells = {json.dumps(cells)} }}
"""


# -- item 4: overlapping and self-intersecting cells -------------------------------------------


def test_two_identical_cells_are_refused_naming_the_layer_and_the_cells():
    with pytest.raises(SpecError) as raised:
        geometry_from_spec(polygon_spec([SQUARE, SQUARE]))
    message = str(raised.value)
    assert "\n" not in message
    assert "layers[0].layout.cells: cells overlap in layer 'front': 0 and 1" in message
    assert "100.000% of the smaller cell" in message


def test_partly_overlapping_cells_are_refused_and_touching_ones_accepted():
    half = [[5.0, 0.0], [15.0, 0.0], [15.0, 10.0], [5.0, 10.0]]
    with pytest.raises(SpecError, match=r"0 and 1 \(50 mm2, 50.000% of the smaller cell\)"):
        geometry_from_spec(polygon_spec([SQUARE, half]))
    assert geometry_from_spec(polygon_spec([SQUARE, NEXT_SQUARE])).n_cells == 2
    # vertices rounded within the tolerance (an overlap of 1e-5 of a cell) still pass
    nudged = [[x - 1e-4 if x == 10.0 else x, y] for x, y in NEXT_SQUARE]
    assert geometry_from_spec(polygon_spec([SQUARE, nudged])).n_cells == 2


@pytest.mark.parametrize(
    ("cell", "turns"),
    [(PENTAGRAM, "winds 2 times"), (SQUARE + SQUARE, "winds 2 times")],
    ids=["pentagram", "square traced twice"],
)
def test_self_intersecting_cells_are_not_convex(cell, turns):
    with pytest.raises(SpecError) as raised:
        geometry_from_spec(polygon_spec([NEXT_SQUARE, cell]))
    assert "layers[0].layout.cells[1]: must be a convex polygon" in str(raised.value)
    assert turns in str(raised.value)


def test_overlapping_cells_match_shapely_on_random_cells():
    rng = np.random.default_rng(4)
    polygons = []
    for _ in range(40):
        points = rng.uniform(-1, 1, size=(6, 2)) * rng.uniform(0.5, 3) + rng.uniform(-8, 8, 2)
        hull = shapely.convex_hull(shapely.multipoints(points))
        polygons.append(np.asarray(shapely.get_coordinates(hull))[:-1])
    layout = PolygonLayout.from_polygons(polygons, (1, len(polygons)), {"type": "polygons"})
    found = {(a, b): area for a, b, area, _ in overlapping_cells(layout.pieces())}
    shapes = [shapely.Polygon(p) for p in polygons]
    expected = {}
    for a in range(len(shapes)):
        for b in range(a + 1, len(shapes)):
            area = shapes[a].intersection(shapes[b]).area
            if area > OVERLAP_TOLERANCE * min(shapes[a].area, shapes[b].area):
                expected[a, b] = area
    assert expected  # the random cells do overlap
    assert found.keys() == expected.keys()
    for pair, area in expected.items():
        assert found[pair] == pytest.approx(area, rel=1e-9)


def test_resample_onto_overlapping_cells_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))
    source = geometry_from_spec(polygon_spec([SQUARE, NEXT_SQUARE], name="two"))
    cells = np.ones((3, 2), dtype=np.float32)
    write_showers(tmp_path / "in.h5", Showers.from_flat(source, cells, np.ones(3)))
    (tmp_path / "twice.toml").write_text(polygon_spec([SQUARE, SQUARE], name="twice"))
    out = tmp_path / "out.h5"
    code = main(["resample", str(tmp_path / "in.h5"), "--to", str(tmp_path / "twice.toml")])
    assert code == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "cells overlap in layer 'front'" in err
    assert not out.exists()


def _books(energy_in: list[float], energy_out: list[float]) -> dict[str, np.ndarray]:
    energy_in_array, energy_out_array = np.array(energy_in), np.array(energy_out)
    return {
        "energy_in": energy_in_array,
        "energy_out": energy_out_array,
        "edge_loss": energy_in_array - energy_out_array,
    }


def test_the_report_names_the_event_that_lost_most_and_the_one_that_gained_most():
    report = KeptReport()
    report.add(_books([1.0, 2.0, 0.0], [0.9, 1.0, 0.0]))  # events 0-2
    report.add(_books([1.0, 4.0], [1.7, 3.6]))  # events 3-4: event 3 gains 70%
    text = report.report()
    assert "lost most: event 1 keeps 50.0000%" in text
    assert "GAINED most (overlapping target cells?): event 3 keeps 170.0000%" in text
    assert "mean 100.0000%" in text  # (0.9 + 0.5 + 1.7 + 0.9) / 4: the mean alone hides both
    assert text.endswith("; 1 events without energy")
    assert report.gained


def test_the_report_of_a_lossless_run_says_which_event_kept_most():
    report = KeptReport()
    report.add(_books([1.0, 2.0], [1.0, 1.5]))
    text = report.report()
    assert "lost most: event 1 keeps 75.0000%; kept most: event 0 keeps 100.0000%" in text
    assert not report.gained


# -- item 6: the bookkeeping as labels ---------------------------------------------------------

GRID = """
name = "{name}"
title = "{name}"
citation = "test"
distance_from_ip_mm = 1500.0
anchor_mm = [{anchor}, 0.0]
[[layers]]
name = "{group}layer"
group = "{group}"
repeat = {repeat}
thickness_x0 = {x0}
material = "{material}"
layout = {{ type = "grid", pitch_mm = [{pitch}, {pitch}], shape = [{n}, {n}] }}
"""


def grid(name, *, material="W", pitch=1.0, n=40, repeat=6, x0=1.0, anchor=0.0, group="ECAL"):
    return geometry_from_spec(
        GRID.format(
            name=name,
            material=material,
            pitch=pitch,
            n=n,
            repeat=repeat,
            x0=x0,
            anchor=anchor,
            group=group,
        )
    )


def point_showers(geometry, x_mm: np.ndarray, layer: int) -> Showers:
    """One deposit of 1 GeV per event, in the cell of ``layer`` at (x, 0.3 mm)."""
    n = len(x_mm)
    cells = np.zeros((n, geometry.n_cells), dtype=np.float32)
    z = np.full(n, geometry.z_edges_mm[layer].mean())
    index = geometry.locate(x_mm, np.full(n, 0.3), z)
    cells[np.arange(n), index] = 1.0
    labels = {
        "pdg": np.full(n, 22),
        "impact_x": x_mm.astype(np.float32),
        "impact_y": np.full(n, 0.3, dtype=np.float32),
        "leakage": np.full(n, 0.25, dtype=np.float32),
        "start_depth_mm": z.astype(np.float32),
    }
    return Showers.from_flat(geometry, cells, np.full(n, 2.0), labels)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))


def test_kept_fraction_edge_loss_and_leakage_are_labels_of_the_output(cache):
    source = grid("fine")
    target = grid("small", pitch=2.0, n=10)  # a 20 mm window inside the 40 mm one
    showers = point_showers(source, np.array([0.5, 9.5, 15.5]), layer=2)
    resampler = Resampler(source, target)
    out = resampler.apply(showers)
    books = resampler.bookkeeping(showers)
    kept = out.labels[KEPT_LABEL]
    np.testing.assert_allclose(kept, [1.0, 1.0, 0.0], atol=1e-6)  # the third fell outside
    np.testing.assert_allclose(kept, books["energy_out"] / books["energy_in"], rtol=1e-6)
    np.testing.assert_allclose(out.labels[EDGE_LOSS_LABEL], books["edge_loss"], rtol=1e-6)
    np.testing.assert_allclose(out.labels["leakage"], 0.25 + books["edge_loss"], rtol=1e-6)
    assert out.labels[KEPT_LABEL].dtype == np.float32
    np.testing.assert_array_equal(out.labels["pdg"], 22)  # others are copied


def test_resampling_twice_multiplies_the_kept_fraction_and_adds_the_losses(cache):
    source = grid("fine")
    middle = grid("small", pitch=2.0, n=10)
    target = grid("smaller", pitch=2.0, n=6)
    rng = np.random.default_rng(1)
    cells = rng.exponential(size=(20, source.n_cells)).astype(np.float32)
    showers = Showers.from_flat(source, cells, np.ones(20))
    once = Resampler(source, middle).apply(showers)
    twice = Resampler(middle, target).apply(once)
    direct = Resampler(source, target).apply(showers)
    np.testing.assert_allclose(twice.labels[KEPT_LABEL], direct.labels[KEPT_LABEL], rtol=1e-5)
    np.testing.assert_allclose(
        twice.labels[EDGE_LOSS_LABEL], direct.labels[EDGE_LOSS_LABEL], rtol=1e-5
    )


def test_the_impact_point_moves_with_the_shower(cache):
    # Pb (R_M 16 mm) behind an anchor at x = 3 mm onto W (R_M 9.3 mm) anchored at x = -2 mm:
    # the resampled deposit's centroid is where the mapped impact label says.
    source = grid("lead", material="Pb", anchor=3.0, n=60)
    target = grid("tungsten", material="W", anchor=-2.0, pitch=0.5, n=80)
    x = np.array([-20.5, 3.5, 17.5])
    showers = point_showers(source, x, layer=0)
    out = Resampler(source, target).apply(showers)
    front = out.layers[0].reshape(len(x), -1)
    centre_x = target.layers[0].layout.centres_mm()[:, 0]
    centroid = (front * centre_x).sum(axis=1) / front.sum(axis=1)
    np.testing.assert_allclose(out.labels["impact_x"], centroid, atol=0.05)  # 0.1 target cell
    assert not np.allclose(out.labels["impact_x"], x)  # it did move
    np.testing.assert_allclose(
        out.labels["impact_y"],
        0.3 * target.layers[0].material.rm_mm / source.layers[0].material.rm_mm,
        rtol=1e-5,
    )


def test_the_start_depth_moves_with_the_shower_and_is_nan_behind_the_target(cache):
    source = grid("deep", x0=1.0, repeat=8)  # 8 X0 of W
    target = grid("shallow", material="Pb", x0=2.0, repeat=2)  # 4 X0 of Pb
    for layer in range(8):
        showers = point_showers(source, np.array([0.5]), layer=layer)
        out = Resampler(source, target).apply(showers)
        depth = float(out.labels["start_depth_mm"][0])
        if layer >= 4:
            assert np.isnan(depth)
            continue
        receiving = [i for i, e in enumerate(out.layers) if e.sum() > 0]
        z_front, z_back = target.z_edges_mm[receiving[0], 0], target.z_edges_mm[receiving[-1], 1]
        assert z_front <= depth <= z_back


def test_a_round_trip_keeps_positions_and_a_group_resampling_drops_depths(cache):
    source = grid("fine")
    target = grid("small", pitch=2.0, n=10)
    showers = point_showers(source, np.array([0.5, 15.5]), layer=1)
    back = Resampler(source, target, round_trip=True).apply(showers)
    np.testing.assert_array_equal(back.labels["impact_x"], showers.labels["impact_x"])
    np.testing.assert_array_equal(back.labels["start_depth_mm"], showers.labels["start_depth_mm"])
    np.testing.assert_allclose(back.labels[KEPT_LABEL], [1.0, 0.0], atol=1e-6)
    ecal_hcal = geometry_from_spec(
        GRID.format(
            name="calo",
            material="W",
            pitch=1.0,
            n=40,
            repeat=6,
            x0=1.0,
            anchor=0.0,
            group="ECAL",
        )
        + '[[layers]]\nname = "h"\ngroup = "HCAL"\nrepeat = 2\nthickness_mm = 20.0\n'
        + 'material = "Fe"\nlayout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [8, 8] }\n'
    )
    showers = point_showers(ecal_hcal, np.array([0.5, 15.5]), layer=1)
    grouped = GroupResampler(ecal_hcal, target, ["ECAL"]).apply(showers)
    assert "start_depth_mm" not in grouped.labels  # the HCAL keeps its own depths
    np.testing.assert_allclose(grouped.labels[KEPT_LABEL], [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(grouped.labels["impact_x"], showers.labels["impact_x"])  # same R_M


def test_calogeo_resample_writes_the_labels_and_says_so_in_the_metadata(tmp_path, cache, capsys):
    source = grid("fine")
    (tmp_path / "small.toml").write_text(
        GRID.format(
            name="small",
            material="W",
            pitch=2.0,
            n=10,
            repeat=6,
            x0=1.0,
            anchor=0.0,
            group="ECAL",
        )
    )
    showers = point_showers(source, np.array([0.5, 9.5, 15.5, -30.5]), layer=2)
    write_showers(tmp_path / "in.h5", showers)
    out = tmp_path / "out.h5"
    args = ["resample", str(tmp_path / "in.h5"), "--to", str(tmp_path / "small.toml")]
    assert main([*args, "-o", str(out), "--batch-size", "3"]) == 0
    result = read_showers(out)
    np.testing.assert_allclose(result.labels[KEPT_LABEL], [1, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(result.labels["leakage"], [0.25, 0.25, 1.25, 1.25], rtol=1e-6)
    with ShowerFile(out) as reader:
        notes = reader.metadata["labels"]
    assert set(notes) >= {KEPT_LABEL, EDGE_LOSS_LABEL, "leakage", "impact_x", "start_depth_mm"}
    assert "lost most: event 2 keeps 0.0000%" in capsys.readouterr().out
