"""The resampler: weights, conservation, round trips, numpy/torch, cache, physical scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import erf

from calogeo import (
    Geometry,
    GeometryMismatchError,
    Layer,
    Showers,
    geometry_from_spec,
    get_geometry,
)
from calogeo.energy_scale import cell_sampling_fractions
from calogeo.layout import CellLayout, EtaPhiLayout, GridLayout, PolygonLayout
from calogeo.materials import Material
from calogeo.resample import Resampler, build_overlaps, regular_grid_for
from calogeo.resample import cache as cache_module


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))


def medium(name: str, x0_mm: float, rm_mm: float) -> Material:
    return Material.from_lengths(
        name,
        x0_mm=x0_mm,
        rm_mm=rm_mm,
        lambda_i_mm=10 * x0_mm,
        density_g_cm3=10.0,
        z=50.0,
        dedx_min_mev_cm2_g=1.2,
    )


def stack(name: str, layers: list[tuple[CellLayout, Material, float]], **kw) -> Geometry:
    """A geometry from (layout, material, thickness in X0) per layer, touching in depth."""
    out, z = [], 0.0
    for i, (layout, material, depth_x0) in enumerate(layers):
        thickness = depth_x0 * material.x0_mm
        out.append(Layer(f"l{i}", z, z + thickness, material, layout))
        z += thickness
    return Geometry(name, out, **kw)


W_LIKE = medium("w_like", 3.5, 9.3)
PB_LIKE = medium("pb_like", 5.6, 16.0)
AR_LIKE = medium("ar_like", 20.0, 37.0)


def random_rectilinear(seed: int, name: str) -> Geometry:
    """Grid and eta-phi layers with random pitches, shapes, materials, depths and anchor."""
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(rng.integers(1, 4)):
        if rng.random() < 0.5:
            layout: CellLayout = GridLayout(*rng.uniform(3, 30, 2), *rng.integers(2, 9, 2))
        else:
            layout = EtaPhiLayout(
                rng.uniform(0.005, 0.03),
                rng.uniform(0.005, 0.03),
                int(rng.integers(2, 9)),
                int(rng.integers(2, 9)),
                rng.uniform(1200, 2000),
                rng.uniform(-1, 1),
            )
        material = [W_LIKE, PB_LIKE, AR_LIKE][rng.integers(3)]
        for _ in range(rng.integers(1, 3)):
            layers.append((layout, material, rng.uniform(0.5, 6)))
    return stack(name, layers, anchor_mm=tuple(rng.uniform(-5, 5, 2)))


def polygon_geometry(name: str = "hex") -> Geometry:
    return stack(
        name,
        [
            (PolygonLayout.hexagonal(12.0, 7, 8), PB_LIKE, 4.0),
            (PolygonLayout.r_alpha(np.array([0.0, 10.0, 25.0, 50.0]), 6), PB_LIKE, 5.0),
        ],
    )


def showers_for(geometry: Geometry, n: int, seed: int = 0, dtype=np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.exponential(1.0, size=(n, geometry.n_cells)) * (rng.random((n, geometry.n_cells)) < 0.6)
    return x.astype(dtype)


# -- identity and nesting -------------------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "general"])
def test_resampling_a_geometry_onto_itself_is_the_identity(method) -> None:
    geometry = random_rectilinear(3, "a")
    for g in (geometry, polygon_geometry()):
        w = Resampler(g, g, cache=False, method=method).weights
        np.testing.assert_allclose(w.toarray(), np.eye(g.n_cells), atol=1e-12)


def test_refine_then_coarsen_returns_the_input() -> None:
    coarse = stack("coarse", [(GridLayout(10.0, 8.0, 5, 4), W_LIKE, 2.0)] * 3)
    fine = stack("fine", [(GridLayout(5.0, 4.0, 10, 8), W_LIKE, 1.0)] * 6)
    x = showers_for(coarse, 7)
    refined = Resampler(coarse, fine, cache=False).apply_array(x)
    np.testing.assert_allclose(
        Resampler(fine, coarse, cache=False).apply_array(refined), x, rtol=1e-12
    )
    round_trip = Resampler(coarse, fine, cache=False, round_trip=True)
    assert round_trip.output_geometry is coarse
    np.testing.assert_allclose(round_trip.apply_array(x), x, rtol=1e-12)
    np.testing.assert_allclose(round_trip.weights.toarray(), np.eye(coarse.n_cells), atol=1e-12)


# -- fast path against the general path -----------------------------------------------------


@pytest.mark.parametrize("seed", range(8))
def test_separable_path_equals_polygon_clipping_on_random_rectilinear_geometries(seed) -> None:
    a, b = random_rectilinear(seed, "a"), random_rectilinear(100 + seed, "b")
    offset = tuple(np.random.default_rng(seed).uniform(-10, 10, 2))
    fast = Resampler(a, b, offset_mm=offset, cache=False).weights
    general = Resampler(a, b, offset_mm=offset, cache=False, method="general").weights
    assert fast.nnz > 0
    np.testing.assert_allclose(fast.toarray(), general.toarray(), rtol=0, atol=1e-9)


# -- conservation, positivity, coverage -----------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (random_rectilinear(11, "a"), random_rectilinear(12, "b")),
        (random_rectilinear(13, "a"), polygon_geometry()),
        (polygon_geometry(), random_rectilinear(14, "b")),
    ],
    ids=["grid-grid", "grid-polygons", "polygons-grid"],
)
@pytest.mark.parametrize("round_trip", [False, True])
def test_every_event_conserves_energy_out_plus_edge_loss(source, target, round_trip) -> None:
    resampler = Resampler(source, target, cache=False, round_trip=round_trip)
    x = showers_for(source, 20)
    out = resampler.apply_array(x)
    books = resampler.bookkeeping(Showers.from_flat(source, x.astype(np.float32), np.ones(20)))
    x32 = x.astype(np.float32).astype(np.float64)
    books64 = x32.sum(axis=1)
    np.testing.assert_allclose(books["energy_in"], books64, rtol=1e-12)
    exact = resampler.apply_array(x32)
    np.testing.assert_allclose(exact.sum(axis=1) + books["edge_loss"], books64, rtol=1e-9)
    np.testing.assert_allclose(books["energy_out"], exact.sum(axis=1), rtol=1e-9)
    assert out.shape == (20, resampler.output_geometry.n_cells)
    assert np.all(books["edge_loss"] >= -1e-12)


def test_weights_are_non_negative_and_columns_sum_to_the_covered_fraction() -> None:
    source = stack("small", [(GridLayout(5.0, 5.0, 6, 6), W_LIKE, 2.0)] * 2)
    target = stack("wide", [(PolygonLayout.hexagonal(9.0, 9, 9), PB_LIKE, 4.0)])
    resampler = Resampler(source, target, cache=False)
    w = resampler.weights
    assert w.data.min() >= 0.0
    columns = np.asarray(w.sum(axis=0)).ravel()
    np.testing.assert_allclose(columns, resampler.covered_fraction, rtol=1e-12)
    # The hexagon patch (R_M 16 mm) covers the whole 30 mm grid (R_M 9.3 mm) with room to spare.
    np.testing.assert_allclose(columns, 1.0, rtol=1e-12)
    shifted = Resampler(source, target, cache=False, offset_mm=(-35.0, 0.0)).weights
    fraction = np.asarray(shifted.sum(axis=0)).ravel()
    assert fraction.min() < 0.5
    assert fraction.max() == pytest.approx(1.0, rel=1e-12)


def test_energy_deeper_than_the_target_is_edge_loss() -> None:
    layout = GridLayout(5.0, 5.0, 4, 4)
    deep = stack("deep", [(layout, W_LIKE, 1.0)] * 4)
    shallow = stack("shallow", [(layout, W_LIKE, 1.5)])
    resampler = Resampler(deep, shallow, cache=False)
    np.testing.assert_allclose(
        resampler.covered_fraction.reshape(4, 16), [[1.0] * 16, [0.5] * 16, [0.0] * 16, [0.0] * 16]
    )
    x = np.zeros((1, deep.n_cells))
    x[0, 16 + 5] = 2.0  # second layer: half of it lies within the target's 1.5 X0
    np.testing.assert_allclose(resampler.apply_array(x)[0, 5], 1.0)


def test_area_overlaps_are_reciprocal() -> None:
    a, b = random_rectilinear(21, "a"), polygon_geometry()
    forward = build_overlaps(a, b).volumes()
    backward = build_overlaps(b, a).volumes()
    assert forward.nnz > 0
    np.testing.assert_allclose(forward.toarray(), backward.T.toarray(), rtol=0, atol=1e-12)


def test_offset_moves_the_source_anchor_by_that_many_target_millimetres() -> None:
    grid = stack("g", [(GridLayout(10.0, 10.0, 5, 5), W_LIKE, 1.0)])
    x = np.zeros((1, 25))
    x[0, 12] = 1.0  # centre cell
    moved = Resampler(grid, grid, offset_mm=(10.0, -20.0), cache=False).apply_array(x)
    assert moved[0].reshape(5, 5)[0, 3] == pytest.approx(1.0)


# -- apply: numpy, torch, Showers -----------------------------------------------------------


@pytest.mark.parametrize("round_trip", [False, True])
def test_numpy_and_torch_applies_agree(round_trip) -> None:
    source, target = random_rectilinear(31, "a"), polygon_geometry()
    for a, b in ((source, target), (target, source)):
        resampler = Resampler(a, b, cache=False, round_trip=round_trip)
        x = showers_for(a, 9, dtype=np.float32)
        expected = resampler.apply_array(x)
        got = resampler.apply_array(torch.from_numpy(x))
        assert isinstance(got, torch.Tensor)
        assert got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
        exact = (resampler.weights @ x.astype(np.float64).T).T
        np.testing.assert_allclose(expected, exact, rtol=1e-5, atol=1e-5)
        x64 = torch.from_numpy(x.astype(np.float64))
        np.testing.assert_allclose(resampler.apply_array(x64).numpy(), exact, rtol=1e-12)


def test_apply_keeps_labels_and_incident_energy_and_checks_the_geometry() -> None:
    source, target = random_rectilinear(41, "a"), random_rectilinear(42, "b")
    x = showers_for(source, 10, dtype=np.float32)
    showers = Showers.from_flat(source, x, np.arange(10.0), {"pdg": np.full(10, 22)})
    resampler = Resampler(source, target, cache=False)
    out = resampler.apply(showers, batch_size=3)
    assert out.geometry is target
    np.testing.assert_array_equal(out.incident_energy, showers.incident_energy)
    np.testing.assert_array_equal(out.labels["pdg"], 22)
    np.testing.assert_allclose(out.flat(), resampler.apply_array(x), rtol=1e-6)
    np.testing.assert_allclose(
        resampler.apply(showers, device="auto").flat(), out.flat(), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(GeometryMismatchError, match="maps from 'a'"):
        resampler.apply(Showers.empty(target, 2))
    with pytest.raises(GeometryMismatchError, match="needs"):
        resampler.apply_array(np.zeros((2, 3), dtype=np.float32))


# -- cache ----------------------------------------------------------------------------------


def test_weights_are_cached_on_disk_and_a_corrupt_entry_is_rebuilt(tmp_path, monkeypatch) -> None:
    a, b = random_rectilinear(51, "a"), polygon_geometry()
    first = Resampler(a, b)
    entries = list((tmp_path / "cache" / "resample").glob("*.npz"))
    assert len(entries) == 1

    def no_build(*args, **kwargs):
        msg = "should have been loaded from the cache"
        raise AssertionError(msg)

    monkeypatch.setattr(cache_module, "build_overlaps", no_build)
    loaded = Resampler(a, b)
    assert (loaded.weights != first.weights).nnz == 0
    monkeypatch.undo()
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))
    entries[0].write_bytes(b"not a zip file")
    rebuilt = Resampler(a, b)
    np.testing.assert_allclose(rebuilt.weights.toarray(), first.weights.toarray())
    assert entries[0].read_bytes()[:2] == b"PK"
    Resampler(a, b, offset_mm=(1.0, 0.0))
    assert len(list((tmp_path / "cache" / "resample").glob("*.npz"))) == 2
    Resampler(a, b, cache=tmp_path / "elsewhere")
    assert len(list((tmp_path / "elsewhere").glob("*.npz"))) == 1


# -- physical scaling -----------------------------------------------------------------------


def _width(energy: np.ndarray, centres: np.ndarray) -> float:
    mean = energy @ centres / energy.sum()
    return math.sqrt(energy @ (centres - mean) ** 2 / energy.sum())


def test_a_one_moliere_radius_blob_keeps_its_width_through_clic_cms_clic() -> None:
    # The registered seed-variant CLIC ECAL (5.1 mm cells, pure-W R_M 9.327 mm) and the CMS
    # barrel (22 mm crystals, GFlash R_M 21.9 mm), both from the detectors plugin.
    clic, cms = get_geometry("clic_seed"), get_geometry("cms")
    b = clic.layers[0].cell_size_rm()[0]
    a = cms.layers[0].cell_size_rm()[0]
    assert b == pytest.approx(0.55, abs=0.01)
    assert a == pytest.approx(1.0, abs=0.01)
    # A Gaussian of sigma = 1 R_M integrated exactly over the first layer's CLIC cells.
    layout = clic.layers[0].layout
    edges = layout.x_edges_mm / clic.layers[0].material.rm_mm
    profile = np.diff(0.5 * (1 + erf(edges / math.sqrt(2))))
    blob = np.outer(profile, profile).ravel()
    x = np.zeros((1, clic.n_cells))
    x[0, : layout.n_cells] = blob
    resampler = Resampler(clic, cms, round_trip=True, cache=False, output_scale="deposited")
    out = resampler.apply_array(x)[0].reshape(clic.n_layers, -1).sum(axis=0)
    centres = layout.centres_mm()[:, 0] / clic.layers[0].material.rm_mm
    before, after = _width(blob, centres), _width(out, centres)
    # Binning error, per axis, from Sheppard's correction (a density read on cells of width h
    # measures h^2/12 more variance, and spreading a cell's content uniformly over it adds
    # h^2/12): sharing each CLIC cell's energy by area treats it as uniform over the cell
    # (+ b^2/12), collecting into CMS crystals (+ a^2/12), spreading back uniformly over each
    # crystal (+ a^2/12) and reading the result on CLIC cells again (+ b^2/12):
    #     after^2 = before^2 + (a^2 + b^2) / 6,   before^2 = sigma^2 + b^2/12.
    # The blob keeps its 1 R_M width up to that term (about 0.11 R_M here).
    assert before == pytest.approx(math.sqrt(1 + b**2 / 12), rel=1e-4)
    assert after == pytest.approx(math.sqrt(before**2 + (a**2 + b**2) / 6), rel=2e-3)
    assert 1.0 < after < math.sqrt(1 + (a**2 + b**2) / 6 + b**2 / 12) + 2e-3
    # The round trip keeps the deposited energy (visible over the sampling fraction).
    assert out.sum() == pytest.approx(blob.sum() / clic.layers[0].sampling_fraction, rel=1e-9)


# -- the voxel grid -------------------------------------------------------------------------


def test_regular_grid_covers_the_geometry_with_its_finest_pitch() -> None:
    geometry = stack(
        "atlas_like",
        [
            (EtaPhiLayout(0.025 / 8, math.pi / 32, 16, 4, 1550.0), AR_LIKE, 4.3),
            (EtaPhiLayout(0.025, math.pi / 128, 8, 8, 1700.0), AR_LIKE, 16.0),
        ],
        anchor_mm=(1.0, -2.0),
    )
    grid = regular_grid_for(geometry)
    assert grid.is_regular_grid
    assert grid.n_layers == geometry.n_layers
    layout = grid.layers[0].layout
    assert layout.pitch_x_mm == pytest.approx(1700.0 * math.pi / 128)
    assert layout.pitch_y_mm == pytest.approx(np.diff(geometry.layers[0].layout.y_edges_mm).min())
    for layer in geometry.layers:
        x0, x1, y0, y1 = layer.layout.extent_mm()
        gx0, gx1, gy0, gy1 = layout.extent_mm()
        assert gx0 <= x0 <= x1 <= gx1
        assert gy0 <= y0 <= y1 <= gy1
    assert np.allclose(grid.x0_edges, geometry.x0_edges)
    assert grid.anchor_mm == (1.0, -2.0)
    assert geometry_from_spec(grid.spec_text) == grid
    resampler = Resampler(geometry, grid, cache=False)
    np.testing.assert_allclose(resampler.covered_fraction, 1.0, rtol=1e-12)
    x = showers_for(geometry, 3)
    np.testing.assert_allclose(resampler.apply_array(x).sum(axis=1), x.sum(axis=1), rtol=1e-12)


# -- engines ----------------------------------------------------------------------------------


@pytest.mark.parametrize("forward", [True, False])
def test_fused_numba_pass_matches_the_numpy_reference_and_the_matrix_products(forward) -> None:
    from calogeo.resample.apply import spread_back, terms_for, transfer
    from calogeo.resample.kernel import apply_terms_reference

    source, target = random_rectilinear(61, "a"), polygon_geometry()
    for a, b in ((source, target), (target, source), (source, random_rectilinear(62, "b"))):
        overlaps = build_overlaps(a, b)
        n_in = overlaps.n_source if forward else overlaps.n_target
        x = np.random.default_rng(0).random((6, n_in))
        step = transfer if forward else spread_back
        fused, products = step(overlaps, x), step(overlaps, x, engine="products")
        np.testing.assert_allclose(fused, products, rtol=1e-12, atol=1e-14)
        terms = terms_for(overlaps, forward=forward)
        n_out = overlaps.n_target if forward else overlaps.n_source
        scaled = (
            x
            if forward
            else x
            / np.where(overlaps.target_covered_volume > 0, overlaps.target_covered_volume, np.inf)
        )
        np.testing.assert_allclose(
            apply_terms_reference(terms, scaled, n_out), fused, rtol=1e-12, atol=1e-14
        )


def test_layer_combination_kernel_matches_a_matrix_product() -> None:
    from calogeo.resample.combine import combine_layers

    rng = np.random.default_rng(5)
    src = rng.random((4, 2 + 5 * 6))
    weights = rng.random((3, 5)) * (rng.random((3, 5)) < 0.5)
    dst = rng.random((4, 1 + 3 * 6))
    expected = dst.copy()
    expected[:, 1:] += (weights @ src[:, 2:].reshape(4, 5, 6)).reshape(4, 18)
    combine_layers(weights, src, 2, dst, 1, 6)
    np.testing.assert_allclose(dst, expected, rtol=1e-14)


def test_clic_to_atlas_separable_weights_equal_polygon_clipping() -> None:
    clic, atlas = get_geometry("clic_ecal_rec"), get_geometry("atlas")
    fast = Resampler(clic, atlas, cache=False, output_scale="deposited").weights
    general = Resampler(clic, atlas, cache=False, method="general", output_scale="deposited")
    np.testing.assert_allclose(fast.toarray(), general.weights.toarray(), rtol=0, atol=1e-9)
    # Deposited energy out per visible GeV in: the covered fraction over the sampling fraction.
    columns = np.asarray(fast.sum(axis=0)).ravel() * cell_sampling_fractions(clic)
    assert columns.max() <= 1.0 + 1e-12
    # The 0.4 x 0.4 ATLAS window (about 16 R_M) holds the 25x25 REC window (about 8 R_M).
    np.testing.assert_allclose(columns, 1.0, rtol=1e-12)


def test_layers_with_the_same_spec_but_different_outlines_are_not_confused(tmp_path) -> None:
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    spec = {"type": "polygons", "shape": [1, 1]}
    left = PolygonLayout.from_polygons([square - 10.0], (1, 1), spec)
    right = PolygonLayout.from_polygons([square], (1, 1), spec)
    grid = stack("grid", [(GridLayout(10.0, 10.0, 2, 2), W_LIKE, 2.0)])
    both = stack("both", [(left, W_LIKE, 1.0), (right, W_LIKE, 1.0)])
    w = Resampler(both, grid, cache=tmp_path).weights.toarray()
    np.testing.assert_allclose(w, [[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    swapped = stack("both", [(right, W_LIKE, 1.0), (left, W_LIKE, 1.0)])
    w = Resampler(swapped, grid, cache=tmp_path).weights.toarray()
    np.testing.assert_allclose(w, [[0.0, 1.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
