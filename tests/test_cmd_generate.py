"""``calogeo train`` / ``--resume`` for generative models and ``calogeo generate``."""

from __future__ import annotations

import numpy as np
import pytest
from generative_doubles import Plugin

from calogeo import geometry_from_spec, open_showers, write_showers
from calogeo.checkpoint import load_model
from calogeo.cli import main
from calogeo.testing import blob_showers, isolated_plugins, tungsten_grid_spec


@pytest.fixture(autouse=True)
def plugins():
    import calogeo_reconstruction

    with isolated_plugins(Plugin(), calogeo_reconstruction) as manager:
        yield manager


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gen")
    grid = geometry_from_spec(tungsten_grid_spec("tiny", 4))
    write_showers(folder / "train.h5", blob_showers(grid, 80, seed=1))
    return folder / "train.h5"


@pytest.fixture(scope="module")
def model_file(train_file):
    out = train_file.parent / "tiny.pt"
    with isolated_plugins(Plugin()):
        code = main(["train", "tiny_wgan", "--data", str(train_file), "--size", "small",
                     "--epochs", "1", "--device", "cpu", "-o", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_train_then_resume_continues_the_epochs(train_file, model_file, tmp_path, capsys):
    assert [r["epoch"] for r in load_model(model_file).history] == [1]
    out = tmp_path / "more.pt"
    code = main(["train", "tiny_wgan", "--data", str(train_file), "--resume", str(model_file),
                 "--epochs", "3", "--device", "cpu", "-o", str(out)])  # fmt: skip
    assert code == 0
    assert "w1_response" in capsys.readouterr().out
    history = load_model(out).history
    assert [r["epoch"] for r in history] == [1, 2, 3]


def test_resume_refuses_what_it_cannot_continue(train_file, model_file, tmp_path, capsys):
    args = ["--data", str(train_file), "--device", "cpu", "-o", str(tmp_path / "x.pt")]
    assert main(["train", "dnn", "--resume", str(model_file), *args]) == 1
    assert "only generative models resume" in capsys.readouterr().err
    assert main(["train", "theta_wgan", "--resume", str(model_file), *args]) == 1
    assert "holds model 'tiny_wgan', not 'theta_wgan'" in capsys.readouterr().err
    assert main(["train", "tiny_wgan", "--lr", "0.1", *args]) == 1
    assert "lr_critic" in capsys.readouterr().err


def test_generate_writes_a_native_file_with_the_conditions(model_file, tmp_path, capsys):
    out = tmp_path / "gen.h5"
    code = main(["generate", str(model_file), "--energy", "10:100", "--log-uniform", "-n", "50",
                 "--batch-size", "20", "--device", "cpu", "--seed", "4", "-o", str(out)])  # fmt: skip
    assert code == 0
    assert "wrote 50 showers of tiny_wgan on tiny" in capsys.readouterr().out
    with open_showers(out) as reader:
        showers = reader.read()
    assert showers.geometry.name == "tiny"
    energy = showers.incident_energy
    assert len(energy) == 50
    assert energy.min() >= 10.0
    assert energy.max() <= 100.0
    assert np.all(showers.labels["pdg"] == 22)
    assert np.all(showers.flat() >= 0)
    again = tmp_path / "again.h5"
    main(["generate", str(model_file), "--energy", "10:100", "--log-uniform", "-n", "50",
          "--batch-size", "20", "--device", "cpu", "--seed", "4", "-o", str(again)])  # fmt: skip
    with open_showers(again) as reader:
        np.testing.assert_array_equal(reader.read().flat(), showers.flat())


def test_generate_threshold_in_mip(model_file, tmp_path):
    out = tmp_path / "cut.h5"
    code = main(["generate", str(model_file), "--energy", "50", "-n", "20", "--device", "cpu",
                 "--threshold-mip", "1e6", "-o", str(out)])  # fmt: skip
    assert code == 0
    with open_showers(out) as reader:
        assert not reader.read().flat().any()


def test_generate_uncalibrated_gives_the_network_s_own_totals(model_file, tmp_path):
    totals = []
    for extra in ([], ["--uncalibrated"]):
        out = tmp_path / f"gen{len(extra)}.h5"
        code = main(["generate", str(model_file), "--energy", "50", "-n", "20", "--device",
                     "cpu", "-o", str(out), *extra])  # fmt: skip
        assert code == 0
        with open_showers(out) as reader:
            totals.append(reader.read().flat().sum(axis=1))
    assert not np.allclose(totals[0], totals[1])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--theta", "0.1"], "not conditioned on theta"),
        (["--energy", "-5"], "must be positive"),
        (["-n", "0"], "-n 0: must be at least 1"),
        (["--particle", "pi0"], "not 'pi0'"),
    ],
)
def test_generate_errors_are_one_line(model_file, tmp_path, capsys, extra, message):
    out = tmp_path / "bad.h5"
    args = ["generate", str(model_file), "--energy", "50", "-n", "4", "--device", "cpu"]
    code = main([*args, *extra, "-o", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_generate_refuses_a_reconstruction_model(train_file, tmp_path, capsys):
    linear = tmp_path / "linear.pt"
    assert main(["train", "linear", "--task", "regress", "--data", str(train_file), "-o",
                 str(linear)]) == 0  # fmt: skip
    capsys.readouterr()
    code = main(["generate", str(linear), "--energy", "50", "-o", str(tmp_path / "g.h5")])
    assert code == 1
    assert "is not generative" in capsys.readouterr().err
