"""Hostile arguments and files give one-line errors (never a traceback), and misleading
messages say what is wrong."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from _reliability import assert_one_line_error, run_cli, shower_file, spec_file

from calogeo.cli import main
from calogeo.io import ShowerWriter, write_showers
from calogeo.showers import Showers
from calogeo.spec import geometry_from_spec
from calogeo.testing import blob_showers, tungsten_grid_spec

GEOMETRY = geometry_from_spec(tungsten_grid_spec("tiny"))


def one_line_error(argv: list[str | Path], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the command line in-process; it must fail with exit code 1 and one line."""
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def flat_file(folder: Path, name: str, cells: np.ndarray) -> Path:
    path = folder / name
    write_showers(path, Showers.from_flat(GEOMETRY, cells, np.full(len(cells), 10.0)))
    return path


def empty_file(path: Path) -> Path:
    with ShowerWriter(path, GEOMETRY):
        pass
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    good = shower_file(tmp_path, 40, name="good.h5")
    cells = blob_showers(GEOMETRY, 20).flat()
    inf = cells.copy()
    inf[4, 7] = np.inf
    return {
        "good": good,
        "empty": empty_file(tmp_path / "empty.h5"),
        "zero": flat_file(tmp_path, "zero.h5", np.zeros((20, GEOMETRY.n_cells), np.float32)),
        "inf": flat_file(tmp_path, "inf.h5", inf),
    }


def test_simulate_negative_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--geometry", spec_file(tmp_path), "--particle", "e-", "--energy", "10",
            "-n", "5", "--seed", "-1", "-o", tmp_path / "o.h5"]  # fmt: skip
    assert "--seed -1" in one_line_error(argv, capsys)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_evaluate_max_events(
    tmp_path: Path, files: dict[str, Path], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = files["good"]
    line = one_line_error(
        ["evaluate", good, good, "--max-events", value, "-o", tmp_path / "ev"], capsys
    )
    assert f"--max-events {value}" in line


@pytest.mark.parametrize(("which", "needle"), [("empty", "no events"), ("zero", "is zero"),
                                               ("inf", "non-finite")])  # fmt: skip
def test_evaluate_empty_zero_and_infinite_data(
    tmp_path: Path,
    files: dict[str, Path],
    which: str,
    needle: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = one_line_error(["evaluate", files["good"], files[which], "-o", tmp_path / "ev"], capsys)
    assert needle in line
    assert str(files[which]) in line
    assert not (tmp_path / "ev").exists()


def test_evaluate_cuda_without_gpu_is_refused(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    predictions = tmp_path / "pred.h5"
    from calogeo.predictions import Predictions

    Predictions(incident_energy=np.ones(4), energy=np.ones(4)).save(predictions)
    line = one_line_error(
        ["evaluate", predictions, "--device", "cuda", "-o", tmp_path / "e"], capsys
    )
    assert "no CUDA device" in line


def test_evaluate_names_the_files_of_two_geometries_with_one_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = shower_file(tmp_path, 20, name="base_tiny.h5")
    other = geometry_from_spec(tungsten_grid_spec("tiny", n=8))  # same name, other cells
    b = tmp_path / "fake_tiny.h5"
    write_showers(b, blob_showers(other, 20))
    line = one_line_error(["evaluate", a, b, "-o", tmp_path / "ev"], capsys)
    assert str(a) in line
    assert str(b) in line
    assert "both named 'tiny'" in line


def test_plot_observables_on_an_empty_file(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(["plot", "observables", files["empty"], "-o", tmp_path / "o.png"], capsys)
    assert "no events" in line


def test_plot_layers_on_infinite_data(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(["plot", "layers", files["inf"], "-o", tmp_path / "o.png"], capsys)
    assert "event 4" in line


def test_plot_layers_max_layers_zero(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plot", "layers", files["good"], "--max-layers", "0", "-o", tmp_path / "o.png"]
    assert "--max-layers 0" in one_line_error(argv, capsys)


def test_plot_to_a_file_that_is_not_an_image_is_refused_before_work(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    line = one_line_error(["plot", "layers", files["good"], "-o", tmp_path / "x.h5"], capsys)
    assert ".h5 is not an image format" in line


def test_demo_negative_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "-n -1" in one_line_error(["demo", "-n", "-1", "-o", tmp_path / "demo"], capsys)


def calogan_file(path: Path, energy: np.ndarray, first_shape: tuple[int, int]) -> Path:
    with h5py.File(path, "w") as h5:
        h5["energy"] = energy
        for key, shape in (("layer_0", first_shape), ("layer_1", (12, 12)), ("layer_2", (12, 6))):
            h5[key] = np.ones((4, *shape), np.float32)
    return path


def test_convert_calogan_with_a_scalar_energy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = calogan_file(tmp_path / "cg.h5", np.float32(10.0), (3, 96))
    line = one_line_error(["convert", source, tmp_path / "out.h5"], capsys)
    assert "'energy' is a single value" in line


def test_calogan_of_the_wrong_shape_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = calogan_file(tmp_path / "cg.h5", np.full((4, 1), 10.0), (3, 90))
    line = one_line_error(["convert", source, tmp_path / "out.h5"], capsys)
    assert "(3, 90)" in line
    assert "(3, 96)" in line


@pytest.mark.parametrize("what", ["label", "layer", "format_version"])
def test_native_file_with_string_typed_data(
    tmp_path: Path, what: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = shower_file(tmp_path, 10, format_version=1 if what == "layer" else 2)
    with h5py.File(path, "a") as h5:
        if what == "label":
            del h5["labels/pdg"]
            h5["labels/pdg"] = np.array([b"gamma"] * 10)
        elif what == "layer":
            del h5["layers/layer00"]
            h5["layers/layer00"] = np.full((10, 6, 6), b"x")
        else:
            h5.attrs["format_version"] = "two"
    line = one_line_error(["plot", "layers", path, "-o", tmp_path / "o.png"], capsys)
    assert {"label": "labels/pdg", "layer": "layers/layer00", "format_version": "'two'"}[
        what
    ] in line


def test_a_directory_as_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    line = one_line_error(
        ["resample", folder, "--to", "clic_ecal", "-o", tmp_path / "o.h5"], capsys
    )
    assert "is a directory" in line


def test_show_suggests_across_case(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_line_error(["show", "ATLAS"], capsys)
    assert "did you mean 'atlas'" in line


def test_simulate_refuses_a_multiplicity_that_cannot_fit_in_memory_before_drawing(
    tmp_path: Path,
) -> None:
    # in a subprocess under an address-space limit: a calogeo that tried would fail there
    # rather than take the machine's memory
    limit = 8 << 30
    result = run_cli(
        "simulate", "--geometry", spec_file(tmp_path), "--particle", "e-", "--energy", "10",
        "--multiplicity", "100000000", "-n", "1", "-o", "o.h5",
        cwd=tmp_path, as_bytes=limit,
    )  # fmt: skip
    assert_one_line_error(result, "needs at least", "--multiplicity")
    assert list(tmp_path.glob("o.h5*")) == []
