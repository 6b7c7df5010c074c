"""Energies calogeo refuses or reports on reading (NaN, infinities, complex and integer
data, negative cells) and label names that cannot become dataset names."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from _reliability import shower_file, spec_file

from calogeo.cli import main
from calogeo.errors import CalogeoError
from calogeo.io import ShowerWriter, open_showers, write_showers
from calogeo.showers import Showers
from calogeo.spec import geometry_from_spec
from calogeo.testing import blob_showers, tungsten_grid_spec

GEOMETRY = geometry_from_spec(tungsten_grid_spec("tiny"))


def cells_file(path: Path, cells: np.ndarray, incident: float = 10.0) -> Path:
    write_showers(path, Showers.from_flat(GEOMETRY, cells, np.full(len(cells), incident)))
    return path


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_resample_refuses_non_finite_cells_naming_the_event(
    tmp_path: Path, bad: float, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = blob_showers(GEOMETRY, 12).flat()
    cells[7, 3] = bad
    source = cells_file(tmp_path / "in.h5", cells)
    target = spec_file(tmp_path, "fine", n=12)
    assert main(["resample", str(source), "--to", str(target), "-o", str(tmp_path / "o.h5")]) == 1
    err = capsys.readouterr().err
    assert "event 7" in err
    assert "non-finite" in err
    assert not (tmp_path / "o.h5").exists()


def test_non_finite_incident_energy_is_refused(tmp_path: Path) -> None:
    path = cells_file(tmp_path / "in.h5", blob_showers(GEOMETRY, 5).flat())
    with h5py.File(path, "a") as h5:
        h5["incident_energy"][2] = np.nan
    with open_showers(path) as source, pytest.raises(CalogeoError, match="event 2: incident"):
        source.read()


@pytest.mark.parametrize("dtype", [np.complex64, np.int32])
def test_native_layers_that_are_not_floats_are_refused(tmp_path: Path, dtype: type) -> None:
    path = shower_file(tmp_path, 6, format_version=1)
    with h5py.File(path, "a") as h5:
        values = h5["layers/layer01"][:]
        del h5["layers/layer01"]
        h5["layers/layer01"] = (values * 1000).astype(dtype)
    with pytest.raises(CalogeoError, match="layers/layer01"):
        open_showers(path)


def test_complex_energies_are_refused_not_truncated() -> None:
    cells = blob_showers(GEOMETRY, 3).flat().astype(np.complex64) * (1 + 1j)
    with pytest.raises(CalogeoError, match="complex"):
        Showers.from_flat(GEOMETRY, cells, np.ones(3))


def test_resample_reports_events_of_negative_energy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = blob_showers(GEOMETRY, 6).flat()
    cells[2] = -cells[2]  # an event of pure negative noise
    source = cells_file(tmp_path / "in.h5", cells)
    target = spec_file(tmp_path, "fine", n=12)
    assert main(["resample", str(source), "--to", str(target), "-o", str(tmp_path / "o.h5")]) == 0
    out = capsys.readouterr().out
    assert "1 events whose cells sum to a negative energy" in out
    assert "without energy" not in out
    with open_showers(tmp_path / "o.h5") as resampled:
        assert resampled.read(2, 3).total_energy()[0] < 0  # kept, moved linearly


def test_writer_refuses_label_names_that_are_not_dataset_names(tmp_path: Path) -> None:
    showers = blob_showers(GEOMETRY, 3)
    with pytest.raises(CalogeoError, match="'a/b'"):
        showers.with_labels(**{"a/b": np.zeros(3)})
    with pytest.raises(CalogeoError, match="'\\.\\.'"):
        showers.with_labels(**{"..": np.zeros(3)})
    with ShowerWriter(tmp_path / "o.h5", GEOMETRY) as writer:
        writer.append(showers)
    assert open_showers(tmp_path / "o.h5").label_names == sorted(showers.labels)
