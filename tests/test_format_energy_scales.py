"""Energy scales of the public layouts on the shipped detector specs: a layout that stores
deposited energy (CaloGAN: lead and argon alike) is read as calogeo's visible energy, each
layer times its sampling fraction, and written back exactly."""

from __future__ import annotations

import calogeo_detectors
import calogeo_formats
import h5py
import numpy as np
import pytest
from calogeo_formats.calogan import CaloGANFormat

from calogeo import get_geometry, open_showers, read_showers, write_showers
from calogeo.formats import FormatWriter
from calogeo.testing import isolated_plugins

N = 5
CALOGAN_SHAPES = {"layer_0": (3, 96), "layer_1": (12, 12), "layer_2": (12, 6)}


@pytest.fixture(autouse=True)
def plugins():
    with isolated_plugins(calogeo_formats, calogeo_detectors) as manager:
        yield manager


def test_calogan_files_hold_deposited_energy(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "calogan.h5"
    raw = {k: rng.exponential(50.0, (N, *s)).astype(np.float32) for k, s in CALOGAN_SHAPES.items()}
    overflow = rng.exponential(10.0, (N, 3)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["energy"] = rng.uniform(1, 100, (N, 1)).astype(np.float32)
        f["overflow"] = overflow
        for key, values in raw.items():
            f[key] = values
    geometry = get_geometry("calogan")
    fractions = [layer.sampling_fraction for layer in geometry.layers]
    assert all(0.1 < f < 0.5 for f in fractions)  # 2 mm Pb + 4 mm LAr
    showers = read_showers(path)
    for i, key in enumerate(CALOGAN_SHAPES):
        np.testing.assert_allclose(showers.layers[i], raw[key] * fractions[i] / 1000, rtol=1e-6)
    np.testing.assert_allclose(
        showers.labels["overflow"], overflow * np.array(fractions) / 1000, rtol=1e-6
    )
    write_showers(tmp_path / "native.h5", showers)
    with open_showers(tmp_path / "native.h5") as native:
        back = native.read()

    with FormatWriter(tmp_path / "back.h5", CaloGANFormat) as writer:
        writer.append(back)
    with h5py.File(tmp_path / "back.h5", "r") as f:
        for key, values in raw.items():
            np.testing.assert_allclose(f[key][()], values, rtol=1e-6)
        np.testing.assert_allclose(f["overflow"][()], overflow, rtol=1e-6)
