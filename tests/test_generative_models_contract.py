"""Contract: every generative model trains a few steps on tiny data and generates on every
shipped geometry and on a geometry of hexagonal and r-alpha cells: one row of cells per shower,
non-negative, the conditions stored. A model that cannot adapt to a geometry fails here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import calogeo
from calogeo.generative import GenerativeModel
from calogeo.spec import geometry_from_spec
from calogeo.testing import blob_showers

POLYGONS_SPEC = """
name = "hex_and_rings"
title = "hexagonal cells, then r-alpha rings"
citation = "test"
distance_from_ip_mm = 1500.0
[[layers]]
name = "hex"
repeat = 2
thickness_mm = 5.0
material = "W"
layout = { type = "hexagonal", pitch_mm = 8.0, shape = [4, 5] }
[[layers]]
name = "rings"
thickness_mm = 10.0
material = "W"
layout = { type = "r_alpha", r_edges_mm = [0.0, 6.0, 14.0, 25.0], n_alpha = 6, arc_segments = 4 }
"""

# The networks at a fraction of their small width: the contract is about shapes, not learning.
TINY: dict[str, dict[str, Any]] = {
    "calogan": {
        "latent": 8,
        "dense_channels": 2,
        "conv_filters": 2,
        "lc_filters": 2,
        "disc_conv_filters": 2,
        "disc_lc_filters": [2, 2, 2],
        "mbd_kernels": 2,
        "mbd_dims": 2,
    },
    "gan3d": {"latent": 6, "gen_filters": [2, 2, 2], "disc_filters": [2, 2, 2, 2]},
    "wgan": {
        "latent": 4,
        "ngf": 1,
        "critic_widths": [2, 2],
        "critic_blocks": [1, 1],
        "constrainer_hidden": [4, 4, 4],
        "constrainer_epochs": 1,
    },
    "bibae": {
        "ngf": 1,
        "full_convs": [1],
        "ndf": 1,
        "latent_width": 4,
        "z_enc": 2,
        "z_rand": 2,
        "pp_ndf": 2,
        "pp_layers": 3,
        "pp_epochs": 1,
        "kde_events": 8,
    },
}


def _generative_models() -> list[str]:
    return sorted(
        entry.name
        for entry in calogeo.list_models()
        if isinstance(calogeo.get_model(entry.name), type)
        and issubclass(calogeo.get_model(entry.name), GenerativeModel)
    )


def _geometries() -> list[str]:
    return [entry.name for entry in calogeo.list_geometries()] + ["hex_and_rings"]


def test_the_three_seed_models_are_in_the_contract():
    assert {"calogan", "gan3d", "wgan"} <= set(_generative_models())


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.mark.slow
@pytest.mark.parametrize("geometry_name", _geometries())
@pytest.mark.parametrize("model_name", _generative_models())
def test_every_generative_model_trains_and_generates_on_every_geometry(model_name, geometry_name):
    if geometry_name == "hex_and_rings":
        geometry = geometry_from_spec(POLYGONS_SPEC)
    else:
        geometry = calogeo.get_geometry(geometry_name)
    showers = blob_showers(geometry, 10, seed=4)
    cls = calogeo.get_model(model_name)
    model = cls.build(geometry, size="small", epochs=1, batch_size=4, **TINY.get(model_name, {}))
    model.fit(showers, progress=False, device="cpu", max_steps=2, val_fraction=0.2)
    assert np.isfinite(model.history[-1]["loss_critic"])
    energies = np.array([12.0, 47.0, 95.0])
    angles = {"theta": np.array([0.0, 0.05, 0.1])} if "theta" in model.conditions else {}
    out = model.generate(energies, device="cpu", seed=0, batch_size=2, **angles)
    flat = out.flat()
    assert out.geometry == geometry
    assert flat.shape == (3, geometry.n_cells)
    assert np.all(np.isfinite(flat))
    assert np.all(flat >= 0)
    np.testing.assert_array_equal(out.incident_energy, energies)
    assert np.all(out.labels["pdg"] == 22)
    for name, value in angles.items():
        np.testing.assert_allclose(out.labels[name], value, rtol=1e-6)
