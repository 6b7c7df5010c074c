"""Regressing a per-event label instead of the incident energy (LUXE multiplicity)."""

from __future__ import annotations

import numpy as np
import pytest

from calogeo import CalogeoError, geometry_from_spec, get_metric, get_model
from calogeo.checkpoint import load_model
from calogeo.cli import main
from calogeo.io import write_showers
from calogeo.predictions import Predictions
from calogeo.testing import blob_showers, tungsten_grid_spec


@pytest.fixture(scope="module")
def grid():
    return geometry_from_spec(tungsten_grid_spec(n=6, layers=3))


@pytest.fixture(scope="module")
def counted(grid):
    """Showers with a ``multiplicity`` label that is a known linear function of the deposit."""
    showers = blob_showers(grid, 120, pdg=11, energy_gev=(5.0, 50.0), seed=4)
    multiplicity = np.round(2.0 * showers.total_energy() + 1.0)
    return showers.with_labels(multiplicity=multiplicity.astype(np.int32))


def test_linear_regresses_the_label_it_is_given(counted):
    model = get_model("linear").build(counted.geometry, target="multiplicity")
    model.fit(counted)
    out = model.predict(counted)
    assert out.quantity == "multiplicity"
    assert np.array_equal(out.incident_energy, counted.labels["multiplicity"])
    assert np.allclose(out.energy, out.incident_energy, atol=0.6)  # rounding only
    assert out.truth_label == "true multiplicity"


def test_default_target_is_the_incident_energy(counted):
    model = get_model("linear").build(counted.geometry)
    model.fit(counted)
    out = model.predict(counted)
    assert out.quantity == "energy"
    assert np.array_equal(out.incident_energy, counted.incident_energy.astype(np.float64))


def test_a_missing_label_is_a_one_line_error(grid):
    plain = blob_showers(grid, 20, seed=1)
    model = get_model("linear").build(grid, target="multiplicity")
    with pytest.raises(CalogeoError, match=r"--target 'multiplicity'.*no such label"):
        model.fit(plain)


@pytest.mark.parametrize("name", ["bdt", "resnet10_3d"])
def test_learned_models_regress_the_label(name, counted):
    model = get_model(name).build(
        counted.geometry, size="small", task="regress", target="multiplicity"
    )
    options = {"device": "cpu", "progress": False, "epochs": 2} if name != "bdt" else {}
    model.fit(counted, **options)
    out = model.predict(counted)
    assert out.quantity == "multiplicity"
    assert np.all(np.isfinite(out.energy))
    resolution = get_metric("resolution")(energy_bins=1, min_entries=1).compute(out)
    assert resolution.values["sigma90_over_mu90"] < 0.5


def test_quantity_survives_a_predictions_file(tmp_path):
    path = tmp_path / "p.h5"
    Predictions(np.arange(1.0, 6.0), np.arange(1.0, 6.0), quantity="multiplicity").save(path)
    assert Predictions.load(path).quantity == "multiplicity"


def test_train_cli_takes_a_target(counted, tmp_path):
    data = tmp_path / "bunches.h5"
    write_showers(data, counted)
    out = tmp_path / "linear.pt"
    code = main(["train", "linear", "--data", str(data), "--task", "regress", "--target",
                 "multiplicity", "-o", str(out)])  # fmt: skip
    assert code == 0
    assert load_model(out).target == "multiplicity"
