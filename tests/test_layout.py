"""Cell layouts: centres, areas, outlines and point location for every layout kind."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from calogeo.layout import (
    CellLayout,
    ConvexPieces,
    EtaPhiLayout,
    GridLayout,
    PolygonLayout,
    RAlphaLayout,
)

LAYOUTS = {
    "grid": lambda: GridLayout(5.1, 4.0, n_x=7, n_y=5),
    "eta_phi": lambda: EtaPhiLayout(0.025, math.pi / 128, 16, 12, radius_mm=1745.8),
    "eta_phi_off_centre": lambda: EtaPhiLayout(0.05, 0.1, 9, 4, radius_mm=1500.0, eta_centre=1.2),
    "hexagonal": lambda: PolygonLayout.hexagonal(10.0, 6, 5),
    "r_alpha": lambda: PolygonLayout.r_alpha(np.array([0.0, 4.65, 9.3, 20.0, 45.0]), 16),
}


@pytest.fixture(params=sorted(LAYOUTS))
def layout(request: pytest.FixtureRequest) -> CellLayout:
    return LAYOUTS[request.param]()


def _shapely_cells(layout: CellLayout) -> list[shapely.Geometry]:
    """Each cell as a shapely (multi)polygon, the reference for areas and containment."""
    p = layout.pieces()
    parts: list[list[shapely.Geometry]] = [[] for _ in range(layout.n_cells)]
    for i in range(len(p)):
        parts[p.cell[i]].append(shapely.Polygon(p.vertices[i, : p.n_vertices[i]]))
    return [shapely.union_all(cell) for cell in parts]


def test_shapes_and_counts_agree(layout: CellLayout) -> None:
    rows, cols = layout.shape
    assert layout.n_cells == rows * cols
    assert layout.centres_mm().shape == (layout.n_cells, 2)
    assert layout.areas_mm2().shape == (layout.n_cells,)
    assert set(layout.pieces().cell.tolist()) == set(range(layout.n_cells))


def test_areas_match_shapely(layout: CellLayout) -> None:
    reference = np.array([cell.area for cell in _shapely_cells(layout)])
    np.testing.assert_allclose(layout.areas_mm2(), reference, rtol=1e-9)
    assert np.all(layout.areas_mm2() > 0)


def test_pieces_are_counter_clockwise(layout: CellLayout) -> None:
    assert np.all(layout.pieces().areas_mm2() > 0)


def test_cells_do_not_overlap(layout: CellLayout) -> None:
    cells = _shapely_cells(layout)
    union = shapely.union_all(cells)
    assert union.area == pytest.approx(sum(c.area for c in cells), rel=1e-9)


def test_locate_finds_each_centre_in_its_own_cell(layout: CellLayout) -> None:
    centres = layout.centres_mm()
    found = layout.locate(centres[:, 0], centres[:, 1])
    np.testing.assert_array_equal(found, np.arange(layout.n_cells))


def test_locate_agrees_with_shapely_on_random_points(layout: CellLayout) -> None:
    x0, x1, y0, y1 = layout.extent_mm()
    rng = np.random.default_rng(7)
    x = rng.uniform(x0 - 5, x1 + 5, 2000)
    y = rng.uniform(y0 - 5, y1 + 5, 2000)
    found = layout.locate(x, y)
    cells = _shapely_cells(layout)
    points = shapely.points(x, y)
    for i, cell in enumerate(cells):
        inside = shapely.contains(cell, points)
        # Points on an edge may go to either neighbour; random points never hit one.
        np.testing.assert_array_equal(found == i, inside)
    outside = ~np.any([shapely.covers(c, points) for c in cells], axis=0)
    assert outside.any()
    np.testing.assert_array_equal(found[outside], -1)


def test_locate_keeps_the_input_shape(layout: CellLayout) -> None:
    centres = layout.centres_mm()[:6].reshape(2, 3, 2)
    assert layout.locate(centres[..., 0], centres[..., 1]).shape == (2, 3)


def test_far_points_are_outside(layout: CellLayout) -> None:
    x0, x1, y0, y1 = layout.extent_mm()
    far_x = np.array([x0 - 1.0, x1 + 1.0, 0.5 * (x0 + x1), 0.5 * (x0 + x1)])
    far_y = np.array([0.5 * (y0 + y1), 0.5 * (y0 + y1), y0 - 1.0, y1 + 1.0])
    np.testing.assert_array_equal(layout.locate(far_x, far_y), -1)


# -- per-kind numbers ----------------------------------------------------------------------------


def test_grid_numbers() -> None:
    g = GridLayout(5.1, 4.0, n_x=7, n_y=5)
    assert g.shape == (5, 7)
    np.testing.assert_allclose(g.areas_mm2(), 5.1 * 4.0)
    assert g.extent_mm() == pytest.approx((-17.85, 17.85, -10.0, 10.0))
    assert g.cell_size_mm() == pytest.approx((5.1, 4.0))
    # Flat index = row * cols + col with rows along y: the cell right of the centre is +1,
    # the one above it is +cols.
    centre = g.locate(np.array([0.0]), np.array([0.0]))[0]
    assert centre == 2 * 7 + 3
    assert g.locate(np.array([5.1]), np.array([0.0]))[0] == centre + 1
    assert g.locate(np.array([0.0]), np.array([4.0]))[0] == centre + 7
    # Half-open cells: the low edge belongs to the window, the high edge does not.
    low_x, high_x, low_y = g.x_edges_mm[0], g.x_edges_mm[-1], g.y_edges_mm[0]
    assert g.locate(np.array([low_x]), np.array([low_y]))[0] == 0
    assert g.locate(np.array([high_x]), np.array([0.0]))[0] == -1


def test_eta_phi_cells_in_mm() -> None:
    radius, d_eta, d_phi = 1745.8, 0.025, math.pi / 128
    layout = EtaPhiLayout(d_eta, d_phi, 16, 16, radius_mm=radius)
    assert np.diff(layout.x_edges_mm) == pytest.approx(radius * d_phi)
    eta_edges = (np.arange(17) - 8) * d_eta
    np.testing.assert_allclose(layout.y_edges_mm, radius * np.sinh(eta_edges))
    # Rows along eta widen away from eta = 0 as R cosh(eta) d_eta.
    heights = np.diff(layout.y_edges_mm)
    assert heights[8] == pytest.approx(radius * d_eta, rel=1e-3)
    assert np.all(heights[8:-1] < heights[9:])
    assert layout.areas_mm2().sum() == pytest.approx(
        (layout.x_edges_mm[-1] - layout.x_edges_mm[0])
        * (layout.y_edges_mm[-1] - layout.y_edges_mm[0])
    )


def test_eta_phi_window_is_centred_on_eta_centre() -> None:
    layout = EtaPhiLayout(0.05, 0.1, 9, 4, radius_mm=1500.0, eta_centre=1.2)
    # The centre row (odd count) straddles y = 0, the point at eta_centre.
    assert layout.locate(np.array([1.0]), np.array([0.0]))[0] // 4 == 4
    assert layout.y_edges_mm[0] < 0 < layout.y_edges_mm[-1]
    # Above eta_centre the rows are taller than below it.
    heights = np.diff(layout.y_edges_mm)
    assert heights[-1] > heights[0]


def test_hexagon_numbers() -> None:
    pitch = 10.0
    hexes = PolygonLayout.hexagonal(pitch, 6, 5)
    np.testing.assert_allclose(hexes.areas_mm2(), math.sqrt(3) / 2 * pitch**2)
    centres = hexes.centres_mm().reshape(6, 5, 2)
    # Neighbours in a row are one pitch apart; odd rows are shifted by half a pitch.
    np.testing.assert_allclose(np.diff(centres[..., 0], axis=1), pitch)
    np.testing.assert_allclose(centres[1, :, 0] - centres[0, :, 0], pitch / 2)
    np.testing.assert_allclose(np.diff(centres[:, 0, 1]), 1.5 * pitch / math.sqrt(3))
    assert centres[..., 0].mean() == pytest.approx(0.0)
    assert centres[..., 1].mean() == pytest.approx(0.0)


def test_r_alpha_areas_sum_to_the_disc() -> None:
    r_max, n_alpha = 45.0, 16
    layout = PolygonLayout.r_alpha(np.array([0.0, 4.65, 9.3, 20.0, r_max]), n_alpha)
    segments = len(layout.pieces()) // (n_alpha * 4)
    n_sides = n_alpha * segments
    # The cells tile the regular polygon that the arc polylines make...
    polygon_area = 0.5 * n_sides * r_max**2 * math.sin(2 * math.pi / n_sides)
    assert layout.areas_mm2().sum() == pytest.approx(polygon_area, rel=1e-12)
    # ...which is within the arc-polyline error of the disc: 1 - sin(t)/t ~ t^2/6 for the
    # angle t = 2 pi / n_sides of one chord (the default keeps the sagitta under 0.5% of r).
    chord_angle = 2 * math.pi / n_sides
    disc = math.pi * r_max**2
    assert abs(layout.areas_mm2().sum() - disc) / disc <= chord_angle**2 / 6 * 1.01
    assert abs(layout.areas_mm2().sum() - disc) / disc < 0.01


def test_r_alpha_ring_areas_and_order() -> None:
    edges = np.array([0.0, 10.0, 20.0])
    layout = PolygonLayout.r_alpha(edges, 8, arc_segments=64)
    assert layout.shape == (8, 2)
    areas = layout.areas_mm2().reshape(8, 2)
    ring = math.pi * np.diff(edges**2) / 8
    np.testing.assert_allclose(areas, np.broadcast_to(ring, (8, 2)), rtol=2e-3)
    # Rows go counter-clockwise in alpha from 0, columns outwards in r.
    centres = layout.centres_mm().reshape(8, 2, 2)
    angles = np.arctan2(centres[:, 0, 1], centres[:, 0, 0]) % (2 * math.pi)
    np.testing.assert_allclose(angles, (np.arange(8) + 0.5) * 2 * math.pi / 8, atol=1e-9)
    assert np.all(np.hypot(*centres[:, 1].T) > np.hypot(*centres[:, 0].T))


def test_r_alpha_outside_the_outer_radius() -> None:
    layout = PolygonLayout.r_alpha(np.array([0.0, 5.0, 10.0]), 4)
    assert layout.locate(np.array([10.5, 0.0]), np.array([0.0, -10.5])).tolist() == [-1, -1]
    assert layout.locate(np.array([0.1]), np.array([0.1]))[0] == 0


# -- cell centres: exact centroids, and the published convention of r-alpha bins ---------------


def _random_convex_polygon(rng: np.random.Generator) -> np.ndarray:
    """The convex hull (4 vertices or more) of up to 12 random points, far from the origin and
    very irregular."""
    while True:
        points = rng.normal(size=(rng.integers(4, 13), 2)) * rng.uniform(1, 30, 2)
        hull = shapely.convex_hull(shapely.MultiPoint(points + rng.uniform(-100, 100, 2)))
        if len(hull.exterior.coords) > 4:
            return np.asarray(hull.exterior.coords)[:-1]


def test_polygon_centres_are_the_exact_centroids() -> None:
    """Cells of one and of two convex pieces: the centre is shapely's centroid of the cell."""
    rng = np.random.default_rng(11)
    polygons = [_random_convex_polygon(rng) for _ in range(40)]
    layout = PolygonLayout.from_polygons(polygons, (5, 8), {"type": "polygons"})
    reference = np.array([shapely.Polygon(p).centroid.coords[0] for p in polygons])
    np.testing.assert_allclose(layout.centres_mm(), reference, rtol=0, atol=1e-9)
    # Each polygon split along a chord into two convex pieces of the same cell.
    vertices, counts, cells = [], [], []
    for i, poly in enumerate(polygons):
        k = len(poly) // 2
        for piece in (poly[: k + 1], np.vstack([poly[k:], poly[:1]])):
            vertices.append(piece)
            counts.append(len(piece))
            cells.append(i)
    padded = np.full((len(vertices), max(counts), 2), np.nan)
    for j, piece in enumerate(vertices):
        padded[j, : len(piece)] = piece
    split = PolygonLayout(
        ConvexPieces(padded, np.array(counts), np.array(cells)), (5, 8), {"type": "polygons"}
    )
    np.testing.assert_allclose(split.centres_mm(), reference, rtol=0, atol=1e-9)


