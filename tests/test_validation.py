"""The generative validation suite: its observables, its numbers, its figures and its CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from calogeo_simulation import GFlashSimulator

from calogeo import (
    Showers,
    geometry_from_spec,
    get_geometry,
    get_metric,
    observables,
    write_showers,
)
from calogeo.cli import main
from calogeo.metric import MetricResult
from calogeo.plotting_validation import figure_names, save_validation_figures

GRID_SPEC = """
name = "toy"
title = "toy"
citation = "test"
distance_from_ip_mm = 1500.0
[[layers]]
name = "layer"
repeat = {layers}
thickness_mm = 3.5
material = "W"
layout = {{ type = "grid", pitch_mm = [10.0, 5.0], shape = [3, 4] }}
"""

POLYGON_SPEC = """
name = "hex_ralpha"
title = "hexagons in front of r-alpha wedges (test)"
citation = "test"
distance_from_ip_mm = 1500.0
[materials.period]
slices = [["W", 2.4], ["Si", 0.5], ["G10", 0.8]]
[[layers]]
name = "hex"
repeat = 6
thickness_mm = 3.7
material = "period"
active = "Si"
layout = { type = "hexagonal", pitch_mm = 8.0, shape = [9, 9] }
[[layers]]
name = "wedge"
repeat = 6
thickness_mm = 3.7
material = "period"
active = "Si"
layout = { type = "r_alpha", r_edges_mm = [0.0, 5.0, 12.0, 25.0, 45.0], n_alpha = 8 }
"""

FIGURES = {
    "cell_energy",
    "hits",
    "visible_energy",
    "shower_start",
    "centre_of_gravity",
    "second_moments",
    "depth_thirds",
    "profile_x",
    "profile_y",
    "profile_depth",
    "correlations",
    "fixed_energy_visible",
    "fixed_energy_hits",
    "response",
    "shower_shapes",
}


# -- the observables it adds -------------------------------------------------------------------


def test_mean_profiles_spread_each_cell_over_its_extent() -> None:
    geometry = geometry_from_spec(GRID_SPEC.format(layers=2))  # 3 rows x 4 cols of 10 x 5 mm
    cells = np.zeros((2, geometry.n_cells))
    cells[0, 1] = 4.0  # layer 0, row 0, column 1: x in [-10, 0] mm, y in [-7.5, -2.5] mm
    cells[1, 12 + 7] = 2.0  # layer 1, row 1, column 3: x in [10, 20] mm, y in [-2.5, 2.5]
    cells[1, 12 + 0] = 0.1  # below the threshold below
    showers = Showers.from_flat(geometry, cells, np.array([10.0, 10.0]))
    edges = {"x_mm": np.array([-20.0, -5.0, 0.0, 15.0, 20.0]), "y_mm": np.array([-5.0, 0.0, 5.0])}
    profiles = observables.mean_profiles(showers, edges, threshold_gev=0.5)
    # per event: 4 GeV over x in [-10, 0] (half in [-20, -5], half in [-5, 0]), 2 GeV over
    # [10, 20] (half each side of 15); means over the 2 events
    np.testing.assert_allclose(profiles["x_mm"], [1.0, 1.0, 0.5, 0.5])
    # y: 4 GeV over [-7.5, -2.5] (half inside [-5, 0]), 2 GeV over [-2.5, 2.5] (half each)
    np.testing.assert_allclose(profiles["y_mm"], [1.0 + 0.5, 0.5])
    np.testing.assert_allclose(profiles["layer"], [2.0, 1.0])
    rm = geometry.layers[0].material.rm_mm
    in_rm = observables.mean_profiles(showers, {"x_rm": edges["x_mm"] / rm}, threshold_gev=0.5)
    np.testing.assert_allclose(in_rm["x_rm"], profiles["x_mm"])
    with pytest.raises(ValueError, match="unknown profile"):
        observables.mean_profiles(showers, {"z_mm": np.array([0.0, 1.0])})


def test_cell_energy_histogram_counts_cells_in_units_of_each_layer() -> None:
    geometry = geometry_from_spec(GRID_SPEC.format(layers=2))
    rng = np.random.default_rng(3)
    cells = rng.exponential(1.0, (5, geometry.n_cells)) * (rng.random((5, geometry.n_cells)) < 0.5)
    showers = Showers.from_flat(geometry, cells.astype(np.float32), np.full(5, 10.0))
    unit = np.array([0.5, 2.0])
    edges = np.geomspace(1e-3, 1e2, 21)
    scaled = showers.flat().astype(np.float64) / np.repeat(unit, 12)
    expected = np.histogram(scaled[scaled > 0], edges)[0]
    np.testing.assert_array_equal(observables.cell_energy_histogram(showers, edges, unit), expected)


# -- the suite's numbers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calogan_samples() -> tuple[Showers, Showers]:
    geometry = get_geometry("calogan")
    rng = np.random.default_rng(0)
    energies = np.repeat([20.0, 50.0, 80.0], 60)
    reference = GFlashSimulator(geometry, seed=1).simulate("e-", energies)
    other = GFlashSimulator(geometry, seed=2).simulate("e-", rng.permutation(energies))
    return reference, other


def scaled(showers: Showers, factor: float) -> Showers:
    """A copy with every cell energy times ``factor`` (a generator with a wrong response)."""
    return Showers.from_flat(
        showers.geometry, showers.flat() * np.float32(factor), showers.incident_energy
    )


def test_a_sample_against_itself_scores_perfect(calogan_samples) -> None:
    reference, _ = calogan_samples
    result = get_metric("validation")(energy_tolerance=0.0).compute_many(
        reference, {"copy": reference}
    )
    assert result.values["max_separation_power[copy]"] == 0.0
    assert result.values["max_abs_correlation_difference[copy]"] == pytest.approx(0.0, abs=1e-12)
    assert result.values["max_rel_diff_mu90[copy]"] == 0.0
    assert set(figure_names(result)) == FIGURES
    assert result.meta["skipped_energies_gev"] == []


def test_a_wrong_response_shows_in_mu90_and_the_spectrum(calogan_samples) -> None:
    reference, other = calogan_samples
    metric = get_metric("validation")(
        energies=[20, 50, 80], threshold_gev=0.5 * observables.mip_energy_gev(reference.geometry)
    )
    result = metric.compute_many(reference, {"same": other, "hot": scaled(other, 1.3)}, "g4")
    points = result.tables["energy_points"]
    ratio = np.array(points["mu90:hot"]) / np.array(points["mu90:g4"])
    np.testing.assert_allclose(ratio, 1.3, rtol=0.05)
    assert result.values["max_rel_diff_mu90[same]"] < 0.05
    separation = dict(
        zip(
            result.tables["separation"]["quantity"],
            result.tables["separation"]["hot"],
            strict=True,
        )
    )
    same = dict(
        zip(
            result.tables["separation"]["quantity"],
            result.tables["separation"]["same"],
            strict=True,
        )
    )
    assert separation["e_total"] > 0.5 > same["e_total"]
    assert separation["cell_energy_mip"] > same["cell_energy_mip"]
    assert result.meta["samples"] == ["g4", "same", "hot"]
    # the threshold is marked on the cell spectrum, in MIPs: 0.5 in every layer
    spectrum = next(f for f in result.meta["figures"] if f["name"] == "cell_energy")
    assert spectrum["panels"][0]["marks"] == [0.5]
    # CaloGAN's three layers: the per-layer shapes of Table IV are there
    shapes = next(f for f in result.meta["figures"] if f["name"] == "shower_shapes")
    tables = {p["table"] for p in shapes["panels"]}
    assert {"hist:shape:e_frac[2]", "hist:shape:x_width_cell[0]", "hist:shape:e_ratio[1]"} <= tables


def test_the_observables_are_computed_once_per_file(calogan_samples, monkeypatch) -> None:
    reference, other = calogan_samples
    hot = scaled(other, 1.1)
    calls = []
    table = observables.table
    monkeypatch.setattr(observables, "table", lambda s, **kw: calls.append(s) or table(s, **kw))
    metric = get_metric("validation")(threshold_gev=1e-4)
    metric.compute_many(reference, {"a": other, "b": hot})
    assert len(calls) == 3  # one table per file for all fifteen figures
    get_metric("correlations")(threshold_gev=1e-4).compute(reference, hot)
    metric.compute(reference, other)
    assert len(calls) == 3  # shared with the other fidelity metrics through the cache


def test_energies_without_events_are_skipped(calogan_samples) -> None:
    reference, other = calogan_samples
    result = get_metric("validation")(energies=[20, 35], energy_tolerance=0.0).compute(
        reference, other
    )
    assert result.meta["skipped_energies_gev"] == [35.0]
    assert result.tables["energy_points"]["energy"] == [20.0]
    assert result.meta["samples"] == ["reference", "generated"]


# -- acceptance: every figure, every number finite, on six geometries ---------------------------


def _finite_numbers(value: object) -> list[float]:
    """Every number in a JSON-ready structure (None stands for a non-finite one)."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in _finite_numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _finite_numbers(v)]
    if value is None:
        return [math.nan]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    return []


