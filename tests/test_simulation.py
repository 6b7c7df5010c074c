"""The parametric simulator: kernels against numpy references, GFlash draws, pi0 kinematics,
energy bookkeeping, and the physics validation of issue 4 (tolerances derived in each test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from calogeo_simulation import GFlashSimulator
from calogeo_simulation.em import (
    PHOTON_CONVERSION_X0,
    Medium,
    _log_moments,
    average_profile,
    fluctuated_profile,
)
from calogeo_simulation.kernels import (
    deposit_spots,
    deposit_spots_reference,
    read_out,
    read_out_reference,
    seed_kernels,
    spot_offset,
)
from calogeo_simulation.pi0 import M_PI0_GEV, decay_pi0, entry_points, minimum_opening_angle
from calogeo_simulation.stack import build_stack, stochastic_terms

import calogeo
from calogeo import STANDARD_MATERIALS, geometry_from_spec
from calogeo.checkpoint import load_model

PBWO4 = STANDARD_MATERIALS["PbWO4"]
RM = PBWO4.rm_mm

# Homogeneous PbWO4, 30 X0 in 0.5 X0 layers, read out in rings at 1 and 2 Moliere radii
# (r-alpha cells: the polygon path of the binning).
RINGS_SPEC = f"""
name = "pbwo4_rings"
title = "PbWO4 rings"
citation = "test"
distance_from_ip_mm = 1290.0
[[layers]]
name = "layer"
repeat = 60
thickness_x0 = 0.5
material = "PbWO4"
layout = {{ type = "r_alpha", r_edges_mm = [0.0, {RM}, {2 * RM}, {30 * RM}], n_alpha = 4 }}
"""

# The same medium as one wide tower per layer (the rectilinear path of the binning).
TOWER_SPEC = RINGS_SPEC.replace("pbwo4_rings", "pbwo4_tower").replace(
    f'{{ type = "r_alpha", r_edges_mm = [0.0, {RM}, {2 * RM}, {30 * RM}], n_alpha = 4 }}',
    f'{{ type = "grid", pitch_mm = [{40 * RM}, {40 * RM}], shape = [1, 1] }}',
)

# CLIC-like W/Si sampling calorimeter, 27 X0, stating sigma/E = 17%/sqrt(E).
SAMPLING_SPEC = """
name = "w_si"
title = "W/Si sampling test stack"
citation = "test"
distance_from_ip_mm = 1500.0
stochastic_term = 0.17
[materials.period]
slices = [["W", 2.4], ["Si", 0.5], ["G10", 0.8]]
[[layers]]
name = "layer"
repeat = 40
thickness_mm = 3.7
material = "period"
active = "Si"
layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [31, 31] }
"""

# An ECAL (W/Si, 22 X0) in front of an HCAL (steel/scintillator, ~6 lambda_I).
ECAL_HCAL_SPEC = """
name = "ecal_hcal"
title = "ECAL + HCAL test stack"
citation = "test"
distance_from_ip_mm = 1500.0
stochastic_term = 0.17
[materials.ecal]
slices = [["W", 2.4], ["Si", 0.5], ["G10", 0.8]]
[materials.hcal]
slices = [["Fe", 20.0], ["polystyrene", 3.0], ["G10", 0.7], ["air", 2.8]]
[[layers]]
name = "ecal"
repeat = 30
thickness_mm = 3.7
material = "ecal"
active = "Si"
layout = { type = "grid", pitch_mm = [10.0, 10.0], shape = [25, 25] }
[[layers]]
name = "hcal"
repeat = 48
thickness_mm = 26.5
material = "hcal"
active = "polystyrene"
group = "HCAL"
layout = { type = "grid", pitch_mm = [30.0, 30.0], shape = [25, 25] }
"""

# The same HCAL alone, stating the CALICE AHCAL pion term 57.6%/sqrt(E) (JINST 7 (2012) P09017).
HCAL_SPEC = """
name = "fe_scint"
title = "steel/scintillator HCAL test stack"
citation = "test"
distance_from_ip_mm = 1500.0
stochastic_term = 0.576
[materials.hcal]
slices = [["Fe", 20.0], ["polystyrene", 3.0], ["G10", 0.7], ["air", 2.8]]
[[layers]]
name = "layer"
repeat = 48
thickness_mm = 26.5
material = "hcal"
active = "polystyrene"
group = "HCAL"
layout = { type = "grid", pitch_mm = [30.0, 30.0], shape = [25, 25] }
"""


@pytest.fixture(scope="module")
def rings() -> calogeo.Geometry:
    return geometry_from_spec(RINGS_SPEC)


@pytest.fixture(scope="module")
def tower() -> calogeo.Geometry:
    return geometry_from_spec(TOWER_SPEC)


@pytest.fixture(scope="module")
def sampling() -> calogeo.Geometry:
    return geometry_from_spec(SAMPLING_SPEC)


@pytest.fixture(scope="module")
def ecal_hcal() -> calogeo.Geometry:
    return geometry_from_spec(ECAL_HCAL_SPEC)


def calibrated(showers: calogeo.Showers) -> np.ndarray:
    """(N,) visible energy divided by each layer's sampling fraction (GeV)."""
    f = np.array([ly.sampling_fraction or 1.0 for ly in showers.geometry.layers])
    return (showers.layer_energies() / f).sum(axis=1)


