"""CLIC/LCD files: the arrays' first axis is eta (image rows), and files holding both the ECAL
and the HCAL arrays read as the combined geometry."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from calogeo import Showers, get_format, get_geometry, open_showers
from calogeo.formats import FormatWriter

N = 3


def lcd_file(path: Path, ecal: tuple[int, ...], hcal: tuple[int, ...] | None) -> Path:
    """An LCD-layout file of N events: sparse random ECAL (and HCAL) arrays, energy, pdgID."""
    rng = np.random.default_rng(7)
    with h5py.File(path, "w") as f:
        for key, shape in (("ECAL", ecal), ("HCAL", hcal)):
            if shape is not None:
                cube = rng.exponential(0.1, (N, *shape)) * (rng.random((N, *shape)) < 0.1)
                f[key] = cube.astype(np.float32)
        f["energy"] = rng.uniform(10, 100, N).astype(np.float32)
        f["pdgID"] = np.full(N, 211)
    return path


def test_ecal_and_hcal_file_reads_as_the_combined_geometry_with_eta_on_rows(tmp_path) -> None:
    """A published large-window file (ECAL 51x51x25 + HCAL 11x11x60) reads on clic_large; each
    layer image is the array's (first axis, second axis) = (eta rows, phi columns) slice."""
    path = lcd_file(tmp_path / "large.h5", (51, 51, 25), (11, 11, 60))
    with open_showers(path) as source:
        assert source.geometry.name == "clic_large"
        assert source.geometry.groups == ["ECAL", "HCAL"]
        showers = source.read()
    with h5py.File(path, "r") as f:
        ecal, hcal = f["ECAL"][()], f["HCAL"][()]
    for i in range(25):
        np.testing.assert_array_equal(showers.layers[i], ecal[:, :, :, i])
    for i in range(60):
        np.testing.assert_array_equal(showers.layers[25 + i], hcal[:, :, :, i])


def test_writing_puts_eta_on_the_first_axis(tmp_path) -> None:
    """Showers on clic_ecal_rec with energy in row 3 (eta), column 7 (phi) of layer 2 are
    written at ECAL[:, 3, 7, 2]; reading gives the same showers back."""
    geometry = get_geometry("clic_ecal_rec")
    layers = [np.zeros((1, *layer.shape), dtype=np.float32) for layer in geometry.layers]
    layers[2][0, 3, 7] = 5.0
    showers = Showers(geometry, layers, np.array([50.0]), {"pdg": np.array([22])})
    path = tmp_path / "written.h5"
    with FormatWriter(path, get_format("lcd")) as writer:
        writer.append(showers)
    with h5py.File(path, "r") as f:
        ecal = f["ECAL"][()]
    assert ecal.shape == (1, 25, 25, 25)
    assert ecal[0, 3, 7, 2] == 5.0
    assert ecal.sum() == 5.0
    with open_showers(path) as back:
        assert back.read().layers[2][0, 3, 7] == 5.0
