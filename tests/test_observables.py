"""Observables against hand computations: single hits, two hits, symmetric blobs; on a small
non-square grid, on ATLAS EMB1 strips and on CaloGAN layer 0."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calogeo import Showers, geometry_from_spec, get_geometry
from calogeo import observables as ob

SPEC = """
name = "toy"
title = "toy stack"
citation = "test"
distance_from_ip_mm = 1000.0
[[layers]]
name = "front"
thickness_mm = 10.0
material = "W"
layout = { type = "grid", pitch_mm = [2.0, 4.0], shape = [3, 5] }
[[layers]]
name = "middle"
thickness_mm = 20.0
material = "Pb"
layout = { type = "grid", pitch_mm = [2.0, 4.0], shape = [3, 5] }
[[layers]]
name = "back"
thickness_mm = 30.0
material = "Fe"
layout = { type = "grid", pitch_mm = [2.0, 4.0], shape = [3, 5] }
"""


@pytest.fixture(scope="module")
def toy():
    return geometry_from_spec(SPEC)


def empty(geometry, n=1, energy=10.0):
    showers = Showers.empty(geometry, n)
    return Showers(geometry, showers.layers, np.full(n, energy))


def test_single_hit_in_mm_rm_and_cells(toy):
    s = empty(toy)
    s.layers[1][0, 2, 4] = 3.0  # row 2 (y = +4 mm), col 4 (x = +4 mm)
    rm = toy.layers[1].material.rm_mm
    assert ob.centroid(s, "x", "mm")[0] == pytest.approx(4.0)
    assert ob.centroid(s, "y", "mm")[0] == pytest.approx(4.0)
    assert ob.centroid(s, "x", "rm")[0] == pytest.approx(4.0 / rm)
    assert ob.centroid(s, "x", "cell")[0] == pytest.approx(2.0)
    assert ob.centroid(s, "y", "cell")[0] == pytest.approx(1.0)
    assert ob.width(s, "x", "mm")[0] == 0.0
    assert ob.centroid(s, "z", "layer")[0] == 1.0
    assert ob.centroid(s, "z", "mm")[0] == pytest.approx(20.0)
    assert ob.centroid(s, "z", "x0")[0] == pytest.approx(toy.x0_edges[1].mean())
    assert ob.total_energy(s)[0] == 3.0
    np.testing.assert_allclose(ob.layer_fractions(s)[0], [0.0, 1.0, 0.0])
    assert ob.n_hits(s)[0] == 1
    assert ob.deepest_layer(s)[0] == 1
    assert ob.r9(s)[0] == 1.0
    assert ob.e_ratio(s)[0, 1] == 1.0
    np.testing.assert_allclose(ob.layer_occupancy(s)[0], [0.0, 1 / 15, 0.0])
    radial = ob.radial_profile(s, np.array([0.0, 5.0, 6.0]), "mm")[0]
    np.testing.assert_allclose(radial, [0.0, 3.0])  # r = 4 sqrt(2) = 5.66 mm


def test_two_hits_give_known_width_and_moments(toy):
    s = empty(toy)
    s.layers[0][0, 1, 0] = 1.0  # x = -4 mm
    s.layers[0][0, 1, 4] = 1.0  # x = +4 mm
    assert ob.centroid(s, "x")[0] == pytest.approx(0.0)
    assert ob.width(s, "x")[0] == pytest.approx(4.0)
    assert ob.width(s, "x", "cell")[0] == pytest.approx(2.0)
    m = ob.moments(s, "x")[0]
    np.testing.assert_allclose(m, [0.0, 16.0, 0.0, 256.0, 0.0, 4096.0], atol=1e-9)
    assert ob.e_ratio(s)[0, 0] == 0.0
    assert ob.r9(s)[0] == pytest.approx(0.5)  # the hits are 4 cells apart
    np.testing.assert_allclose(ob.layer_widths(s, "x")[0, 0], 4.0)
    assert math.isnan(ob.layer_widths(s, "x")[0, 1])  # empty layer


def test_symmetric_blob_is_centred_and_matches_numpy(toy):
    rng = np.random.default_rng(3)
    s = empty(toy, n=4)
    blob = np.array(
        [[1.0, 2.0, 4.0, 2.0, 1.0], [2.0, 4.0, 8.0, 4.0, 2.0], [1.0, 2.0, 4.0, 2.0, 1.0]]
    )
    for i in range(3):
        s.layers[i][:] = blob * (i + 1)
    s.layers[0][3] = s.layers[1][3] = 0.0
    s.layers[2][3] = rng.random((3, 5))
    assert ob.centroid(s, "x")[:3] == pytest.approx([0.0] * 3, abs=1e-12)
    assert ob.centroid(s, "y")[:3] == pytest.approx([0.0] * 3, abs=1e-12)
    x = np.tile([-4.0, -2.0, 0.0, 2.0, 4.0], 3)
    w = blob.ravel()
    assert ob.width(s, "x")[0] == pytest.approx(math.sqrt(np.sum(w * x**2) / w.sum()))
    # the random event: a direct numpy reference of the central moments
    e = s.layers[2][3].astype(np.float64).ravel()
    mean = np.sum(e * x) / e.sum()
    for k, value in zip(range(1, 7), ob.moments(s[3], "x")[0], strict=True):
        expected = mean if k == 1 else np.sum(e * (x - mean) ** k) / e.sum()
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_depth_observables_and_thirds(toy):
    s = empty(toy, n=2)
    s.layers[0][0, 1, 2] = 1.0
    s.layers[2][0, 1, 2] = 3.0
    s.layers[1][1, 0, 0] = 2.0
    assert ob.shower_depth(s)[0] == pytest.approx(1.5)  # (0 * 1 + 2 * 3) / 4
    assert ob.shower_depth_width(s)[0] == pytest.approx(math.sqrt((4 * 3) / 4 - 1.5**2))
    assert ob.shower_depth(s, "mm")[0] == pytest.approx((5.0 * 1 + 45.0 * 3) / 4)
    np.testing.assert_allclose(ob.depth_thirds(s)[0], [0.25, 0.0, 0.75])  # one layer per third
    np.testing.assert_allclose(ob.deepest_layer(s), [2, 1])
    # in X0 the thirds cut the layers in proportion to their radiation lengths
    x0 = toy.x0_edges
    cut1, cut2 = x0[-1, 1] / 3, 2 * x0[-1, 1] / 3
    share_front = min(x0[0, 1], cut1) / x0[0, 1]
    assert ob.depth_thirds(s, "x0")[0, 0] == pytest.approx(
        0.25 * share_front + 0.75 * max(0.0, cut1 - x0[2, 0]) / (x0[2, 1] - x0[2, 0])
    )
    assert ob.depth_thirds(s, "x0")[0].sum() == pytest.approx(1.0)
    assert cut2 > cut1


def test_shower_start_is_first_layer_of_a_run(toy):
    mip = ob.mip_energy_gev(toy)
    s = empty(toy, n=3)
    s.layers[0][0, 1, 2] = 1.0 * mip[0]  # a MIP in the first layer, then a shower
    s.layers[1][0, 1, 2] = 10.0 * mip[1]
    s.layers[2][0, 1, 2] = 10.0 * mip[2]
    for i in range(3):
        s.layers[i][1, 1, 2] = 10.0 * mip[i]  # starts at once
    s.layers[0][2, 1, 2] = 1.0 * mip[0]  # a MIP only: no start
    np.testing.assert_array_equal(ob.shower_start(s, threshold_mip=4.0, run=2), [1, 0, -1])
    assert ob.shower_start(s, threshold_mip=4.0, run=3)[0] == -1


def test_empty_event_is_nan_and_table_is_consistent(toy):
    s = empty(toy, n=2)
    s.layers[1][1, 0, 0] = 1.0
    t = ob.table(s)
    assert len(set(t)) == len(t)
    assert all(v.shape == (2,) and v.dtype == np.float64 for v in t.values())
    assert math.isnan(t["x_mean_mm"][0])
    assert t["e_total"][0] == 0.0
    assert t["e_total_over_incident"][1] == pytest.approx(0.1)
    assert "e_layer[2]" in t  # 3 layers: per-layer columns by default
    assert "e_layer[2]" not in ob.table(s, per_layer=False)
    filled = ob.table(s, fill_value=-1.0)
    assert filled["x_mean_mm"][0] == -1.0
    assert all(ob.unit_of(name) is not None for name in t)
    assert ob.unit_of("x_width_mm[0]") == "mm"
    assert ob.unit_of("e_layer[2]") == "GeV"
    assert ob.unit_of("e_total") == "GeV"
    assert ob.unit_of("moment3_z_mm") == "mm^3"


def test_batched_computation_equals_one_pass(toy, monkeypatch):
    rng = np.random.default_rng(0)
    flat = rng.gamma(1.0, 1.0, (50, toy.n_cells)).astype(np.float32)
    s = Showers.from_flat(toy, flat, np.full(50, 100.0))
    whole = ob.table(s)
    monkeypatch.setattr(ob, "MAX_BATCH_VALUES", 7 * toy.n_cells)
    batched = ob.table(s)
    for name in whole:
        np.testing.assert_allclose(batched[name], whole[name], rtol=1e-12, err_msg=name)


def test_atlas_emb1_strips_single_hit():
    atlas = get_geometry("atlas")
    emb1 = atlas.layers[0]
    assert emb1.shape == (128, 4)
    s = empty(atlas)
    row, col = 70, 1
    s.layers[0][0, row, col] = 2.0
    x, y = emb1.layout.centres_mm()[row * 4 + col]
    assert ob.centroid(s, "x")[0] == pytest.approx(x - atlas.anchor_mm[0])
    assert ob.centroid(s, "y")[0] == pytest.approx(y - atlas.anchor_mm[1])
    assert ob.centroid(s, "y", "rm")[0] == pytest.approx(
        (y - atlas.anchor_mm[1]) / emb1.material.rm_mm
    )
    assert ob.r9(s)[0] == 1.0
    # two strips 2 rows apart fall in one 3x3 window; 3 rows apart do not
    s.layers[0][0, row + 2, col] = 2.0
    assert ob.r9(s)[0] == 1.0
    s.layers[0][0, row + 2, col] = 0.0
    s.layers[0][0, row + 3, col] = 2.0
    assert ob.r9(s)[0] == 0.5
    y3 = emb1.layout.centres_mm()[(row + 3) * 4 + col][1]  # eta strips: y = R sinh(eta)
    assert ob.width(s, "y")[0] == pytest.approx(0.5 * (y3 - y), rel=1e-9)


def test_calogan_layer0_two_hits():
    calogan = get_geometry("calogan")
    layer0 = calogan.layers[0]
    assert layer0.shape == (3, 96)
    s = empty(calogan)
    s.layers[0][0, 1, 40] = 1.0
    s.layers[0][0, 1, 42] = 1.0
    dx, _ = layer0.layout.cell_size_mm()
    assert ob.layer_widths(s, "x")[0, 0] == pytest.approx(dx)
    assert ob.layer_widths(s, "x", "cell")[0, 0] == pytest.approx(1.0)
    assert ob.layer_widths(s, "y")[0, 0] == 0.0
    assert ob.e_ratio(s)[0, 0] == 0.0
    assert ob.r9(s)[0] == 1.0
    assert ob.shower_depth(s)[0] == 0.0
    assert ob.layer_occupancy(s)[0, 0] == pytest.approx(2 / 288)


def test_unknown_units_are_refused(toy):
    s = empty(toy)
    with pytest.raises(ValueError, match="unit"):
        ob.centroid(s, "z", "rm")
    with pytest.raises(ValueError, match="axis"):
        ob.centroid(s, "w")


MANY = """
name = "many"
title = "twelve layers"
citation = "test"
distance_from_ip_mm = 1000.0
[[layers]]
name = "front"
thickness_mm = 4.0
material = "W"
layout = { type = "grid", pitch_mm = [2.0, 4.0], shape = [3, 5] }
[[layers]]
name = "bulk"
repeat = 11
thickness_mm = 4.0
material = "W"
layout = { type = "grid", pitch_mm = [2.0, 4.0], shape = [3, 5] }
"""


@pytest.fixture(scope="module")
def many():
    return geometry_from_spec(MANY)


def test_per_layer_observables_of_a_many_layer_geometry(many):
    s = empty(many, n=2)
    s.layers[11][0, 2, 4] = 3.0  # y = +4 mm, x = +4 mm
    s.layers[11][0, 2, 3] = 1.0  # y = +4 mm, x = +2 mm
    s.layers[0][1, 0, 0] = 2.0  # y = -4 mm, x = -4 mm
    assert "e_layer[11]" not in ob.table(s)  # more than 8 layers: event-level columns only
    t = ob.table(s, per_layer=True)
    assert t["e_layer[11]"][0] == pytest.approx(4.0)
    assert t["e_frac[11]"][0] == pytest.approx(1.0)
    assert t["x_mean_mm[11]"][0] == pytest.approx(3.5)
    assert t["y_mean_mm[11]"][0] == pytest.approx(4.0)
    assert t["x_width_mm[11]"][0] == pytest.approx(math.sqrt(0.75 * 16 + 0.25 * 4 - 3.5**2))
    assert t["y_width_mm[11]"][0] == pytest.approx(0.0, abs=1e-12)
    assert t["e_ratio[11]"][0] == pytest.approx(0.5)
    assert t["occupancy[11]"][0] == pytest.approx(2 / 15)
    assert t["x_mean_mm[0]"][1] == pytest.approx(-4.0)
    assert sum(ob.is_per_layer(n) for n in t) == 12 * len(ob.PER_LAYER)
    # names: layer index, unique layer name, every layer; unknown layers are refused
    assert ob.resolve_names(["x_mean_mm[11]", "e_layer[front]", "r9"], many) == [
        "x_mean_mm[11]",
        "e_layer[0]",
        "r9",
    ]
    assert ob.resolve_names(["occupancy[*]"], many) == [f"occupancy[{i}]" for i in range(12)]
    with pytest.raises(ValueError, match="no layer '12'"):
        ob.resolve_names(["e_layer[12]"], many)
    with pytest.raises(ValueError, match="no per-layer observable"):
        ob.resolve_names(["r9[3]"], many)


def test_empty_layer_convention_follows_the_published_code(toy):
    s = empty(toy)
    s.layers[0][0, 0, 0] = 1.0  # layers 1 and 2 are empty
    t = ob.table(s)
    # CaloChallenge: sum(x E) / (sum E + 1e-16) = 0 and sqrt(max(<x^2> - <x>^2, 0)) = 0
    for name in ("x_mean_mm[1]", "y_mean_mm[2]", "x_width_mm[1]", "y_width_mm[2]", "e_ratio[1]"):
        assert t[name][0] == 0.0, name
    assert t["x_mean_mm[0]"][0] == pytest.approx(-4.0)
    undefined = ob.table(s, empty_layer="nan")
    assert math.isnan(undefined["x_mean_mm[1]"][0])
    assert undefined["x_mean_mm[0]"][0] == pytest.approx(-4.0)
    with pytest.raises(ValueError, match="empty_layer"):
        ob.table(s, empty_layer="drop")


def test_occupancy_is_named_for_what_it_is(toy):
    s = empty(toy)
    s.layers[1][0, 0, 0] = 1.0
    t = ob.table(s)
    assert t["occupancy[1]"][0] == pytest.approx(1 / 15)
    assert not [n for n in t if "sparsity" in n]
    with pytest.warns(FutureWarning, match="occupancy"):
        np.testing.assert_allclose(ob.sparsity(s)[0], [0.0, 1 / 15, 0.0])
    with pytest.warns(FutureWarning, match="now called 'occupancy"):
        assert ob.resolve_names(["sparsity_layer1"], toy) == ["occupancy[1]"]
    with pytest.warns(FutureWarning, match="now called 'x_width_mm"):
        assert ob.resolve_names(["x_width_layer2_mm"], toy) == ["x_width_mm[2]"]


def test_cell_threshold_zeroes_cells_before_every_observable(toy):
    s = empty(toy)
    s.layers[0][0, 1, 2] = 1.0  # axis
    s.layers[0][0, 1, 4] = 0.001  # x = +4 mm, below 2 MeV
    below = ob.table(s, threshold_gev=0.002)
    assert below["x_mean_mm"][0] == 0.0
    assert below["e_total"][0] == pytest.approx(1.0)
    assert below["n_hits"][0] == 1.0
    assert ob.table(s)["n_hits"][0] == 2.0
    per_layer = ob.table(s, threshold_gev=np.array([0.0, 0.002, 0.002]))
    assert per_layer["n_hits"][0] == 2.0
    with pytest.raises(ValueError, match="threshold"):
        ob.table(s, threshold_gev=-1.0)


def test_table_equals_the_single_observables(toy):
    rng = np.random.default_rng(3)
    flat = rng.gamma(0.5, 1.0, (40, toy.n_cells)) * (rng.random((40, toy.n_cells)) < 0.6)
    s = Showers.from_flat(toy, flat.astype(np.float32), np.full(40, 100.0))
    t = ob.table(s)
    np.testing.assert_allclose(t["x_mean_rm"], ob.centroid(s, "x", "rm"), rtol=1e-10)
    np.testing.assert_allclose(t["z_width_x0"], ob.width(s, "z", "x0"), rtol=1e-10)
    np.testing.assert_allclose(t["moment4_y_mm"], ob.moments(s, "y", (4,))[:, 0], rtol=1e-9)
    np.testing.assert_allclose(t["r9"], ob.r9(s), rtol=1e-12)
    np.testing.assert_allclose(t["shower_start_layer"], ob.shower_start(s))
    np.testing.assert_allclose(t["e_frac_last_third_x0"], ob.depth_thirds(s, "x0")[:, 2])
    for i in range(toy.n_layers):
        np.testing.assert_allclose(t[f"x_mean_mm[{i}]"], ob.layer_centroids(s, "x")[:, i])
        np.testing.assert_allclose(t[f"y_width_mm[{i}]"], ob.layer_widths(s, "y")[:, i])
        np.testing.assert_allclose(t[f"e_ratio[{i}]"], ob.e_ratio(s)[:, i])
        np.testing.assert_allclose(t[f"occupancy[{i}]"], ob.layer_occupancy(s)[:, i])