GEOMETRIES = [
    ("calogan", "e-"),
    ("clic_ecal_rec", "gamma"),
    ("ild_ahcal", "pi+"),
    ("atlas", "e-"),
    ("calochallenge_2", "gamma"),
    ("polygons", "e-"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "particle"), GEOMETRIES, ids=[g for g, _ in GEOMETRIES])
def test_the_suite_runs_on_any_geometry(tmp_path, name: str, particle: str) -> None:
    geometry = geometry_from_spec(POLYGON_SPEC) if name == "polygons" else get_geometry(name)
    energies = np.random.default_rng(1).uniform(10, 100, 240)
    energies[:90] = np.repeat([20.0, 50.0, 80.0], 30)  # some at exactly the fixed energies
    reference = GFlashSimulator(geometry, seed=1).simulate(particle, energies)
    other = GFlashSimulator(geometry, seed=2).simulate(particle, energies[::-1].copy())
    metric = get_metric("validation")(
        threshold_gev=0.5 * observables.mip_energy_gev(geometry), energy_tolerance=0.0
    )
    result = metric.compute_many(reference, {"A": other, "B": scaled(other, 0.9)})
    data = result.to_dict()
    numbers = _finite_numbers({"values": data["values"], "tables": data["tables"]})
    assert numbers
    assert np.isfinite(numbers).all()
    assert set(figure_names(result)) == FIGURES
    paths = save_validation_figures(MetricResult.from_json(result.to_json()), tmp_path)
    assert {p.name for p in paths} == {f"validation_{f}.png" for f in FIGURES}
    assert all(p.stat().st_size > 10_000 for p in paths)


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.slow
def test_evaluate_overlays_several_files_and_plot_redraws_from_json(
    tmp_path, calogan_samples, capsys
) -> None:
    reference, other = calogan_samples
    files = [tmp_path / "g4.h5", tmp_path / "gan.h5", tmp_path / "vae.h5"]
    for path, showers in zip(files, (reference, other, scaled(other, 1.2)), strict=True):
        write_showers(path, showers)
    out = tmp_path / "suite"
    args = ["evaluate", *map(str, files), "-o", str(out), "--threshold-mip", "0.5"]
    assert main([*args, "--energies", "20,50,80", "--energy-tolerance", "0"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == ["g4", "gan", "vae"]
    values = summary["metrics"]["validation"]["values"]
    assert values["max_rel_diff_mu90[vae]"] == pytest.approx(0.2, abs=0.02)
    assert {p.name for p in out.glob("*.png")} == {f"validation_{f}.png" for f in FIGURES}
    for path in files:
        path.unlink()  # the redraw needs the JSON alone
    redrawn = tmp_path / "redrawn"
    assert main(["plot", "validation", str(out), "-o", str(redrawn)]) == 0
    assert {p.name for p in redrawn.glob("*.png")} == {f"validation_{f}.png" for f in FIGURES}
    assert "wrote 15 figures" in capsys.readouterr().out


@pytest.mark.slow
def test_evaluate_labels_and_errors(tmp_path, calogan_samples, capsys) -> None:
    reference, other = calogan_samples
    files = [tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"]
    for path, showers in zip(files, (reference, other, other), strict=True):
        write_showers(path, showers)
    out = tmp_path / "out"
    base = ["evaluate", *map(str, files), "-o", str(out)]
    assert main([*base, "--labels", "G4,WGAN,BIB-AE", "--energies", "50"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["samples"] == ["G4", "WGAN", "BIB-AE"]
    assert "max_abs_correlation_difference[BIB-AE]" in summary["metrics"]["validation"]["values"]
    assert main([*base, "--labels", "G4,WGAN"]) == 1
    assert "--labels: 2 labels for 3 files" in capsys.readouterr().err
    assert main([*base, "--metrics", "histograms"]) == 1
    assert "only the validation suite" in capsys.readouterr().err
    assert main([*base, "--energies", "-5"]) == 1
    assert "--energies" in capsys.readouterr().err
    assert main(["plot", "validation", str(tmp_path / "nowhere")]) == 1
    assert "no validation.json" in capsys.readouterr().err


@pytest.mark.slow
def test_two_files_write_todays_outputs_and_the_suite(tmp_path, calogan_samples) -> None:
    reference, other = calogan_samples
    ref, gen = tmp_path / "ref.h5", tmp_path / "gen.h5"
    write_showers(ref, reference)
    write_showers(gen, other)
    out = tmp_path / "out"
    metrics = "histograms,correlations,validation"
    assert main(["evaluate", str(ref), str(gen), "-o", str(out), "--metrics", metrics]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["metrics"]) == {"histograms", "correlations", "validation"}
    names = {p.name for p in out.iterdir()}
    assert {"histograms.json", "correlations_1.png", "observables_1.png"} <= names
    assert {f"validation_{f}.png" for f in FIGURES} <= names
    suite = json.loads((out / "validation.json").read_text())
    assert suite["meta"]["samples"] == ["ref", "gen"]
    # the suite's correlation difference is the correlations metric's, on the same quantities
    corr = json.loads((out / "correlations.json").read_text())
    assert suite["values"]["max_abs_correlation_difference[gen]"] == pytest.approx(
        corr["values"]["max_abs_difference"]
    )