CALOCHALLENGE_2_EDGES = np.array([0.0, 4.65, 9.3, 13.95, 18.6, 23.25, 27.9, 32.55, 37.2, 41.85])


def test_r_alpha_centres_are_the_sector_centroids() -> None:
    """CaloChallenge dataset 2 binning: ring 2 (4.65-9.3 mm, 16 sectors) has its centroid at
    7.187 mm, whatever the number of segments the arcs are drawn with."""
    layout = PolygonLayout.r_alpha(CALOCHALLENGE_2_EDGES, 16)
    assert isinstance(layout, RAlphaLayout)
    radii = np.hypot(*layout.centres_mm().T).reshape(16, 9)
    assert radii[0, 1] == pytest.approx(7.187, abs=5e-4)
    np.testing.assert_allclose(radii, np.broadcast_to(radii[0], (16, 9)), rtol=1e-12)
    # The polylines converge on the sectors: the shoelace centroid of finely drawn cells.
    fine = PolygonLayout.r_alpha(CALOCHALLENGE_2_EDGES, 16, arc_segments=256)
    np.testing.assert_allclose(
        PolygonLayout.centres_mm(fine), layout.centres_mm(), rtol=0, atol=1e-4
    )
    # A full ring (one alpha bin) is centred on the axis.
    ring = PolygonLayout.r_alpha(np.array([0.0, 5.0, 10.0]), 1)
    np.testing.assert_allclose(ring.centres_mm(), 0.0, atol=1e-12)