def fit_stochastic_term(energies: np.ndarray, resolutions: np.ndarray) -> float:
    """a of (sigma/E)^2 = a^2/E + c^2, least squares."""
    design = np.stack([1.0 / energies, np.ones_like(energies)], axis=1)
    a2, _ = np.linalg.lstsq(design, resolutions**2, rcond=None)[0]
    return float(np.sqrt(a2))


# -- kernels -------------------------------------------------------------------------------------


def test_kernel_bins_like_numpy_histogram() -> None:
    rng = np.random.default_rng(0)
    x_edges = np.linspace(-20.0, 20.0, 9)
    y_edges = np.array([-15.0, -5.0, 0.0, 2.0, 15.0])
    m, s = 200, 1
    axis_x, axis_y = rng.uniform(-25, 25, (m, s)), rng.uniform(-20, 20, (m, s))
    energy = rng.uniform(0.1, 2.0, (m, s))
    out = np.zeros((1, 32), dtype=np.float32)
    leak = np.zeros(1)
    zeros = np.zeros((m, s))
    deposit_spots(
        np.zeros(m, dtype=np.int64), axis_x, axis_y, np.ones(m), np.ones(m), np.zeros(m),
        np.ones((m, s), dtype=np.int64), energy, zeros, zeros, np.ones((m, s)),
        np.zeros(s, dtype=np.int64), np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.bool_),
        x_edges, np.array([0, 9]), y_edges, np.array([0, 5]), out, leak, np.empty((0, 5)),
    )  # fmt: skip
    image, outside = deposit_spots_reference(
        np.stack([axis_x[:, 0], axis_y[:, 0]], 1), energy[:, 0], x_edges, y_edges
    )
    np.testing.assert_allclose(out.reshape(4, 8), image, rtol=1e-6)
    assert leak[0] == pytest.approx(outside)
    assert outside > 0


def test_spot_radii_follow_the_two_component_profile() -> None:
    rng = np.random.default_rng(1)
    r_core, r_tail, p = 0.3, 1.7, 0.6
    radii = np.array([spot_offset(r_core, r_tail, p, *rng.random(2)) for _ in range(20000)])
    for r in (0.2, 0.5, 1.0, 3.0):
        expected = p * r**2 / (r**2 + r_core**2) + (1 - p) * r**2 / (r**2 + r_tail**2)
        sigma = np.sqrt(expected * (1 - expected) / len(radii))  # binomial error of the CDF
        assert np.mean(radii < r) == pytest.approx(expected, abs=4 * sigma)


