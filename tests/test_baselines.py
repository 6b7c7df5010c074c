"""The energy baselines: the calibrated sum (no fit) and the linear calibration of the layer
groups, in the models, the predictions, the resolution metric and the demo table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calogeo import Showers, geometry_from_spec
from calogeo.cli import main
from calogeo.energy_scale import calibrated_sum, layer_sampling_fractions
from calogeo.predictions import Predictions
from calogeo.reconstruction import group_design
from calogeo.registry import get_metric, get_model
from calogeo.study.crossgeometry import results_table, split, train_and_test, write_plots
from calogeo.testing import TWO_LAYER_SPEC, blob_showers, tungsten_grid_spec


def sampling_spec(name: str, back_si_mm: float, hcal: bool = False) -> str:
    """12 front layers of 2.4 mm W + 0.5 mm Si, then 10 back layers of 4.8 mm W + ``back_si_mm``
    Si (another sampling fraction unless ``back_si_mm`` is 1.0), 9x9 cells of 10 mm; with
    ``hcal`` 3 iron layers of an HCAL group behind."""
    text = f"""name = "{name}"
title = "test"
citation = "test"
distance_from_ip_mm = 1500.0
[materials.thin]
slices = [["W", 2.4], ["Si", 0.5]]
[materials.thick]
slices = [["W", 4.8], ["Si", {back_si_mm}]]
[[layers]]
name = "front"
repeat = 12
thickness_mm = 2.9
material = "thin"
active = "Si"
layout = {{ type = "grid", pitch_mm = [10.0, 10.0], shape = [9, 9] }}
[[layers]]
name = "back"
repeat = 10
thickness_mm = {4.8 + back_si_mm}
material = "thick"
active = "Si"
layout = {{ type = "grid", pitch_mm = [10.0, 10.0], shape = [9, 9] }}
"""
    if hcal:
        text += """[materials.hcal_period]
