"""Models and training never mislead (issue 16, "Misleading results" and the ``train``
tracebacks): every registered model and task round-trips through a checkpoint, an untrained or
emptied checkpoint is refused, impossible training settings and data are one-line errors before
any training, and an interrupt says truthfully what the output file holds."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from calogeo import CalogeoError, Showers, geometry_from_spec, get_model, list_models
from calogeo.checkpoint import load_model, read_checkpoint
from calogeo.cli import main
from calogeo.io import write_showers
from calogeo.reconstruction import ReconstructionModel, TorchModel
from calogeo.testing import blob_showers, tungsten_grid_spec

MODELS = sorted(e.name for e in list_models() if issubclass(e.load(), ReconstructionModel))
CASES = [
    (name, task)
    for name in MODELS
    for task in ("classify", "regress", "both")
    if (task == "regress" or "classify" in get_model(name).kind)
    and (task != "regress" or "regress" in get_model(name).kind)
]


@pytest.fixture(scope="module")
def geometry():
    return geometry_from_spec(tungsten_grid_spec("tiny", 6))


@pytest.fixture(scope="module")
def showers(geometry):
    return Showers.concatenate(
        [blob_showers(geometry, 16, pdg=22, seed=1), blob_showers(geometry, 16, pdg=111, seed=2)]
    )


@pytest.fixture
def files(tmp_path, showers, geometry):
    """train.h5 (gamma and pi0), gamma.h5 (one class), nan.h5 (one NaN cell)."""
    write_showers(tmp_path / "train.h5", showers)
    write_showers(tmp_path / "gamma.h5", blob_showers(geometry, 16, pdg=22, seed=3))
    flat = showers.flat()
    flat[5, 7] = np.nan
    write_showers(
        tmp_path / "nan.h5",
        Showers.from_flat(geometry, flat, showers.incident_energy, showers.labels),
    )
    return tmp_path


def _fit(name, task, showers, tiny_hparams):
    model = get_model(name).build(
        showers.geometry, size="small", task=task, **tiny_hparams.get(name, {})
    )
    if isinstance(model, TorchModel):
        model.fit(showers, epochs=1, max_steps=2, batch_size=8, progress=False, device="cpu")
    else:
        model.fit(showers)
    return model


# -- the contract: every model and task round-trips ---------------------------------------------


def test_every_model_has_a_task_in_the_contract():
    assert {name for name, _ in CASES} == set(MODELS)
    assert ("bdt", "classify") in CASES


@pytest.mark.parametrize(("name", "task"), CASES)
def test_every_model_and_task_round_trips_through_a_checkpoint(
    name, task, showers, tiny_hparams, tmp_path
):
    model = _fit(name, task, showers, tiny_hparams)
    before = model.predict(showers, device="cpu")
    path = model.save(tmp_path / "model.pt")
    torch.load(path, map_location="cpu", weights_only=True)  # what `calogeo evaluate` does
    again = load_model(path)
    assert (type(again), again.task) == (type(model), task)
    after = again.predict(showers, device="cpu")
    for field in ("score", "energy"):
        a, b = getattr(before, field), getattr(after, field)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_bdt_classifier_trained_by_the_cli_is_evaluated_by_the_cli(files, capsys):
    model = str(files / "bdt.pt")
    train = ["train", "bdt", "--data", str(files / "train.h5"), "--task", "classify"]
    assert main([*train, "--size", "small", "--set", "max_iter=5", "-o", model]) == 0
    assert (
        main(["evaluate", model, "--data", str(files / "train.h5"), "-o", str(files / "ev")]) == 0
    )
    assert (files / "ev" / "summary.json").exists()
    capsys.readouterr()


def test_a_bdt_checkpoint_of_calogeo_0_1_with_an_empty_regressor_still_loads(
    showers, tiny_hparams, tmp_path
):
    model = _fit("bdt", "classify", showers, tiny_hparams)
    checkpoint = model.checkpoint()
    checkpoint["state"]["regressor"] = b""  # what calogeo 0.1 wrote for the absent estimator
    torch.save(checkpoint, tmp_path / "old.pt")
    again = load_model(tmp_path / "old.pt")
    np.testing.assert_array_equal(again.predict(showers).score, model.predict(showers).score)


# -- checkpoints that cannot predict are refused -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "task"), [("dnn", "both"), ("linear", "regress"), ("bdt", "both")]
)
def test_a_checkpoint_without_weights_is_refused(name, task, showers, tiny_hparams, tmp_path):
    checkpoint = _fit(name, task, showers, tiny_hparams).checkpoint()
    checkpoint["state"] = {}
    torch.save(checkpoint, tmp_path / "empty_state.pt")
    with pytest.raises(CalogeoError, match=f"model '{name}': the checkpoint holds no"):
        load_model(tmp_path / "empty_state.pt")


def test_a_checkpoint_with_weights_of_another_network_is_refused(showers, tiny_hparams, tmp_path):
    checkpoint = _fit("dnn", "both", showers, tiny_hparams).checkpoint()
    checkpoint["hparams"]["dense_units"] = 16  # the weights are of an 8-unit network
    torch.save(checkpoint, tmp_path / "other.pt")
    with pytest.raises(CalogeoError) as raised:
        load_model(tmp_path / "other.pt")
    assert "weights do not fit the network" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_foreign_pickle_is_refused_in_one_clean_sentence(tmp_path):
    path = tmp_path / "foreign.pt"
    path.write_bytes(pickle.dumps({"format": "calogeo-model", "x": pickle.PickleError()}))
    with pytest.raises(CalogeoError) as raised:
        read_checkpoint(path)
    message = str(raised.value)
    assert "\x1b" not in message
    assert "\n" not in message
    assert message.endswith(".)")  # a whole sentence, not cut in mid-word


# -- train: impossible settings and data are one-line errors before any training -----------------


def _train(files, *args, model="dnn", data="train.h5"):
    return main(["train", model, "--data", str(files / data), "--size", "small", *args])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--epochs", "0"], "epochs must be an integer >= 1, got 0"),
        (["--batch-size", "0"], "batch_size must be an integer >= 1, got 0"),
        (["--lr", "-1"], "lr must be a number > 0, got -1.0"),
        (["--lr", "nan"], "lr must be a number > 0, got nan"),
        (["--set", "patience=0"], "patience must be an integer >= 1, got 0"),
        (["--set", "dense_units=-1"], "cannot build its network on 'tiny'"),
    ],
)
def test_impossible_training_settings_are_refused_before_training(files, capsys, args, error):
    output = files / "model.pt"
    assert _train(files, *args, "-o", str(output)) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert error in err
    assert "training dnn" not in err  # refused before the data are read
    assert not output.exists()


def test_a_network_that_cannot_be_built_names_the_hyper_parameters(files, capsys):
    assert _train(files, "--set", "filters=-1", "-o", str(files / "m.pt"), model="cnn3d") == 1
    err = capsys.readouterr().err
    assert "model 'cnn3d' cannot build its network" in err
    assert "filters=-1" in err
    assert "lr=" not in err  # training options are not what sizes a network
    assert len(err.strip().splitlines()) == 1


def test_classifying_one_particle_is_refused(files, capsys):
    assert _train(files, "--task", "both", "-o", str(files / "m.pt"), data="gamma.h5") == 1
    err = capsys.readouterr().err
    assert "the training data hold only one class (gamma)" in err
    assert not (files / "m.pt").exists()


@pytest.mark.parametrize(("model", "task"), [("dnn", "both"), ("linear", "regress")])
def test_nan_data_are_refused_in_one_line(files, capsys, model, task):
    # main now refuses non-finite energies when a file is read; the models refuse them too
    # (Showers given in Python), see test_a_model_refuses_nan_showers_given_in_python
    output = files / "m.pt"
    assert _train(files, "--task", task, "-o", str(output), model=model, data="nan.h5") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("calogeo train: error: ")  # refused on reading or by the model
    assert "NaN" in err[-1]
    assert not any("Traceback" in line or "LinAlgError" in line for line in err)
    assert not output.exists()


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_an_output_that_cannot_be_written_is_refused_before_training(files, capsys, where):
    (files / "afile").write_text("")
    output = files if where == "a directory" else files / "afile" / "m.pt"
    assert _train(files, "--task", "regress", "-o", str(output), model="linear") == 1
    err = capsys.readouterr().err
    assert f"{output}: cannot write the checkpoint" in err
    assert len(err.strip().splitlines()) == 1


def test_an_interrupt_before_the_first_checkpoint_does_not_vouch_for_a_stale_file(
    files, capsys, monkeypatch
):
    stale = files / "model.pt"
    stale.write_bytes(b"an earlier run's checkpoint")

    def interrupted(self, train, val):
        raise KeyboardInterrupt

    monkeypatch.setattr("calogeo.trainer.Trainer.run", interrupted)
    assert _train(files, "-o", str(stale)) == 130
    err = capsys.readouterr().err
    assert "holds the last good checkpoint" not in err
    assert f"no checkpoint written yet; {stale} is left as it was (from an earlier run)" in err
    assert stale.read_bytes() == b"an earlier run's checkpoint"


def test_an_interrupt_after_a_checkpoint_says_it_holds_this_runs_model(files, capsys, monkeypatch):
    output = files / "model.pt"
    output.write_bytes(b"an earlier run's checkpoint")

    def one_epoch_then_interrupt(self, train, val):
        self.model.save(output)
        raise KeyboardInterrupt

    monkeypatch.setattr("calogeo.trainer.Trainer.run", one_epoch_then_interrupt)
    assert _train(files, "-o", str(output)) == 130
    assert f"{output} holds the last good checkpoint of this run" in capsys.readouterr().err


def test_evaluating_a_model_on_an_empty_file_is_a_one_line_error(files, showers, capsys):
    write_showers(files / "empty.h5", showers[:0])
    model = str(files / "linear.pt")
    assert _train(files, "--task", "regress", "-o", model, model="linear") == 0
    code = main(["evaluate", model, "--data", str(files / "empty.h5"), "-o", str(files / "ev")])
    assert code == 1
    err = capsys.readouterr().err
    assert "empty.h5: the file holds no events" in err  # refused on reading (main)
    assert "Traceback" not in err


def test_a_model_refuses_nan_showers_given_in_python(showers, tiny_hparams):
    flat = showers.flat()
    flat[3, 2] = np.inf
    bad = Showers.from_flat(showers.geometry, flat, showers.incident_energy, showers.labels)
    with pytest.raises(CalogeoError, match="hold NaN or infinite energies"):
        get_model("linear").build(showers.geometry, task="regress").fit(bad)
    model = _fit("dnn", "both", showers, tiny_hparams)
    with pytest.raises(CalogeoError, match="hold NaN or infinite energies"):
        model.predict(bad, device="cpu")
