"""Public layouts: each test writes a small file in the layout with h5py, reads it through the
formats plugin, and checks units, axis order, labels and exact round trips through the native
format. Geometries with the detectors' names are throwaway specs of the right shapes, so these
tests do not depend on the detector specs."""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import calogeo_formats
import h5py
import numpy as np
import pytest

from calogeo import (
    Geometry,
    ShowerFileError,
    Showers,
    geometry_from_spec,
    get_format,
    get_geometry,
    hookimpl,
    list_formats,
    open_showers,
    read_showers,
    write_showers,
)
from calogeo.formats import FormatWriter, detect_format, formats_for
from calogeo.materials import STANDARD_MATERIALS, layered
from calogeo.testing import isolated_plugins

N = 4


def grid_spec(name: str, blocks: list[tuple[int, tuple[int, int], str]]) -> str:
    """A spec of ``repeat`` layers of shape (rows, cols) per block."""
    lines = [f'name = "{name}"', f'title = "{name} test window"', 'citation = "test"']
    lines.append("distance_from_ip_mm = 1500.0")
    for i, (repeat, (rows, cols), group) in enumerate(blocks):
        lines += [
            "[[layers]]",
            f'name = "block{i}_"',
            f"repeat = {repeat}",
            "thickness_x0 = 1.0",
            'material = "Pb"',
            f'group = "{group}"',
            f'layout = {{ type = "grid", pitch_mm = [5.0, 5.0], shape = [{rows}, {cols}] }}',
        ]
    return "\n".join(lines) + "\n"


TEST_GEOMETRIES = {
    "calogan": [(1, (3, 96), "ECAL"), (1, (12, 12), "ECAL"), (1, (12, 6), "ECAL")],
    "clic_ecal": [(25, (51, 51), "ECAL")],
    "clic_ecal_rec": [(25, (25, 25), "ECAL")],
    "clic_hcal": [(60, (11, 11), "HCAL")],
    "clic": [(25, (25, 25), "ECAL"), (60, (11, 11), "HCAL")],
    "ild_ahcal": [(48, (25, 25), "HCAL")],
    "small": [(1, (2, 3), "ECAL"), (1, (4, 4), "ECAL")],
}


@functools.cache
def window_geometry(name: str) -> Geometry:
    return geometry_from_spec(grid_spec(name, TEST_GEOMETRIES[name]))


class Detectors:
    """Throwaway geometries with the names and shapes the layouts expect."""

    @hookimpl
    def calogeo_register_geometries(self, register):
        for name in TEST_GEOMETRIES:
            register(window_geometry(name))


@pytest.fixture(autouse=True)
def plugins():
    with isolated_plugins(calogeo_formats, Detectors()) as manager:
        yield manager


def sparse(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """Random float32 energies with ~80% empty cells."""
    return (rng.exponential(scale, shape) * (rng.random(shape) < 0.2)).astype(np.float32)


def datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.update({k: v[()]}) if isinstance(v, h5py.Dataset) else None)
    return out


def round_trip(path: Path, tmp_path: Path) -> dict[str, np.ndarray]:
    """public -> native -> public; returns the datasets of the rewritten public file."""
    with open_showers(path) as source:
        fmt = source.format
        write_showers(tmp_path / "native.h5", source.read())
    back = tmp_path / "back.h5"
    with open_showers(tmp_path / "native.h5") as native, FormatWriter(back, fmt) as writer:
        for batch in native.iter_batches(3):
            writer.append(batch)
    return datasets(back)