def test_read_out_without_fluctuations_matches_numpy() -> None:
    rng = np.random.default_rng(5)
    cells = np.where(rng.random((50, 40)) < 0.3, rng.exponential(0.01, (50, 40)), 0.0)
    cells = cells.astype(np.float32)
    fraction = rng.uniform(0.02, 1.0, 40).astype(np.float32)
    scale, scaled = np.ones(50), np.zeros(40, dtype=bool)
    expected = read_out_reference(cells, np.zeros(40), scale, scaled, fraction, 0.0, 2e-4, rng)
    read_out(cells, np.zeros(40), scale, scaled, fraction, 0.0, 2e-4)
    np.testing.assert_allclose(cells, expected, rtol=1e-6)
    assert np.any(cells == 0)
    assert np.any(cells > 0)


@pytest.mark.parametrize("noise", [0.0, 0.002])
def test_read_out_fluctuations_match_numpy(noise: float) -> None:
    """Kernel and numpy reference give the same mean and variance: e and s a^2 e (+ noise^2),
    s the event's variance scale in the cells that take it."""
    n, energy, a = 40000, 0.05, 0.2
    cells = np.full((n, 3), energy, dtype=np.float32)
    term = np.array([a, a, 0.0])
    scaled = np.array([False, True, False])
    scale = np.full(n, 0.7)
    fraction = np.array([0.5, 0.5, 1.0], dtype=np.float32)
    seed_kernels(6)
    reference = read_out_reference(
        cells, term, scale, scaled, fraction, noise, -1.0, np.random.default_rng(6)
    )
    read_out(cells, term, scale, scaled, fraction, noise, -1.0)
    for out in (cells, reference):
        for j, s in ((0, 1.0), (1, 0.7)):
            variance = 0.25 * s * a**2 * energy + noise**2
            assert out[:, j].mean() == pytest.approx(0.5 * energy, abs=4 * np.sqrt(variance / n))
            assert out[:, j].var() == pytest.approx(variance, rel=4 * np.sqrt(2 / n) + 0.02)
        assert out[:, 2].std() == pytest.approx(noise, abs=4 * noise / np.sqrt(n) + 1e-7)


def test_fluctuated_profile_has_the_gflash_moments_and_correlation() -> None:
    medium = Medium(z=68.4, ec_gev=0.00964)
    energy = np.full(20000, 50.0)
    t_max, alpha, _ = fluctuated_profile(energy, medium, np.random.default_rng(2))
    mu_t, sig_t, mu_a, sig_a, rho = (
        float(np.ravel(v)[0]) for v in _log_moments(np.log(energy[:1] / 0.00964), medium)
    )
    n = len(energy)
    assert np.log(t_max).mean() == pytest.approx(mu_t, abs=4 * sig_t / np.sqrt(n))
    assert np.log(alpha).mean() == pytest.approx(mu_a, abs=4 * sig_a / np.sqrt(n))
    assert np.log(t_max).std() == pytest.approx(sig_t, rel=4 / np.sqrt(2 * n))
    measured_rho = np.corrcoef(np.log(t_max), np.log(alpha))[0, 1]
    assert measured_rho == pytest.approx(rho, abs=4 * (1 - rho**2) / np.sqrt(n))


# -- pi0 kinematics ------------------------------------------------------------------------------


@pytest.mark.parametrize("energy", [5.0, 50.0])
def test_pi0_opening_angle_starts_at_the_kinematic_minimum(energy: float) -> None:
    n = 4000
    pair = decay_pi0(np.full(n, energy), np.zeros(n), np.zeros(n), np.random.default_rng(3))
    theta_min = minimum_opening_angle(np.array([energy]))[0]
    assert theta_min == pytest.approx(2 * M_PI0_GEV / energy, rel=1e-3)
    np.testing.assert_allclose(pair.energy.sum(axis=1), energy, rtol=1e-12)
    mass2 = 2 * pair.energy.prod(axis=1) * (1 - np.cos(pair.opening_angle))
    np.testing.assert_allclose(np.sqrt(mass2), M_PI0_GEV, rtol=1e-6)
    assert pair.opening_angle.min() >= theta_min * (1 - 1e-9)
    # dN/dtheta diverges at theta_min: P(theta < 1.01 theta_min) = sqrt(1 - 1/1.01^2) ~ 0.14
    # for beta -> 1, so among n decays the smallest is within 1% of the minimum.
    assert pair.opening_angle.min() < 1.01 * theta_min
    assert np.mean(pair.opening_angle < 1.01 * theta_min) > 0.08


