"""Polygon clipping and 1D overlaps against shapely and direct formulas."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from calogeo.clip import clip_area, piece_overlaps, polygon_area
from calogeo.layout import ConvexPieces, PolygonLayout
from calogeo.resample.overlap1d import interval_overlaps


def convex_polygon(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise hull vertices (k, 2) of a point cloud (shapely's hull is CCW-normalised)."""
    hull = shapely.convex_hull(shapely.multipoints(points))
    return np.asarray(shapely.get_coordinates(shapely.orient_polygons(hull)))[:-1]


point_clouds = st.integers(0, 2**32 - 1).map(
    lambda seed: (
        np.random.default_rng(seed).uniform(-1, 1, size=(8, 2))
        * np.random.default_rng(seed + 1).uniform(0.1, 3, size=2)
        + np.random.default_rng(seed + 2).uniform(-1, 1, size=2)
    )
)


@settings(max_examples=300, deadline=None)
@given(point_clouds, point_clouds)
def test_clip_area_equals_shapely_on_random_convex_polygons(a_points, b_points) -> None:
    a, b = convex_polygon(a_points), convex_polygon(b_points)
    expected = shapely.Polygon(a).intersection(shapely.Polygon(b)).area
    assert abs(clip_area(a, len(a), b, len(b)) - expected) <= 1e-9
    assert abs(clip_area(b, len(b), a, len(a)) - expected) <= 1e-9


def test_clip_area_of_identical_nested_and_disjoint_squares() -> None:
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    assert clip_area(square, 4, square, 4) == 1.0
    assert abs(clip_area(square * 0.5 + 0.25, 4, square, 4) - 0.25) < 1e-15
    assert clip_area(square + 2.0, 4, square, 4) == 0.0
    assert clip_area(square + np.array([1.0, 0.0]), 4, square, 4) == 0.0  # shares an edge only
    assert abs(polygon_area(square, 4) - 1.0) < 1e-15
    assert abs(polygon_area(square[::-1].copy(), 4) + 1.0) < 1e-15


def random_pieces(seed: int, n: int, spread: float) -> ConvexPieces:
    rng = np.random.default_rng(seed)
    polygons = [convex_polygon(rng.normal(size=(6, 2)) * rng.uniform(0.2, 1.0)) for _ in range(n)]
    polygons = [p + rng.uniform(-spread, spread, 2) for p in polygons]
    return PolygonLayout.from_polygons(polygons, (1, n), {"type": "polygons"}).pieces()


def test_piece_overlaps_finds_every_overlapping_pair_as_shapely_does() -> None:
    src, tgt = random_pieces(1, 60, 4.0), random_pieces(2, 50, 4.0)
    si, ti, area = piece_overlaps(src, tgt)
    got = np.zeros((len(src), len(tgt)))
    got[si, ti] = area
    polys = [
        [shapely.Polygon(p.vertices[i, : p.n_vertices[i]]) for i in range(len(p))]
        for p in (src, tgt)
    ]
    expected = np.array([[a.intersection(b).area for b in polys[1]] for a in polys[0]])
    assert np.count_nonzero(expected) > 50
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert np.all(area > 0)


def test_piece_overlaps_of_hexagons_tile_the_grid_they_cover() -> None:
    hexes = PolygonLayout.hexagonal(1.0, 10, 10).pieces()
    grid = PolygonLayout.from_polygons(
        [
            np.array([[x, y], [x + 0.3, y], [x + 0.3, y + 0.3], [x, y + 0.3]])
            for x in np.arange(-1.5, 1.5, 0.3)
            for y in np.arange(-1.5, 1.5, 0.3)
        ],
        (10, 10),
        {"type": "polygons"},
    ).pieces()
    si, _, area = piece_overlaps(grid, hexes)
    covered = np.bincount(si, area, minlength=len(grid))
    np.testing.assert_allclose(covered, 0.09, rtol=1e-12)  # deep inside the hexagon patch


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_interval_overlaps_match_a_direct_loop(seed) -> None:
    rng = np.random.default_rng(seed)
    a = np.sort(rng.uniform(-3, 3, rng.integers(2, 9)))
    b = np.sort(rng.uniform(-3, 3, rng.integers(2, 9)))
    got = interval_overlaps(a, b)
    for t in range(len(b) - 1):
        for s in range(len(a) - 1):
            expected = max(0.0, min(a[s + 1], b[t + 1]) - max(a[s], b[t]))
            assert abs(got[t, s] - expected) < 1e-15
    inside = (a[:-1] >= b[0]) & (a[1:] <= b[-1])
    np.testing.assert_allclose(got.sum(axis=0)[inside], np.diff(a)[inside], rtol=1e-12)
