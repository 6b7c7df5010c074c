"""The generative comparison (calogeo.study.generative) and ``calogeo demo-generative``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from generative_doubles import Plugin

from calogeo.cli import main
from calogeo.errors import CalogeoError
from calogeo.spec import geometry_from_spec
from calogeo.study.generative import TABLE_COLUMNS, comparison_rows, validate
from calogeo.testing import blob_showers, isolated_plugins, tungsten_grid_spec


@pytest.fixture(autouse=True)
def plugins():
    with isolated_plugins(Plugin(), entry_points=True) as manager:
        yield manager


@pytest.fixture(scope="module")
def grid():
    return geometry_from_spec(tungsten_grid_spec(n=5, layers=3))


@pytest.mark.slow
def test_validation_ranks_a_distorted_sample_below_a_faithful_one(grid, tmp_path):
    reference = blob_showers(grid, 200, seed=1)
    faithful = blob_showers(grid, 200, seed=2)
    distorted = blob_showers(grid, 200, seed=3)
    distorted.layers[0][...] *= 2.5  # too much energy in the first layer
    results = validate(
        reference, {"faithful": faithful, "distorted": distorted}, threshold_mip=0.5, out=tmp_path
    )
    rows = {r["model"]: r for r in comparison_rows(results, {"faithful": 10.0})}
    assert list(rows["faithful"]) == list(TABLE_COLUMNS)
    good, bad = rows["faithful"], rows["distorted"]
    assert good["showers_per_s"] == 10.0
    assert math.isnan(bad["showers_per_s"])
    assert good["sep_mean"] < bad["sep_mean"]
    assert good["fpd"] < bad["fpd"]
    assert good["max_corr_diff"] < bad["max_corr_diff"]
    assert bad["response_ratio"] > 1.02
    assert abs(good["response_ratio"] - 1) < 0.02
    for row in rows.values():
        assert all(np.isfinite(row[c]) for c in TABLE_COLUMNS[1:-1])
    assert (tmp_path / "distorted" / "correlations.json").exists()
    assert list((tmp_path / "faithful").glob("histograms_*.png"))


def test_validation_refuses_another_geometry(grid):
    other = geometry_from_spec(tungsten_grid_spec(name="other", n=4, layers=3))
    with pytest.raises(CalogeoError, match="not"):
        validate(blob_showers(grid, 20), {"x": blob_showers(other, 20)})


@pytest.mark.slow
def test_command_simulates_trains_generates_validates_and_prints_the_table(grid, tmp_path, capsys):
    spec = tmp_path / "grid.toml"
    spec.write_text(tungsten_grid_spec(n=5, layers=3))
    out = tmp_path / "demo"
    args = ["demo-generative", "--geometry", str(spec), "--particle", "gamma", "--energy"]
    args += ["10:50", "--models", "tiny_wgan", "-n", "120", "--reference-events", "80"]
    args += ["--set", "tiny_wgan.batch_size=32", "-o", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "tiny_wgan" in printed
    assert "sep_n_hits" in printed
    summary = json.loads((out / "summary.json").read_text())
    (row,) = summary["table"]
    assert row["model"] == "tiny_wgan"
    assert row["showers_per_s"] > 0
    assert 0 <= row["auc"] <= 1
    for name in ("reference.h5", "tiny_wgan.h5", "tiny_wgan.pt"):
        assert (out / name).exists()


def test_command_rejects_a_setting_for_a_model_not_chosen(capsys):
    args = ["demo-generative", "--models", "tiny_wgan", "--set", "bibae.epochs=1"]
    assert main(args) != 0
    assert "MODEL.NAME" in capsys.readouterr().err


@pytest.mark.slow
def test_a_model_with_a_post_processor_is_also_validated_without_it(tmp_path, capsys):
    spec = tmp_path / "grid.toml"
    spec.write_text(tungsten_grid_spec(n=5, layers=3))
    out = tmp_path / "demo"
    args = ["demo-generative", "--geometry", str(spec), "--particle", "gamma", "--energy"]
    args += ["10:50", "--models", "bibae", "-n", "96", "--reference-events", "64", "--epochs"]
    args += ["1", "--set", "bibae.pp_epochs=1", "-o", str(out)]
    assert main(args) == 0
    rows = json.loads((out / "summary.json").read_text())["table"]
    assert [row["model"] for row in rows] == ["bibae", "bibae without post-processor"]
    assert all(np.isfinite(row["sep_n_hits"]) for row in rows)
    assert (out / "validation" / "bibae without post-processor").is_dir()
