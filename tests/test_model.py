"""The Model interface: building, labels, checkpoints and load_model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from calogeo import CalogeoError, GeometryMismatchError, Showers, geometry_from_spec, get_model
from calogeo.checkpoint import load_model, read_checkpoint
from calogeo.model import Model
from calogeo.particles import class_labels, particle_pdg
from calogeo.reconstruction import ReconstructionModel
from calogeo.testing import blob_showers, tungsten_grid_spec


@pytest.fixture(scope="module")
def geometry():
    return geometry_from_spec(tungsten_grid_spec("tiny", 6))


@pytest.fixture(scope="module")
def showers(geometry):
    return Showers.concatenate(
        [blob_showers(geometry, 12, pdg=22, seed=1), blob_showers(geometry, 12, pdg=111, seed=2)]
    )


def test_particle_names_map_to_pdg_ids():
    assert particle_pdg("gamma") == 22
    assert particle_pdg("PI0") == 111
    assert particle_pdg("-211") == -211
    with pytest.raises(CalogeoError, match="unknown particle 'photon'"):
        particle_pdg("photon")


def test_class_labels_from_pdg(showers):
    labels = class_labels(showers, ["gamma"], ["pi0"])
    np.testing.assert_array_equal(labels, [1] * 12 + [0] * 12)
    charge_blind = showers.with_labels(pdg=np.where(showers.labels["pdg"] == 22, -11, 211))
    np.testing.assert_array_equal(class_labels(charge_blind, ["e"], ["pi"]), labels)


def test_class_labels_refuse_unlisted_particles(showers):
    with pytest.raises(CalogeoError, match=r"PDG ids \[111\] are neither signal"):
        class_labels(showers, ["gamma"], ["pi+"])
    with pytest.raises(CalogeoError, match="no 'pdg' label"):
        class_labels(
            Showers(showers.geometry, showers.layers, showers.incident_energy), ["gamma"], ["pi0"]
        )


def test_build_merges_preset_and_overrides(geometry):
    dnn = get_model("dnn").build(geometry, size="small", dense_units=16, seed=3)
    assert dnn.hparams["dense_units"] == 16
    assert dnn.hparams["dense_layers"] == get_model("dnn").defaults["small"]["dense_layers"]
    assert dnn.task == "both"
    assert dnn.hparams["signal"] == ["gamma"]


def test_build_refuses_unknown_hparams_sizes_and_tasks(geometry):
    with pytest.raises(CalogeoError, match="no hyper-parameter dense_unit "):
        get_model("dnn").build(geometry, dense_unit=16)
    with pytest.raises(CalogeoError, match="--size 'huge'"):
        get_model("dnn").build(geometry, size="huge")
    with pytest.raises(CalogeoError, match="cannot classify"):
        get_model("linear").build(geometry, task="classify")
    with pytest.raises(CalogeoError, match="--task 'sort'"):
        get_model("dnn").build(geometry, task="sort")


def test_reconstruction_models_are_not_generative(geometry):
    model = get_model("dnn").build(geometry, size="small")
    assert isinstance(model, ReconstructionModel)
    with pytest.raises(CalogeoError, match="not generative"):
        model.generate(np.array([10.0]))
    with pytest.raises(CalogeoError, match="cannot be trained"):
        Model(geometry, {}).fit(None)


def test_untrained_model_refuses_to_predict(geometry, showers):
    with pytest.raises(CalogeoError, match="not trained yet"):
        get_model("dnn").build(geometry, size="small").predict(showers)


@pytest.mark.parametrize("name", ["dnn", "bdt", "linear"])
def test_save_load_predict_is_identical(name, geometry, showers, tmp_path):
    model = get_model(name).build(
        geometry, size="small", task="regress" if name == "linear" else "both"
    )
    options = {"epochs": 2, "progress": False, "device": "cpu"} if name == "dnn" else {}
    model.fit(showers, **options)
    before = model.predict(showers, device="cpu")
    path = model.save(tmp_path / f"{name}.pt")
    again = load_model(path)
    assert type(again) is type(model)
    assert again.hparams == model.hparams
    assert again.geometry == geometry
    assert json.dumps(again.history) == json.dumps(model.history)  # NaN-safe
    after = again.predict(showers, device="cpu")
    for field in ("energy", "score", "label"):
        a, b = getattr(before, field), getattr(after, field)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a, b)
    assert after.model == name
    assert after.geometry == "tiny"
    assert not list(tmp_path.glob(".*partial*"))


def test_checkpoint_holds_everything_to_rebuild(geometry, showers, tmp_path):
    model = get_model("dnn").build(geometry, size="small")
    model.fit(showers, epochs=1, progress=False, device="cpu")
    checkpoint = read_checkpoint(model.save(tmp_path / "m.pt"))
    assert checkpoint["model"] == "dnn"
    assert checkpoint["geometry_name"] == "tiny"
    assert "[[layers]]" in checkpoint["geometry_spec"]
    assert set(checkpoint["normalisation"]) == {
        "cell_scale_gev",
        "global_mean",
        "global_std",
        "linear",
        "linear_scale",
        "input_scale",
        "e_ref_floor_gev",
    }
    assert all(isinstance(v, torch.Tensor) for v in checkpoint["state"].values())
    assert len(checkpoint["history"]) == 1


def test_load_model_refuses_files_that_are_not_checkpoints(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"echo junk\n")
    with pytest.raises(CalogeoError, match=r"junk.pt: not a calogeo model checkpoint") as info:
        load_model(junk)
    assert "\n" not in str(info.value)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CalogeoError, match="no format='calogeo-model' entry"):
        load_model(other)
    with pytest.raises(CalogeoError, match="no such model checkpoint"):
        load_model(tmp_path / "missing.pt")


def test_model_refuses_data_on_another_geometry(geometry, showers):
    model = get_model("linear").build(geometry)
    model.fit(showers)
    other = geometry_from_spec(tungsten_grid_spec("wider", 7))
    with pytest.raises(GeometryMismatchError, match=r"calogeo resample \.\.\. --to tiny"):
        model.predict(blob_showers(other, 2))