def test_pi0_photons_land_at_their_separation() -> None:
    n, distance, theta, phi = 500, 1500.0, 0.2, 1.0
    pair = decay_pi0(np.full(n, 20.0), np.full(n, theta), np.full(n, phi), np.random.default_rng(4))
    impact = np.tile([10.0, -5.0], (n, 1))
    entry = entry_points(impact, np.full(n, theta), np.full(n, phi), pair.direction, distance)
    # The pi0 line from the interaction point reaches the impact point at depth ``distance``.
    ip = impact - distance * np.tan(theta) * np.array([np.cos(phi), np.sin(phi)])
    seen = [np.concatenate([entry[:, k] - ip, np.full((n, 1), distance)], 1) for k in (0, 1)]
    for k in (0, 1):  # each photon entry lies on the photon's line from the IP
        np.testing.assert_allclose(
            np.linalg.norm(np.cross(seen[k], pair.direction[:, k]), axis=1), 0, atol=1e-9
        )
    # Seen from the interaction point, the entries are the opening angle apart.
    cos_seen = np.sum(seen[0] * seen[1], 1) / np.prod([np.linalg.norm(v, axis=1) for v in seen], 0)
    np.testing.assert_allclose(np.arccos(np.clip(cos_seen, -1, 1)), pair.opening_angle, rtol=1e-6)
    # At 20 GeV the closest pairs are ~13.5 mrad x 1.5 m ~ 20 mm apart (about 4 CLIC cells).
    separation = np.linalg.norm(entry[:, 0] - entry[:, 1], axis=1)
    assert separation.min() == pytest.approx(distance * 2 * M_PI0_GEV / 20.0, rel=0.05)


# -- bookkeeping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("particle", ["e-", "gamma", "pi0"])
def test_energy_is_conserved_without_fluctuations(rings: calogeo.Geometry, particle: str) -> None:
    showers = GFlashSimulator(rings, seed=5).simulate(particle, np.array([3.0, 20.0, 80.0]))
    total = showers.total_energy() + showers.labels["leakage"]
    np.testing.assert_allclose(total, showers.incident_energy, rtol=1e-5)


