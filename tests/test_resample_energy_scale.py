"""The resampler moves deposited energy: visible energy over each layer's sampling fraction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import erf, gammainc

from calogeo import Geometry, Layer, Showers, get_geometry
from calogeo.energy_scale import cell_sampling_fractions, layer_sampling_fractions
from calogeo.layout import GridLayout
from calogeo.materials import Material
from calogeo.resample import Resampler
from calogeo.resample.apply import spread_back, transfer


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))


W_LIKE = Material.from_lengths(
    "w_like", x0_mm=3.5, rm_mm=9.3, lambda_i_mm=35.0, density_g_cm3=19.3, z=74.0,
    dedx_min_mev_cm2_g=1.145,
)  # fmt: skip


def sampled(name: str, layers: list[tuple[GridLayout, float, float | None]]) -> Geometry:
    """A geometry from (layout, thickness in X0, sampling fraction) per layer."""
    out, z = [], 0.0
    for i, (layout, depth_x0, fraction) in enumerate(layers):
        thickness = depth_x0 * W_LIKE.x0_mm
        out.append(Layer(f"l{i}", z, z + thickness, W_LIKE, layout, fraction))
        z += thickness
    return Geometry(name, out)


FINE = GridLayout(5.0, 5.0, 6, 6)
COARSE = GridLayout(12.0, 12.0, 2, 2)  # 24 mm: smaller than the fine 30 mm window (edge loss)
# The absorber doubles and the sampling fraction halves after two layers, like CLIC's layer 17;
# the target is homogeneous in its first layer and sampled in the second, 1 X0 shallower.
SOURCE = sampled(
    "fine", [(FINE, 1.0, 0.05), (FINE, 1.0, 0.05), (FINE, 2.0, 0.025), (FINE, 2.0, 0.025)]
)
TARGET = sampled("coarse", [(COARSE, 2.5, None), (COARSE, 2.5, 0.2)])


def smooth_event(geometry: Geometry, total_gev: float = 50.0) -> np.ndarray:
    """(1, cells) visible energy of a shower with a smooth longitudinal profile: a Gamma
    distribution in depth (a = 4, b = 0.5 per X0) integrated over each layer, a Gaussian of
    1 R_M across, both exact per cell; each layer's deposit times its sampling fraction."""
    edges = np.append(geometry.x0_edges[:, 0], geometry.x0_edges[-1, 1])
    deposited = total_gev * np.diff(gammainc(4.0, 0.5 * edges))
    cells = []
    for layer, energy, fraction in zip(
        geometry.layers, deposited, layer_sampling_fractions(geometry), strict=True
    ):
        rm = layer.material.rm_mm
        xs = np.diff(0.5 * (1 + erf(layer.layout.x_edges_mm / rm / math.sqrt(2))))
        ys = np.diff(0.5 * (1 + erf(layer.layout.y_edges_mm / rm / math.sqrt(2))))
        cells.append(energy * fraction * np.outer(ys, xs).ravel())
    return np.concatenate(cells)[None]


def per_layer(geometry: Geometry, cells: np.ndarray) -> np.ndarray:
    return np.add.reduceat(cells[0], geometry.layer_offsets[:-1])


@pytest.mark.parametrize("via", ["atlas", "cms"])
def test_clic_round_trip_keeps_a_smooth_profile_smooth_across_the_sampling_change(via) -> None:
    # CLIC: 17 layers of 2.4 mm W (sampling fraction 0.035), then 8 of 4.8 mm (0.018). The
    # visible energy per layer is smooth across the change (twice the deposit, half the
    # fraction); moving visible energy by X0 alone doubled it at layer 18 after a round trip.
    clic = get_geometry("clic_ecal_rec")
    fractions = layer_sampling_fractions(clic)
    assert fractions[17] / fractions[16] == pytest.approx(0.53, abs=0.01)
    x = smooth_event(clic)
    before = per_layer(clic, x)
    after = per_layer(clic, Resampler(clic, get_geometry(via), round_trip=True).apply_array(x))
    step_in, step_out = before[17] / before[16], after[17] / after[16]
    assert 0.8 < step_in < 1.0  # smooth: twice the deposit, half the fraction
    # The round trip blurs the profile over the target's layers (ATLAS layer 2 and the CMS
    # crystal hold both CLIC layers), but leaves no step: 1.04 where moving visible energy
    # by X0 alone gave 1.96.
    assert 0.8 < step_out < 1.25
    # On the source's visible scale: the deposit per X0 is continuous where the target is.
    depth = np.diff(clic.x0_edges, axis=1).ravel()
    per_x0 = after / fractions / depth
    assert per_x0[17] == pytest.approx(per_x0[16], rel=0.05)


