"""Any model on any geometry: every registered reconstruction model is built on every
registered geometry, trained for one step on four events and asked to predict.

This is the contract test of the registries (a new geometry or model is covered with no extra
work); it fails if a model cannot size itself from a geometry. The models run with hyper-
parameters smaller than the ``small`` preset so that the whole product stays within a couple
of minutes on two CPU cores; the architecture (layers, pooling, branches) is the preset's.
"""

from __future__ import annotations

import numpy as np
import pytest

from calogeo import Showers, get_geometry, get_model, list_geometries, list_models
from calogeo.reconstruction import ReconstructionModel, TorchModel
from calogeo.testing import blob_showers

MODELS = sorted(e.name for e in list_models() if issubclass(e.load(), ReconstructionModel))
GEOMETRIES = sorted(e.name for e in list_geometries())


@pytest.fixture(scope="module", params=GEOMETRIES)
def data(request):
    geometry = get_geometry(request.param)
    return Showers.concatenate(
        [blob_showers(geometry, 2, pdg=22, seed=1), blob_showers(geometry, 2, pdg=111, seed=2)]
    )


def test_the_registries_are_not_empty():
    assert {"linear", "bdt", "dnn", "cnn3d", "googlenet3d", "layer_cnn", "densenet"} <= set(MODELS)
    assert "resnet10_3d" in MODELS
    assert len(GEOMETRIES) >= 5


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_every_model_trains_and_predicts_on_every_geometry(name, data, tiny_hparams):
    cls = get_model(name)
    task = "both" if "classify" in cls.kind else "regress"
    model = cls.build(data.geometry, size="small", task=task, **tiny_hparams.get(name, {}))
    if isinstance(model, TorchModel):
        model.fit(data, val=data, epochs=1, max_steps=1, batch_size=4, progress=False, device="cpu")
    else:
        model.fit(data)
    out = model.predict(data, device="cpu")
    assert len(out) == len(data)
    if model.regresses:
        assert out.energy is not None
        assert np.all(np.isfinite(out.energy))
        assert np.all(out.energy > 0)
    if model.classifies:
        assert out.score is not None
        assert np.all((out.score >= 0) & (out.score <= 1))