def test_polygon_cells_bin_like_the_same_grid(sampling: calogeo.Geometry) -> None:
    """The same 5 mm cells given as polygons (binned through the layout's own ``locate``) get
    the same energies as the grid (binned in the kernel): the spots are the same draws."""
    layout = sampling.layers[0].layout
    cells = ", ".join(
        "[" + ", ".join(f"[{x:.6f}, {y:.6f}]" for x, y in polygon) + "]"
        for polygon in layout.polygons_mm()
    )
    grid = '{ type = "grid", pitch_mm = [5.0, 5.0], shape = [31, 31] }'
    polygons = f'{{ type = "polygons", shape = [31, 31], cells = [{cells}] }}'
    polygon_geometry = geometry_from_spec(SAMPLING_SPEC.replace(grid, polygons))
    assert not polygon_geometry.layers[0].layout.is_rectilinear
    energies = np.array([3.0, 30.0, 90.0])
    a = GFlashSimulator(sampling, seed=17).simulate("pi0", energies, theta=0.2, phi=0.5)
    b = GFlashSimulator(polygon_geometry, seed=17).simulate("pi0", energies, theta=0.2, phi=0.5)
    np.testing.assert_allclose(a.flat(), b.flat(), rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(a.labels["leakage"], b.labels["leakage"], rtol=1e-5)


def test_checkpoint_round_trip(sampling: calogeo.Geometry, tmp_path: Path) -> None:
    """Saved with its options, the generator comes back through the registry and, with the
    same seed, makes the same showers."""
    model = GFlashSimulator(sampling, seed=21, threshold_mev=0.1)
    path = model.save(tmp_path / "gflash.pt")
    loaded = load_model(path)
    assert isinstance(loaded, GFlashSimulator)
    assert loaded.hparams == model.hparams
    a = model.generate(20.0, particle="e-", n=3)
    b = loaded.generate(20.0, particle="e-", n=3)
    np.testing.assert_array_equal(a.flat(), b.flat())


def test_seed_makes_runs_reproducible(sampling: calogeo.Geometry) -> None:
    energies = np.array([5.0, 40.0])
    a = GFlashSimulator(sampling, seed=7).simulate("pi+", energies, theta=0.1)
    b = GFlashSimulator(sampling, seed=7).simulate("pi+", energies, theta=0.1)
    c = GFlashSimulator(sampling, seed=8).simulate("pi+", energies, theta=0.1)
    np.testing.assert_array_equal(a.flat(), b.flat())
    assert not np.array_equal(a.flat(), c.flat())
    assert set(a.labels) == {
        "pdg", "theta", "phi", "impact_x", "impact_y", "leakage", "start_depth_mm",
    }  # fmt: skip
    assert np.all(a.labels["pdg"] == 211)


def test_visible_energy_is_the_sampling_fraction(sampling: calogeo.Geometry) -> None:
    showers = GFlashSimulator(sampling, seed=9).simulate("e-", np.full(200, 20.0))
    f = sampling.layers[0].sampling_fraction
    assert 0.01 < f < 0.1
    visible = showers.total_energy().mean()
    deposited = 20.0 - showers.labels["leakage"].mean()
    sigma = 0.17 * np.sqrt(20.0) * f / np.sqrt(200)  # error of the mean visible energy
    assert visible == pytest.approx(f * deposited, abs=4 * sigma)


def test_track_of_a_pion_is_a_mip() -> None:
    """In 5 layers (0.18 lambda_I) most pions pass as MIPs: visible = f x dE/dx x depth.

    With a given sampling fraction and no stated term or active slice there are no sampling
    fluctuations, so the median (a non-interacting pion) is exact."""
    spec = (
        SAMPLING_SPEC.replace("stochastic_term = 0.17\n", "")
        .replace("repeat = 40", "repeat = 5")
        .replace('active = "Si"', "sampling_fraction = 0.05")
    )
    geometry = geometry_from_spec(spec)
    assert geometry.total_depth_lambda < 0.2
    showers = GFlashSimulator(geometry, seed=10).simulate("pi+", np.full(300, 10.0))
    layer = geometry.layers[0]
    mip = layer.sampling_fraction * layer.material.mip_mev_per_mm * layer.thickness_mm / 1000
    assert np.median(showers.total_energy()) == pytest.approx(mip * geometry.n_layers, rel=1e-4)
    # A pion with less energy than the track would take ranges out: it deposits just that.
    slow = GFlashSimulator(geometry, seed=10).simulate("pi+", np.full(20, 1e-3))
    np.testing.assert_allclose(slow.total_energy(), 0.05e-3, rtol=1e-4)


def test_inclined_showers_follow_their_axis(sampling: calogeo.Geometry) -> None:
    theta = 0.3
    showers = GFlashSimulator(sampling, seed=11).simulate(
        "e-", np.full(200, 30.0), theta=theta, phi=np.pi / 2
    )
    centres = sampling.layers[0].layout.centres_mm()
    for i in (5, 10, 15):
        energy = showers.layers[i].reshape(len(showers), -1).sum(axis=0)
        y = (energy * centres[:, 1]).sum() / energy.sum()
        x = (energy * centres[:, 0]).sum() / energy.sum()
        z = 0.5 * (sampling.layers[i].z_front_mm + sampling.layers[i].z_back_mm)
        # The axis sits at z tan(theta); cells are 5 mm, so a centroid is good to ~0.5 mm.
        assert y == pytest.approx(z * np.tan(theta), abs=0.6)
        assert x == pytest.approx(0.0, abs=0.6)


def test_stochastic_terms_follow_the_spec(ecal_hcal: calogeo.Geometry) -> None:
    em_terms, pion_terms, hadron_stated = stochastic_terms(ecal_hcal)
    ecal = np.array([ly.group == "ECAL" for ly in ecal_hcal.layers])
    assert np.all(em_terms[ecal] == 0.17)
    # HCAL layers: Amaldi, 2.7% sqrt(d / f_samp) with 3 mm of scintillator.
    f = ecal_hcal.layers[-1].sampling_fraction
    np.testing.assert_allclose(em_terms[~ecal], 0.027 * np.sqrt(3.0 / f))
    np.testing.assert_array_equal(pion_terms, em_terms)
    assert not np.any(hadron_stated)
    hcal_em, hcal_pion, hcal_stated = stochastic_terms(geometry_from_spec(HCAL_SPEC))
    assert np.all(hcal_pion == 0.576)
    assert np.all(hcal_stated)
    assert np.all(hcal_em < 0.576)


def test_steps_cover_the_stack(ecal_hcal: calogeo.Geometry) -> None:
    stack = build_stack(ecal_hcal, max_step_x0=0.5)
    assert stack.x0_edges[0, 0] == 0.0
    assert stack.x0_edges[-1, 1] == pytest.approx(ecal_hcal.total_depth_x0)
    np.testing.assert_allclose(stack.x0_edges[1:, 0], stack.x0_edges[:-1, 1])
    assert np.all(np.diff(stack.x0_edges, axis=1) <= 0.5 + 1e-9)
    assert np.all(np.diff(stack.lambda_edges, axis=1) <= 0.1 + 1e-9)
    assert len(stack.media) == 2


def test_bad_arguments_raise_calogeo_errors(sampling: calogeo.Geometry) -> None:
    simulator = GFlashSimulator(sampling, seed=0)
    with pytest.raises(calogeo.CalogeoError, match="particle 'mu-'"):
        simulator.simulate("mu-", [10.0])
    with pytest.raises(calogeo.CalogeoError, match="energies"):
        simulator.simulate("e-", [10.0, -1.0])
    with pytest.raises(calogeo.CalogeoError, match="pi0 energies"):
        simulator.simulate("pi0", [0.1])
    with pytest.raises(calogeo.CalogeoError, match="theta"):
        simulator.simulate("e-", [10.0], theta=1.5)
    with pytest.raises(calogeo.CalogeoError, match="no option"):
        GFlashSimulator(sampling, colour="red")


def test_registered_as_a_generative_model(sampling: calogeo.Geometry) -> None:
    cls = calogeo.get_model("gflash")
    assert cls is GFlashSimulator
    assert "generate" in cls.kind
    showers = cls.build(sampling, seed=1).generate(10.0, particle="gamma", n=4)
    assert len(showers) == 4
    assert np.all(showers.labels["pdg"] == 22)


# -- physics validation (issue 4, item 5) --------------------------------------------------------


def depth_of_maximum(profile: np.ndarray, depth: np.ndarray) -> float:
    """Peak of a longitudinal profile: vertex of a parabola through the 5 bins around its max."""
    i = int(np.clip(np.argmax(profile), 2, len(profile) - 3))
    a, b, _ = np.polyfit(depth[i - 2 : i + 3], profile[i - 2 : i + 3], 2)
    return float(-b / (2 * a))


@pytest.mark.parametrize(("particle", "offset"), [("e-", -0.5), ("gamma", 0.5)])
@pytest.mark.parametrize("energy", [10.0, 100.0])
def test_depth_of_maximum_follows_ln_e_over_ec(
    tower: calogeo.Geometry, particle: str, offset: float, energy: float
) -> None:
    """PDG: t_max = ln(E/E_c) + C, C = -0.5 (e) / +0.5 (gamma), in X0."""
    n = 400
    showers = GFlashSimulator(tower, seed=12).simulate(particle, np.full(n, energy))
    depth = tower.x0_edges.mean(axis=1)
    profiles = showers.layer_energies()
    parts = [depth_of_maximum(p.mean(axis=0), depth) for p in np.array_split(profiles, 8)]
    measured = depth_of_maximum(profiles.mean(axis=0), depth)
    stat = np.std(parts, ddof=1) / np.sqrt(len(parts))
    # Tolerance: the GFlash average profile (T = ln y - 0.858, after the 9/7 X0 conversion
    # depth for photons) and the PDG rule differ by this much; plus a quarter of the 0.5 X0
    # layer for the parabola vertex, plus 3 sigma of statistics.
    medium = Medium(z=PBWO4.z, ec_gev=PBWO4.ec_mev / 1000)
    expected = np.log(energy / medium.ec_gev) + offset
    gflash = average_profile(np.array([energy]), medium)[0][0]
    gflash += PHOTON_CONVERSION_X0 if particle == "gamma" else 0.0
    tolerance = abs(gflash - expected) + 0.125 + 3 * stat
    assert measured == pytest.approx(expected, abs=tolerance)
    assert tolerance < 0.6


def test_lateral_containment_in_moliere_radii(rings: calogeo.Geometry) -> None:
    """PDG: about 90% of the energy within 1 R_M of the axis, about 95% within 2 R_M."""
    n = 300
    showers = GFlashSimulator(rings, seed=13).simulate("e-", np.full(n, 50.0))
    # r-alpha cells: 4 sectors x 3 rings per layer; sum the sectors of each ring.
    rings_energy = sum(layer.reshape(n, 4, 3).sum(axis=1) for layer in showers.layers)
    fraction = np.cumsum(rings_energy, axis=1) / rings_energy.sum(axis=1, keepdims=True)
    for ring, expected in ((0, 0.90), (1, 0.95)):
        stat = fraction[:, ring].std() / np.sqrt(n)
        # "about 90%" / "about 95%": the rules are quoted to +-3 points; the chords of the
        # ring cells change the areas by < 0.5%; plus 3 sigma of statistics.
        assert fraction[:, ring].mean() == pytest.approx(expected, abs=0.03 + 0.005 + 3 * stat)


def test_sampling_resolution_matches_the_stated_term(sampling: calogeo.Geometry) -> None:
    energies = np.array([5.0, 20.0, 80.0])
    n = 250
    simulator = GFlashSimulator(sampling, seed=14)
    resolution = []
    for energy in energies:
        e = calibrated(simulator.simulate("e-", np.full(n, energy)))
        resolution.append(e.std() / e.mean())
    a = fit_stochastic_term(energies, np.array(resolution))
    # Issue 4: within 20% of the spec's term; the statistical error of a is ~1/sqrt(2n) of it
    # per point (~4.5%), well inside.
    assert a == pytest.approx(0.17, rel=0.2)


def test_pion_resolution_matches_the_stated_hadron_term() -> None:
    geometry = geometry_from_spec(HCAL_SPEC)
    energies = np.array([5.0, 20.0, 60.0])
    n = 300
    simulator = GFlashSimulator(geometry, seed=15)
    resolution = []
    for energy in energies:
        e = calibrated(simulator.simulate("pi+", np.full(n, energy)))
        resolution.append(e.std() / e.mean())
    assert fit_stochastic_term(energies, np.array(resolution)) == pytest.approx(0.576, rel=0.2)


def test_pions_leave_less_in_the_ecal_and_are_wider(ecal_hcal: calogeo.Geometry) -> None:
    n = 200
    simulator = GFlashSimulator(ecal_hcal, seed=16)
    ecal = np.array([ly.group == "ECAL" for ly in ecal_hcal.layers])
    centres = ecal_hcal.cell_centres_mm()
    radius = np.hypot(centres[:, 0], centres[:, 1])
    result = {}
    for particle in ("gamma", "pi+"):
        showers = simulator.simulate(particle, np.full(n, 30.0))
        layers = showers.layer_energies()
        flat = showers.flat().astype(np.float64)
        rms = np.sqrt((flat * radius**2).sum(axis=1) / flat.sum(axis=1))
        result[particle] = (layers[:, ecal].sum(axis=1) / layers.sum(axis=1), rms)
    ecal_gamma, width_gamma = result["gamma"]
    ecal_pion, width_pion = result["pi+"]
    # Visibly: the pion's ECAL share is less than half the photon's, its median width
    # (energy-weighted rms radius in mm) more than three times larger.
    assert np.mean(ecal_pion) < 0.5 * np.mean(ecal_gamma)
    assert np.median(width_pion) > 3 * np.median(width_gamma)