def test_r_alpha_reference_centres_are_the_bin_midpoints() -> None:
    """The CaloChallenge code's convention: r bin midpoint at the alpha bin centre."""
    layout = PolygonLayout.r_alpha(CALOCHALLENGE_2_EDGES, 16)
    points = layout.reference_centres_mm().reshape(16, 9, 2)
    np.testing.assert_allclose(np.hypot(*points[0, :3].T), [2.325, 6.975, 11.625], rtol=1e-12)
    angles = np.arctan2(points[:, 0, 1], points[:, 0, 0]) % (2 * math.pi)
    np.testing.assert_allclose(angles, (np.arange(16) + 0.5) * 2 * math.pi / 16, atol=1e-12)
    # Layouts without a published convention use their centroids.
    grid = GridLayout(5.0, 5.0, n_x=3, n_y=2)
    np.testing.assert_array_equal(grid.reference_centres_mm(), grid.centres_mm())


def test_interior_points_lie_in_their_cells(layout: CellLayout) -> None:
    points = layout.interior_points_mm()
    np.testing.assert_array_equal(layout.locate(*points.T), np.arange(layout.n_cells))


def test_a_full_ring_has_its_centre_on_the_axis_and_an_interior_point_inside() -> None:
    """One alpha bin (CaloChallenge dataset 1): the centroid of a ring is the axis, outside it."""
    rings = PolygonLayout.r_alpha(np.array([0.0, 5.0, 10.0, 30.0]), 1)
    np.testing.assert_allclose(rings.centres_mm(), 0.0, atol=1e-9)
    np.testing.assert_array_equal(rings.locate(*rings.interior_points_mm().T), [0, 1, 2])
