"""calogeo study: the stage graph, its cache, resuming after an interruption, reruns of only
what a changed setting touches, and the report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from calogeo.cli import main
from calogeo.study import StudyError, load_study, parse_study, run_study
from calogeo.study.runner import Runner
from calogeo.testing import tungsten_grid_spec


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    (tmp_path / "fine.toml").write_text(tungsten_grid_spec("fine", 6, 4))
    (tmp_path / "coarse.toml").write_text(tungsten_grid_spec("coarse", 3, 2))
    path = tmp_path / "study.toml"
    path.write_text(
        f"""
name = "tiny study"
source = "{tmp_path / "fine.toml"}"
test_fraction = 0.25
[[samples]]
particle = "gamma"
energy_gev = [5.0, 20.0]
events = 80
[[samples]]
particle = "pi0"
energy_gev = [5.0, 20.0]
events = 80
[targets]
geometries = ["{tmp_path / "coarse.toml"}"]
round_trip = false
[[models]]
name = "linear"
[[models]]
name = "dnn"
epochs = 1
hparams = {{ dense_units = 16 }}
[[tasks]]
name = "gamma_pi0"
"""
    )
    return path


def kinds(stages: list[str]) -> list[str]:
    return sorted({s.split(":")[0] for s in stages})


@pytest.mark.slow
def test_interrupted_study_resumes_and_a_changed_preset_reruns_one_model(
    study_file, tmp_path, monkeypatch
):
    study = load_study(study_file)
    folder = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(Runner, "evaluate", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run_study(study, folder, device="cpu")

    records, runner = run_study(study, folder, device="cpu")
    # 4 simulations (2 particles x train/test), 4 resamplings, 2 x 2 trainings: all cached
    assert kinds(runner.cached) == ["resample", "simulate", "train"]
    assert kinds(runner.ran) == ["evaluate"]
    assert len(records) == 4
    report = folder / "report"
    assert json.loads((report / "results.json").read_text())[0]["task"] == "gamma_pi0"
    markdown = (report / "report.md").read_text()
    assert "# tiny study" in markdown
    assert "roc_dnn.png" in markdown
    assert "energy_coarse.png" in markdown
    assert "sigma90/mu90" in (report / "table.txt").read_text()

    models = list(study.models)
    models[1] = replace(models[1], hparams={"dense_units": 8})
    _, runner = run_study(replace(study, models=tuple(models)), folder, device="cpu")
    assert sorted(runner.ran) == [
        "evaluate:gamma_pi0-dnn-coarse",
        "evaluate:gamma_pi0-dnn-fine",
        "train:gamma_pi0-dnn-coarse",
        "train:gamma_pi0-dnn-fine",
    ]


def test_study_files_are_checked_key_by_key(tmp_path):
    with pytest.raises(StudyError, match=r"samples\[0\]: unknown key 'energy'"):
        parse_study({"samples": [{"particle": "gamma", "energy": 5}], "models": [{}]})
    with pytest.raises(StudyError, match="no sample of particle 'pi0'"):
        parse_study({"samples": [{"particle": "gamma"}], "models": [{"name": "dnn"}]})
    with pytest.raises(StudyError, match=r"models\[0\].epochs: 'x' has the wrong type"):
        parse_study({"models": [{"name": "dnn", "epochs": "x"}]})
    assert load_study("demo").targets == ("atlas", "cms")
    assert main(["study", str(tmp_path / "missing.toml")]) == 1


@pytest.mark.parametrize("name", ["belayneh_fig17-19.toml", "belayneh_fig17-19_small.toml"])
def test_example_studies_parse(name):
    study = load_study(Path(__file__).parents[1] / "examples" / name)
    assert study.targets == ("atlas", "cms")
    assert {"bdt", "dnn", "cnn3d"} <= {m.name for m in study.models}
    assert study.tasks[0].particles == ("gamma", "pi0")