def test_visible_output_is_the_target_read_out_of_the_deposited_energy() -> None:
    x = smooth_event(SOURCE)
    visible = Resampler(SOURCE, TARGET).apply_array(x)
    deposited = Resampler(SOURCE, TARGET, output_scale="deposited").apply_array(x)
    np.testing.assert_allclose(visible, deposited * cell_sampling_fractions(TARGET), rtol=1e-12)
    # Target layer 0 (0-2.5 X0) holds the deposit of source layers 0 and 1 and a quarter of
    # layer 2 (2-4 X0) inside its 24 mm window: fine cells at the edge are 2 of 5 mm inside.
    edge = np.array([0.4, 1, 1, 1, 1, 0.4])
    inside = np.outer(edge, edge).ravel()
    n = FINE.n_cells
    layers = [x[0, k * n : (k + 1) * n] / f for k, f in enumerate((0.05, 0.05, 0.025))]
    expected = ((layers[0] + layers[1] + 0.25 * layers[2]) * inside).sum()
    assert per_layer(TARGET, deposited)[0] == pytest.approx(expected, rel=1e-12)
    assert per_layer(TARGET, visible)[1] == pytest.approx(
        0.2 * per_layer(TARGET, deposited)[1], rel=1e-12
    )


@pytest.mark.parametrize("round_trip", [False, True])
@pytest.mark.parametrize("scale", ["visible", "deposited"])
def test_bookkeeping_is_exact_in_deposited_energy(round_trip, scale) -> None:
    rng = np.random.default_rng(1)
    x = rng.exponential(size=(20, SOURCE.n_cells))
    showers = Showers.from_flat(SOURCE, x.astype(np.float32), np.ones(20))
    x = showers.flat().astype(np.float64)
    resampler = Resampler(SOURCE, TARGET, round_trip=round_trip, output_scale=scale)
    books = resampler.bookkeeping(showers)
    out = resampler.apply_array(x)
    geometry = resampler.output_geometry
    deposited_out = out / (cell_sampling_fractions(geometry) if scale == "visible" else 1.0)
    deposited_in = (x / cell_sampling_fractions(SOURCE)).sum(axis=1)
    np.testing.assert_allclose(books["energy_in"], deposited_in, rtol=1e-9)
    np.testing.assert_allclose(books["energy_out"], deposited_out.sum(axis=1), rtol=1e-9)
    np.testing.assert_allclose(
        books["energy_out"] + books["edge_loss"], books["energy_in"], rtol=1e-9
    )
    assert (books["edge_loss"] > 0.1 * books["energy_in"]).all()  # the target window is smaller


def test_round_trip_comes_back_on_the_source_visible_scale() -> None:
    # Everything inside the target window comes back: the same visible energy in each source
    # layer group as a direct spread of the deposit over the source layers by X0.
    x = smooth_event(SOURCE)
    resampler = Resampler(SOURCE, TARGET, round_trip=True)
    out = resampler.apply_array(x)
    deposited = Resampler(SOURCE, TARGET, round_trip=True, output_scale="deposited").apply_array(x)
    np.testing.assert_allclose(out, deposited * cell_sampling_fractions(SOURCE), rtol=1e-12)
    # The target's first layer (2.5 X0, homogeneous) spreads its deposit by X0 over source
    # layers 0, 1 and the first half of 2: equal deposit per X0 there.
    layers = per_layer(SOURCE, deposited)
    depth = np.diff(SOURCE.x0_edges, axis=1).ravel()
    assert layers[0] / depth[0] == pytest.approx(layers[1] / depth[1], rel=1e-12)
    assert per_layer(SOURCE, out)[0] == pytest.approx(0.05 * layers[0], rel=1e-12)


@pytest.mark.parametrize("round_trip", [False, True])
def test_the_full_matrix_and_every_engine_carry_the_factors(round_trip) -> None:
    rng = np.random.default_rng(2)
    x = rng.exponential(size=(5, SOURCE.n_cells))
    resampler = Resampler(SOURCE, TARGET, round_trip=round_trip)
    fused = resampler.apply_array(x)
    np.testing.assert_allclose((resampler.weights @ x.T).T, fused, rtol=1e-12)
    torch_out = resampler.apply_array(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(torch_out, fused, rtol=1e-12)
    overlaps, into = resampler.overlaps, resampler.deposited
    if round_trip:
        y = transfer(overlaps, x, "products", into=into)
        out = layer_sampling_fractions(SOURCE)
        products = spread_back(overlaps, y, "products", out=out)
    else:
        out = layer_sampling_fractions(TARGET)
        products = transfer(overlaps, x, "products", into=into, out=out)
    np.testing.assert_allclose(products, fused, rtol=1e-12)


def test_an_unknown_output_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="output_scale"):
        Resampler(SOURCE, TARGET, output_scale="calibrated")  # type: ignore[arg-type]
