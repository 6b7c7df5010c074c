"""Outputs (calogeo.outputs and the writers on it): a full disk, outputs that cannot or must
not be written, partial files left by failures or by killed processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _reliability import (
    assert_one_line_error,
    dead_pid,
    leftovers,
    run_cli,
    shower_file,
    spec_file,
)

from calogeo.cli import main
from calogeo.errors import ShowerFileError
from calogeo.io import ShowerWriter
from calogeo.spec import geometry_from_spec
from calogeo.testing import tungsten_grid_spec

LIMIT = 64 * 1024  # bytes any file of the command may grow to (RLIMIT_FSIZE)


def full_disk_command(kind: str, folder: Path) -> list[str | Path]:
    spec = spec_file(folder)
    if kind == "simulate":
        return ["simulate", "--geometry", spec, "--particle", "e-", "--energy", "10",
                "-n", "3000", "--seed", "1", "-o", "out.h5"]  # fmt: skip
    source = shower_file(folder, 3000)
    if kind == "resample":
        return ["resample", source, "--to", spec_file(folder, "fine", n=12), "-o", "out.h5"]
    if kind == "convert":
        return ["convert", source, "out.h5", "--to-format", "native", "--format-version", "1"]
    if kind == "plot":
        return ["plot", "layers", source, "-o", "out.png"]
    if kind == "train":
        return ["train", "dnn", "--task", "regress", "--data", source, "--size", "small",
                "--epochs", "1", "--device", "cpu", "-o", "out.pt"]  # fmt: skip
    return ["evaluate", source, source, "-o", "out", "--metrics", "energy_spectrum"]


@pytest.mark.parametrize("kind", ["simulate", "resample", "convert", "plot", "evaluate", "train"])
def test_full_disk_is_one_line_error_and_leaves_no_partial_file(tmp_path: Path, kind: str) -> None:
    command = full_disk_command(kind, tmp_path)
    before = set(tmp_path.iterdir())
    limit = LIMIT if kind in ("simulate", "resample", "convert", "train") else 4096
    result = run_cli(*command, cwd=tmp_path, fsize_bytes=limit)
    if kind == "train":  # its first line says what it trains; the error is the second
        assert result.stderr.startswith("training dnn")
        result.stderr = result.stderr.split("\n", 1)[1]
    assert_one_line_error(result, "file too large")
    assert set(tmp_path.iterdir()) - before == set()  # no output, no partial file


@pytest.mark.parametrize("kind", ["simulate", "resample", "convert"])
def test_output_that_is_a_directory_is_refused_before_work(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, source = spec_file(tmp_path), shower_file(tmp_path)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out"
    argv = {
        "simulate": ["simulate", "--geometry", str(spec), "--particle", "e-", "--energy", "10",
                     "-n", "10", "-o", str(out)],
        "resample": ["resample", str(source), "--to", str(spec), "-o", str(out)],
        "convert": ["convert", str(source), str(out), "--to-format", "native"],
    }[kind]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "is a directory" in err
    assert len(err.strip().splitlines()) == 1
    assert leftovers(tmp_path) == []
    assert list(out.iterdir()) == []


def test_simulate_refuses_to_overwrite_its_spec_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path)
    text = spec.read_text()
    argv = ["simulate", "--geometry", str(spec), "--particle", "e-", "--energy", "10", "-n",
            "10", "-o", str(spec)]  # fmt: skip
    assert main(argv) == 1
    assert "would overwrite the input" in capsys.readouterr().err
    assert spec.read_text() == text


@pytest.mark.parametrize("which", ["target", "source"])
def test_resample_refuses_to_overwrite_a_spec_file(
    tmp_path: Path, which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shower_file(tmp_path)
    spec = spec_file(tmp_path, "other")
    text = spec.read_text()
    argv = ["resample", str(source), "--to", str(spec), "-o", str(spec)]
    if which == "source":
        target = str(spec_file(tmp_path, "target"))
        argv = ["resample", str(source), "--to", target, "--from", str(spec), "-o", str(spec)]
    assert main(argv) == 1
    assert "would overwrite the input" in capsys.readouterr().err
    assert spec.read_text() == text


def test_plot_refuses_to_overwrite_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shower_file(tmp_path, name="showers.png")  # an odd name, but a shower file
    size = source.stat().st_size
    assert main(["plot", "layers", str(source), "-o", str(source)]) == 1
    assert "would overwrite the input" in capsys.readouterr().err
    assert source.stat().st_size == size


def test_resample_refuses_a_target_too_large_for_memory_before_writing(tmp_path: Path) -> None:
    source = shower_file(tmp_path)
    huge = tmp_path / "huge.toml"  # 9e8 cells: 360 GB for batches of 50 events
    huge.write_text(tungsten_grid_spec("huge", n=30000, layers=1))
    result = run_cli("resample", source, "--to", huge, "-o", "out.h5", cwd=tmp_path)
    assert_one_line_error(result, "needs at least", "lower --batch-size")
    assert not (tmp_path / "out.h5").exists()
    assert leftovers(tmp_path) == []


def test_a_failure_while_the_writer_opens_leaves_no_partial_file(tmp_path: Path) -> None:
    geometry = geometry_from_spec(tungsten_grid_spec("tiny"))
    object.__setattr__(geometry.layers[1], "name", "a/b")  # built in code, not from a spec
    with pytest.raises(ShowerFileError, match="'a/b'"):
        ShowerWriter(tmp_path / "out.h5", geometry, format_version=1).__enter__()
    assert list(tmp_path.iterdir()) == []


def test_stale_partial_files_of_dead_processes_are_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = shower_file(tmp_path)
    dead, alive = dead_pid(), os.getppid()
    stale = tmp_path / f"out.h5.partial-{dead}"
    stale.write_bytes(b"x" * 1000)
    running = tmp_path / f"out.h5.partial-{alive}"  # a live writer: not ours to remove
    running.write_bytes(b"y")
    other = tmp_path / f"other.h5.partial-{dead}"  # another target: left alone
    other.write_bytes(b"z")
    assert main(["convert", str(source), str(tmp_path / "out.h5"), "--to-format", "native"]) == 0
    assert not stale.exists()
    assert running.exists()
    assert other.exists()
    assert (tmp_path / "out.h5").exists()


def test_stale_partial_folders_and_hidden_names_are_recognised(tmp_path: Path) -> None:
    from calogeo.outputs import remove_stale_partials

    dead = dead_pid()
    folder = tmp_path / f".results.partial-{dead}"
    folder.mkdir()
    (folder / "summary.json").write_text("{}")
    figure = tmp_path / f".plot.partial-{dead}.png"
    figure.write_bytes(b"png")
    removed = remove_stale_partials(tmp_path / "results")
    removed += remove_stale_partials(tmp_path / "plot.png")
    assert sorted(p.name for p in removed) == sorted([folder.name, figure.name])
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_commits_only_on_success(tmp_path: Path) -> None:
    from calogeo.outputs import AtomicOutput

    target = tmp_path / "sub" / "out.txt"
    with AtomicOutput(target) as tmp:
        tmp.write_text("done")
        assert not target.exists()
    assert target.read_text() == "done"
    output = AtomicOutput(target)
    output.open().write_text("half")
    output.__exit__(RuntimeError, RuntimeError(), None)  # as a failing ``with`` block
    assert target.read_text() == "done"
    assert leftovers(target.parent) == []


def test_check_output_refuses_a_file_where_a_folder_goes(tmp_path: Path) -> None:
    from calogeo.outputs import check_output

    (tmp_path / "f").write_text("")
    with pytest.raises(Exception, match="not a directory"):
        check_output(tmp_path / "f", directory=True)
    with pytest.raises(Exception, match="not a directory"):
        check_output(tmp_path / "f" / "out.h5")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
@pytest.mark.parametrize("kind", ["evaluate", "plot"])
def test_read_only_output_is_one_line_error(tmp_path: Path, kind: str) -> None:
    source = shower_file(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if kind == "evaluate":
            result = run_cli("evaluate", source, source, "-o", locked / "out", cwd=tmp_path)
        else:
            result = run_cli("plot", "layers", source, "-o", locked / "x.png", cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert_one_line_error(result, "permission denied")


def _sys_is_read_only() -> bool:
    try:
        Path("/sys/calogeo-probe").mkdir()
    except OSError:
        return Path("/sys").is_dir()
    Path("/sys/calogeo-probe").rmdir()
    return False


@pytest.mark.skipif(not _sys_is_read_only(), reason="needs a read-only file system at /sys")
@pytest.mark.parametrize("kind", ["evaluate", "plot"])
def test_output_on_a_read_only_file_system_is_one_line_error(tmp_path: Path, kind: str) -> None:
    source = shower_file(tmp_path)
    if kind == "evaluate":
        result = run_cli("evaluate", source, source, "-o", "/sys/calogeo-test-out", cwd=tmp_path)
    else:
        result = run_cli("plot", "layers", source, "-o", "/sys/calogeo-test.png", cwd=tmp_path)
    assert_one_line_error(result)