slices = [["Fe", 19.0], ["polystyrene", 3.0]]
[[layers]]
name = "hcal"
repeat = 3
group = "HCAL"
thickness_mm = 22.0
material = "hcal_period"
active = "polystyrene"
layout = { type = "grid", pitch_mm = [30.0, 30.0], shape = [3, 3] }
"""
    return text


def photons(name: str, back_si_mm: float, energy: np.ndarray, seed: int = 1) -> Showers:
    geometry = geometry_from_spec(sampling_spec(name, back_si_mm))
    return get_model("gflash").build(geometry, seed=seed).generate(energy, particle="gamma")


@pytest.fixture(scope="module")
def two_fractions() -> Showers:
    """Simulated photons of 30-150 GeV on a stack whose back layers sample half as much."""
    energy = np.random.default_rng(0).uniform(30.0, 150.0, 600)
    return photons("two_fractions", 0.5, energy)


def test_calibrated_sum_gives_the_incident_energy_whatever_the_sampling_fraction():
    energy = np.full(300, 50.0)
    responses = {}
    for name, back_si_mm in (("two_fractions", 0.5), ("one_fraction", 1.0)):
        showers = photons(name, back_si_mm, energy)
        fractions = layer_sampling_fractions(showers.geometry)
        responses[name] = calibrated_sum(showers) / energy
        predicted = get_model("calibrated_sum").build(showers.geometry).predict(showers)
        np.testing.assert_allclose(predicted.energy, calibrated_sum(showers))
        if name == "two_fractions":  # the back layers sample half as much as the front ones
            assert fractions[-1] / fractions[0] == pytest.approx(0.5, abs=0.05)
        else:
            assert fractions[-1] / fractions[0] == pytest.approx(1.0, abs=0.05)
    for response in responses.values():
        # leakage of a 22-layer stack (~1-3%), sampling fluctuations ~3% per shower
        assert abs(np.mean(response) - 1.0) < 0.05
        assert np.std(response) / np.mean(response) < 0.05
    one, two = responses["one_fraction"], responses["two_fractions"]
    error = np.hypot(np.std(one), np.std(two)) / np.sqrt(len(one))
    assert abs(np.mean(one) - np.mean(two)) < 4 * error + 0.005


def test_linear_calibration_is_as_good_as_the_calibrated_sum(two_fractions):
    """Fitted on visible energy, the ECAL sum under-weights the back layers by their smaller
    sampling fraction and the resolution is ~3x worse than the calibrated sum's; on deposited
    energy the fitted calibration matches it."""
    train, test = split(two_fractions, 0.5, seed=0)
    linear = get_model("linear").build(train.geometry)
    linear.fit(train)
    out = linear.predict(test)
    sigma90 = get_metric("resolution")().compute
    model = sigma90(out).values
    assert model["sigma90_over_mu90"] < 1.1 * model["calibrated_sum_sigma90_over_mu90"]
    assert model["linear_calibration_sigma90_over_mu90"] == pytest.approx(
        model["sigma90_over_mu90"]
    )


def synthetic(n: int = 200, seed: int = 0) -> tuple[Showers, np.ndarray]:
    """Random visible layer energies on an ECAL (two sampling fractions) + HCAL geometry, and
    E = 1.2 D_ECAL + 0.8 D_HCAL + 3 of their deposited energies D."""
    geometry = geometry_from_spec(sampling_spec("ecal_hcal", 0.5, hcal=True))
    rng = np.random.default_rng(seed)
    layers = [rng.exponential(0.01, (n, *layer.shape)) for layer in geometry.layers]
    showers = Showers(geometry, layers, np.ones(n))
    fractions = layer_sampling_fractions(geometry)
    deposited = showers.layer_energies() / fractions
    hcal = np.array([layer.group == "HCAL" for layer in geometry.layers])
    truth = 1.2 * deposited[:, ~hcal].sum(axis=1) + 0.8 * deposited[:, hcal].sum(axis=1) + 3.0
    return Showers(geometry, layers, truth), truth


def test_linear_calibration_fits_known_coefficients():
    showers, truth = synthetic()
    assert list(showers.geometry.groups) == ["ECAL", "HCAL"]
    model = get_model("linear").build(showers.geometry)
    model.fit(showers)
    np.testing.assert_allclose(model.coefficients, [1.2, 0.8, 3.0], rtol=1e-4)
    np.testing.assert_allclose(model.predict(showers).energy, truth, rtol=1e-5)
    np.testing.assert_allclose(group_design(showers) @ [1.2, 0.8, 3.0], truth, rtol=1e-5)


def test_network_reference_is_the_deposited_linear_calibration():
    """The networks regress log(E / E_ref): E_ref is the linear calibration of the deposited
    group energies, exact on data that is linear in them."""
    showers, truth = synthetic()
    model = get_model("dnn").build(showers.geometry, size="small", task="regress")
    model.fit_normalisation(showers)
    np.testing.assert_allclose(model.reference_energy(showers), truth, rtol=1e-4)
    np.testing.assert_allclose(model.linear_calibration(), [1.2, 0.8, 3.0], rtol=1e-4)


def test_old_checkpoint_state_keeps_the_visible_fit():
    showers, _ = synthetic()
    model = get_model("linear").build(showers.geometry)
    model.set_state({"coefficients": [2.0, 1.0, 0.0]})  # written before the deposited scale
    expected = group_design(showers, "visible") @ [2.0, 1.0, 0.0]
    np.testing.assert_allclose(model.predict(showers).energy, expected)
    assert model.predict(showers).linear_calibration is None


@pytest.fixture(scope="module")
def tiny_predictions(tmp_path_factory):
    tiny = geometry_from_spec(tungsten_grid_spec("tiny", 6))
    data = Showers.concatenate(
        [blob_showers(tiny, 150, pdg=22, seed=1), blob_showers(tiny, 150, pdg=111, seed=2)]
    )
    train, test = split(data, 0.3, seed=0)
    outcome = train_and_test("bdt", train, test, version="tiny")
    return data, outcome


def test_predictions_carry_both_baselines(tiny_predictions, tmp_path):
    _, outcome = tiny_predictions
    predictions = outcome.predictions
    assert set(predictions.baselines()) == {"calibrated_sum", "linear_calibration"}
    path = predictions.save(tmp_path / "p.h5")
    again = Predictions.load(path)
    np.testing.assert_allclose(again.calibrated_sum, predictions.calibrated_sum)
    np.testing.assert_allclose(again.linear_calibration, predictions.linear_calibration)
    assert len(again[np.arange(5)].baselines()["calibrated_sum"]) == 5


def test_demo_table_and_plots_show_both_baselines(tiny_predictions, tmp_path):
    data, outcome = tiny_predictions
    table = results_table([outcome], {"tiny": data})
    header, row = table.splitlines()[0], table.splitlines()[-1]
    assert "calibrated sum" in header
    assert "linear calibration" in header
    for name in ("calibrated_sum", "linear_calibration"):
        assert f"{outcome.baseline_resolution(name):.2%}" in row
    written = write_plots([outcome], tmp_path)
    assert sorted(p.name for p in written) == ["resolution_tiny.png", "roc_bdt.png"]


def test_evaluate_resolution_table_and_plot_show_both_baselines(tiny_predictions, tmp_path):
    _, outcome = tiny_predictions
    path = outcome.predictions.save(tmp_path / "p.h5")
    out = tmp_path / "out"
    assert (
        main(["evaluate", str(path), "-o", str(out), "--metrics", "resolution", "--bins", "2"]) == 0
    )
    result = json.loads((out / "resolution.json").read_text())
    for name in ("calibrated_sum", "linear_calibration"):
        assert np.isfinite(result["values"][f"{name}_sigma90_over_mu90"])
        assert len(result["tables"]["energy"][f"{name}_sigma90_over_mu90"]) >= 1
    labels = result["plots"][0]["labels"]
    assert "calibrated sum (sigma90 / mu90)" in labels
    assert "linear calibration (sigma90 / mu90)" in labels


def test_network_inputs_are_deposited_energy():
    """The same deposited energy in every layer enters the network as the same input, on both
    sides of the change of sampling fraction (visible inputs would step by a factor 2)."""
    geometry = geometry_from_spec(sampling_spec("two_fractions", 0.5))
    fractions = layer_sampling_fractions(geometry)
    layers = [
        np.full((4, *layer.shape), 0.1 * f)
        for layer, f in zip(geometry.layers, fractions, strict=True)
    ]
    showers = Showers(geometry, layers, np.full(4, 50.0))
    model = get_model("dnn").build(geometry, size="small", task="regress")
    model.fit_normalisation(showers)
    (cells,) = model.encode(showers, "cpu", with_targets=False).inputs
    per_layer = cells.numpy().reshape(4, geometry.n_layers, -1)
    np.testing.assert_allclose(
        per_layer, np.broadcast_to(per_layer[:, :1], per_layer.shape), rtol=1e-5
    )


def test_energy_loss_is_weighted_by_the_reference_spread(monkeypatch):
    """The energy MSE enters the loss in units of the variance of log(E / E_ref), so a reference
    as good as the calibrated sum does not leave the regression invisible beside the cross
    entropy (unweighted it is ~6e-4 against ~0.1)."""
    import calogeo.trainer

    showers, truth = synthetic(400)
    spread = np.random.default_rng(1).normal(0.0, 0.03, len(showers))
    showers = Showers(showers.geometry, showers.layers, truth * np.exp(spread))
    seen = {}

    class Recorder:
        def __init__(self, model, options):
            seen["mse_weight"] = options.mse_weight

        def run(self, train, val):
            pass

    monkeypatch.setattr(calogeo.trainer, "Trainer", Recorder)
    model = get_model("dnn").build(showers.geometry, size="small", task="regress")
    model.fit(showers, mse_weight=2.0)
    assert model.log_ratio_variance(showers) == pytest.approx(0.03**2, rel=0.2)
    assert seen["mse_weight"] == pytest.approx(2.0 / 0.03**2, rel=0.2)


def test_expert_features_read_the_column_names_of_older_checkpoints():
    """A BDT saved before the per-layer rename asks for ``e_layer0`` / ``x_width_layer1_mm``:
    it gets today's ``e_layer[0]`` / ``x_width_mm[1]`` columns, without a warning."""
    from calogeo_reconstruction.baselines import expert_features

    geometry = geometry_from_spec(TWO_LAYER_SPEC)
    rng = np.random.default_rng(4)
    flat = rng.exponential(1.0, (6, geometry.n_cells)).astype(np.float32)
    showers = Showers.from_flat(geometry, flat, np.full(6, 10.0))
    names, values = expert_features(showers, ["e_layer0", "x_width_layer1_mm"])
    assert names == ["e_layer[0]", "x_width_mm[1]"]
    _, expected = expert_features(showers, ["e_layer[0]", "x_width_mm[1]"])
    np.testing.assert_array_equal(values, expected)