def assert_same_datasets(a: dict, b: dict, mev: tuple[str, ...] = ()) -> None:
    assert sorted(a) == sorted(b)
    for key, values in a.items():
        assert values.shape == b[key].shape, key
        if key in mev:  # GeV in between: equal up to float32 rounding of the 1000 scaling
            np.testing.assert_allclose(values, b[key], rtol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(values, b[key], err_msg=key)


# -- CaloGAN -----------------------------------------------------------------------------------


@pytest.fixture
def calogan_file(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "calogan.h5"
    with h5py.File(path, "w") as f:
        f["energy"] = rng.uniform(1, 100, (N, 1)).astype(np.float32)
        for key, shape in (("layer_0", (3, 96)), ("layer_1", (12, 12)), ("layer_2", (12, 6))):
            f[key] = sparse(rng, (N, *shape), 50.0)
        f["overflow"] = rng.exponential(10.0, (N, 3)).astype(np.float32)
    return path


def test_calogan_is_detected_and_converted_to_gev(calogan_file):
    raw = datasets(calogan_file)
    with open_showers(calogan_file) as source:
        assert source.format.name == "calogan"
        assert source.geometry.name == "calogan"
        showers = source.read()
    np.testing.assert_allclose(showers.layers[1], raw["layer_1"] / 1000, rtol=1e-6)
    np.testing.assert_array_equal(showers.incident_energy, raw["energy"][:, 0])
    np.testing.assert_allclose(showers.labels["overflow"], raw["overflow"] / 1000, rtol=1e-6)


def test_calogan_round_trip(calogan_file, tmp_path):
    mev = ("layer_0", "layer_1", "layer_2", "overflow")
    assert_same_datasets(datasets(calogan_file), round_trip(calogan_file, tmp_path), mev)


def test_layout_geometry_that_is_not_registered_asks_for_from(calogan_file):
    with isolated_plugins(calogeo_formats):
        with pytest.raises(ShowerFileError, match=r"'calogan', which is not available.*--from"):
            open_showers(calogan_file)
        with open_showers(calogan_file, window_geometry("calogan")) as f:
            assert len(f) == N


# -- CLIC / LCD --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ecal", "hcal", "geometry"),
    [
        ((51, 51, 25), None, "clic_ecal"),
        ((25, 25, 25), (11, 11, 60), "clic"),
        ((25, 25, 25), None, "clic_ecal_rec"),
        (None, (11, 11, 60), "clic_hcal"),
    ],
)
def test_lcd_geometry_axes_labels_and_round_trip(tmp_path, ecal, hcal, geometry):
    rng = np.random.default_rng(2)
    path = tmp_path / "lcd.h5"
    with h5py.File(path, "w") as f:
        if ecal:
            f["ECAL"] = sparse(rng, (N, *ecal), 0.1)
            f["ECAL"][1, 3, 7, 2] = 5.0  # eta=3 (row), phi=7 (column), layer 2
        if hcal:
            f["HCAL"] = sparse(rng, (N, *hcal), 0.1)
            f["HCAL"][2, 1, 9, 40] = 7.0  # eta=1, phi=9, HCAL layer 40
        f["energy"] = rng.uniform(10, 500, N).astype(np.float32)
        f["pdgID"] = np.array([11, 22, 111, 211])
        f["recoTheta"] = rng.uniform(1.4, 1.7, N).astype(np.float32)
        f["openingAngle"] = rng.uniform(0, 0.01, (N, 1)).astype(np.float32)
    with open_showers(path) as source:
        assert source.format.name == "lcd"
        assert source.geometry.name == geometry
        showers = source.read()
    if ecal:
        assert showers.layers[2][1, 3, 7] == 5.0
    if hcal:
        first_hcal = 25 if ecal else 0
        assert showers.layers[first_hcal + 40][2, 1, 9] == 7.0
    assert showers.labels["pdg"].tolist() == [11, 22, 111, 211]
    assert showers.labels["opening_angle"].shape == (N,)
    assert sorted(showers.labels) == ["opening_angle", "pdg", "reco_theta"]
    raw = datasets(path)
    raw["openingAngle"] = raw["openingAngle"][:, 0]  # written back as (N,)
    assert_same_datasets(raw, round_trip(path, tmp_path))


# -- ILD ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("group", ["hcal_only/", ""])
def test_ild_axes_units_and_round_trip(tmp_path, group):
    rng = np.random.default_rng(3)
    path = tmp_path / "ild.h5"
    with h5py.File(path, "w") as f:
        f[f"{group}layers"] = sparse(rng, (N, 48, 25, 25), 1.0)
        f[f"{group}layers"][0, 5, 3, 7] = 250.0  # layer 5, x=3, y=7, MeV
        f[f"{group}energy"] = rng.uniform(10, 100, (N, 1)).astype(np.float32)
    with open_showers(path) as source:
        assert source.format.name == "ild"
        assert source.geometry.name == "ild_ahcal"
        showers = source.read()
    assert showers.layers[5][0, 7, 3] == pytest.approx(0.25)
    back = round_trip(path, tmp_path)
    raw = {f"hcal_only/{k.split('/')[-1]}": v for k, v in datasets(path).items()}
    assert_same_datasets(raw, back, mev=("hcal_only/layers",))


# -- CaloChallenge -----------------------------------------------------------------------------


def calochallenge_file(path: Path, voxels: int, rng: np.random.Generator) -> Path:
    with h5py.File(path, "w") as f:
        f["incident_energies"] = rng.uniform(1e3, 1e6, (N, 1)).astype(np.float32)
        f["showers"] = sparse(rng, (N, voxels), 100.0)
    return path


@pytest.mark.parametrize(
    ("name", "voxels"), [("calochallenge_2", 6480), ("calochallenge_3", 40500)]
)
def test_calochallenge_units_and_round_trip(tmp_path, name, voxels):
    path = calochallenge_file(tmp_path / "cc.h5", voxels, np.random.default_rng(4))
    raw = datasets(path)
    with open_showers(path) as source:
        assert source.format.name == "calochallenge"
        assert source.geometry.name == name
        showers = source.read()
    np.testing.assert_allclose(
        showers.incident_energy, raw["incident_energies"][:, 0] / 1000, rtol=1e-6
    )
    # the files hold the Si deposit / 0.033 (test_calochallenge.py), calogeo visible energy
    visible = raw["showers"].sum(axis=1) * 0.033 / 1000
    np.testing.assert_allclose(showers.total_energy(), visible, rtol=1e-5)
    assert_same_datasets(raw, round_trip(path, tmp_path), mev=("incident_energies", "showers"))


def test_calochallenge_voxels_land_at_their_alpha_and_r(tmp_path):
    """Voxel (layer, alpha, r) of the challenge, alpha from -pi, sits where its bin is."""
    geometry = get_geometry("calochallenge_2")
    n_alpha, n_r = geometry.layers[0].shape
    edges = np.array(geometry.layers[0].layout.to_spec()["r_edges_mm"])
    d_alpha = 2 * math.pi / n_alpha
    layer, r_bin = 3, 4
    showers = np.zeros((n_alpha, geometry.n_cells), dtype=np.float32)
    for a in range(n_alpha):  # event a has one voxel: (layer 3, alpha bin a, r bin 4)
        showers[a, layer * n_alpha * n_r + a * n_r + r_bin] = 1000.0
    path = tmp_path / "cc.h5"
    with h5py.File(path, "w") as f:
        f["incident_energies"] = np.full((n_alpha, 1), 1e4, dtype=np.float32)
        f["showers"] = showers
    read = read_showers(path)
    centres = geometry.layers[layer].layout.centres_mm()
    for a in range(n_alpha):
        (cell,) = np.flatnonzero(read.layers[layer][a])
        x, y = centres[cell]
        expected = -math.pi + (a + 0.5) * d_alpha
        assert math.remainder(math.atan2(y, x) - expected, 2 * math.pi) == pytest.approx(
            0, abs=1e-6
        )
        assert edges[r_bin] < math.hypot(x, y) < edges[r_bin + 1]


def test_calochallenge_geometries_match_the_binning_and_par04(plugins):
    # PHYSICS.md: 45 readout layers of 2 x (1.4 mm W + 0.3 mm Si) = 3.4 mm, 0.805 X0 each,
    # R_M ~1.09 cm [calc]; recomputed here from the composition with the PDG mixture rule.
    period = layered("p", [(STANDARD_MATERIALS["W"], 1.4), (STANDARD_MATERIALS["Si"], 0.3)])
    assert 3.4 / period.x0_mm == pytest.approx(0.805, abs=0.002)
    for name, shape, voxels in (
        ("calochallenge_2", (16, 9), 6480),
        ("calochallenge_3", (50, 18), 40500),
    ):
        geometry = get_geometry(name)
        assert geometry.n_layers == 45
        assert geometry.n_cells == voxels
        assert set(geometry.shapes) == {shape}
        assert geometry.layers[0].depth_x0 == pytest.approx(3.4 / period.x0_mm)
        assert geometry.layers[0].material.rm_mm == pytest.approx(10.9, abs=0.1)
        assert geometry.distance_from_ip_mm == 800.0
        # the cells tile the disc of the outer r edge, arcs drawn as polylines (sagitta < 0.5%)
        area = geometry.layers[0].layout.areas_mm2().sum()
        assert area == pytest.approx(math.pi * 41.85**2, rel=1e-2)


def test_unknown_voxel_count_needs_from(tmp_path):
    path = calochallenge_file(tmp_path / "cc.h5", 22, np.random.default_rng(5))
    with pytest.raises(ShowerFileError, match="pass --from GEOMETRY"):
        open_showers(path)
    showers = read_showers(path, geometry=get_geometry("small"))
    assert showers.geometry.name == "small"
    raw = datasets(path)["showers"]
    np.testing.assert_allclose(showers.layers[1].reshape(N, -1), raw[:, 6:] / 1000, rtol=1e-6)


# -- errors ------------------------------------------------------------------------------------


def test_unknown_layout_lists_its_keys(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["images"] = np.zeros((2, 3))
        f["targets"] = np.zeros(2)
    with pytest.raises(ShowerFileError, match=r"no known shower layout.*\(images, targets\)"):
        open_showers(path)


def test_from_geometry_that_does_not_fit(calogan_file):
    with pytest.raises(ShowerFileError, match="calogan arrays do not fit geometry 'small'") as exc:
        open_showers(calogan_file, get_geometry("small"))
    assert str(calogan_file) in str(exc.value)


def test_truncated_public_file(calogan_file):
    os.truncate(calogan_file, calogan_file.stat().st_size // 2)
    with pytest.raises(ShowerFileError, match="truncated") as exc:
        detect_format(calogan_file)
    assert "\n" not in str(exc.value)
    with pytest.raises(ShowerFileError, match="truncated"):
        open_showers(calogan_file)


def test_datasets_of_different_lengths(calogan_file):
    with h5py.File(calogan_file, "r+") as f:
        f.create_dataset("short", data=f["layer_2"][:2])
        del f["layer_2"]
        f["layer_2"] = f["short"]
        del f["short"]
    with pytest.raises(ShowerFileError, match="hold different numbers of events") as exc:
        open_showers(calogan_file)
    assert str(calogan_file) in str(exc.value)
    assert "layer" in str(exc.value)


def test_missing_dataset_is_named(tmp_path):
    path = tmp_path / "lcd.h5"
    with h5py.File(path, "w") as f:
        f["ECAL"] = np.zeros((N, 25, 25, 25), dtype=np.float32)
        f["energy"] = np.ones((N, 2), dtype=np.float32)
    with pytest.raises(ShowerFileError, match=r"'energy' has shape \(2,\) per event"):
        open_showers(path)


def test_writing_checks_the_layout_can_hold_the_geometry(tmp_path, calogan_file):
    showers = read_showers(calogan_file)
    fmt = detect_format(calogan_file)
    assert fmt.writable()
    with pytest.raises(ShowerFileError, match=r"cannot write the 'ild' layout.*one image shape"):
        get_format("ild").write(tmp_path / "x.h5", showers)
    assert not (tmp_path / "x.h5").exists()
    assert [f.name for f in formats_for(showers.geometry)] == ["calogan"]
    assert formats_for(get_geometry("small")) == []


def test_public_layouts_on_the_registered_detector_geometries(tmp_path):
    """With the real detector specs installed, every layout's default geometry is the shipped
    one and a file written in the layout reads back onto it."""
    rng = np.random.default_rng(6)
    with isolated_plugins(entry_points=True):
        for entry in list_formats():
            fmt = entry.load()
            for name in fmt.geometry_names:
                geometry = get_geometry(name)
                cells = sparse(rng, (N, geometry.n_cells), 0.1)
                showers = Showers.from_flat(geometry, cells, rng.uniform(1, 100, N))
                path = tmp_path / f"{name}.h5"
                fmt.write(path, showers)
                with open_showers(path) as source:
                    assert source.format is fmt
                    assert source.geometry == geometry, name
                    back = source.read()
                np.testing.assert_allclose(back.flat(), showers.flat(), rtol=1e-6, err_msg=name)
                assert [f.name for f in formats_for(geometry)] == [fmt.name]
