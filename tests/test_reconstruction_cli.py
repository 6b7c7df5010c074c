"""``calogeo train`` and ``calogeo demo`` building blocks on small files."""

from __future__ import annotations

import numpy as np
import pytest

from calogeo import Showers, geometry_from_spec, write_showers
from calogeo.checkpoint import load_model
from calogeo.cli import main
from calogeo.cli.cmd_train import parse_settings
from calogeo.study.crossgeometry import results_table, split, train_and_test, write_plots
from calogeo.testing import blob_showers, tungsten_grid_spec


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    tiny = geometry_from_spec(tungsten_grid_spec("tiny", 6))
    other = geometry_from_spec(tungsten_grid_spec("other", 5))
    write_showers(folder / "gamma.h5", blob_showers(tiny, 40, pdg=22, seed=1))
    write_showers(folder / "pi0.h5", blob_showers(tiny, 40, pdg=111, seed=2))
    write_showers(folder / "other.h5", blob_showers(other, 10, pdg=22, seed=3))
    return folder


def test_train_writes_a_checkpoint(files, tmp_path, capsys):
    out = tmp_path / "dnn.pt"
    code = main(
        ["train", "dnn", "--data", str(files / "gamma.h5"), str(files / "pi0.h5"), "--size",
         "small", "--epochs", "2", "--device", "cpu", "--set", "dense_units=16", "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "val_auc" in text
    assert f"wrote {out}" in text
    model = load_model(out)
    assert model.hparams["dense_units"] == 16
    assert model.hparams["augment"] is True  # the small preset's
    assert model.geometry.name == "tiny"
    assert len(model.history) == 2


def test_train_augmentation_can_be_turned_off(files, tmp_path):
    out = tmp_path / "plain.pt"
    code = main(
        ["train", "dnn", "--data", str(files / "gamma.h5"), str(files / "pi0.h5"), "--size",
         "small", "--epochs", "1", "--device", "cpu", "--no-augment", "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    assert load_model(out).hparams["augment"] is False


def test_train_refuses_files_on_another_geometry(files, tmp_path, capsys):
    out = tmp_path / "x.pt"
    code = main(
        ["train", "linear", "--task", "regress", "--data", str(files / "gamma.h5"),
         str(files / "other.h5"), "-o", str(out)]
    )  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "other.h5 is on 'other'" in err
    assert "calogeo resample ... --to tiny" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "dnn", "--data", "missing.h5"], "missing.h5"),
        (["train", "nope", "--data", "x.h5"], "unknown model 'nope'"),
        (["train", "dnn", "--data", "{gamma}", "--set", "oops"], "--set 'oops'"),
        (["train", "dnn", "--data", "{gamma}", "--set", "dense_unit=3"], "dense_unit"),
        (["train", "dnn", "--data", "{gamma}", "--signal", "e-"], "neither signal"),
    ],
)
def test_train_errors_are_one_line(argv, message, files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [a.format(gamma=files / "gamma.h5") for a in argv] + ["--device", "cpu"]
    assert main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1
    assert message in errors[0]
    assert not list(tmp_path.glob("*.pt"))


def test_parse_settings_reads_json_values():
    assert parse_settings(["a=3", "b=[1, 2]", "c=relu", "d=0.5"]) == {
        "a": 3,
        "b": [1, 2],
        "c": "relu",
        "d": 0.5,
    }


def test_demo_blocks_train_score_and_plot(tmp_path):
    tiny = geometry_from_spec(tungsten_grid_spec("tiny", 6))
    data = Showers.concatenate(
        [blob_showers(tiny, 400, pdg=22, seed=1), blob_showers(tiny, 400, pdg=111, seed=2)]
    )
    train, test = split(data, 0.3, seed=0)
    assert len(test) == 240
    assert not set(test.incident_energy) & set(train.incident_energy)
    outcomes = [
        train_and_test("dnn", train, test, version="tiny", device="cpu", epochs=10,
                       progress=False, hparams={"dense_units": 16}),
        train_and_test("linear", train, test, version="tiny"),
    ]  # fmt: skip
    dnn, linear = outcomes
    assert dnn.auc > 0.8  # one blob against two
    assert np.isnan(linear.auc)
    assert 0 < linear.resolution < 0.2
    table = results_table(outcomes, {"tiny": data})
    assert "dnn" in table
    assert "linear" in table
    written = write_plots(outcomes, tmp_path)
    assert sorted(p.name for p in written) == ["resolution_tiny.png", "roc_dnn.png"]
