"""``calogeo convert``: public -> native -> public through the command line, and its errors."""

from __future__ import annotations

import calogeo_formats
import h5py
import numpy as np
import pytest

from calogeo import ShowerFile, Showers, geometry_from_spec, hookimpl, read_showers, write_showers
from calogeo.cli import main
from calogeo.testing import TWO_LAYER_SPEC, isolated_plugins

N = 10
VOXELS = 22
SPEC = TWO_LAYER_SPEC.replace('"two_layers"', '"small"')


class Small:
    """Registers the test geometry ``small`` (22 cells)."""

    @hookimpl
    def calogeo_register_geometries(self, register):
        register(geometry_from_spec(SPEC))


@pytest.fixture(autouse=True)
def plugins():
    with isolated_plugins(calogeo_formats, Small()) as manager:
        yield manager


@pytest.fixture
def challenge(tmp_path):
    """A CaloChallenge-layout file of 22 voxels per event (MeV), written in chunks of 4."""
    rng = np.random.default_rng(7)
    path = tmp_path / "cc.h5"
    with h5py.File(path, "w") as f:
        f["incident_energies"] = rng.uniform(1e3, 1e5, (N, 1)).astype(np.float32)
        values = (rng.exponential(50.0, (N, VOXELS)) * (rng.random((N, VOXELS)) < 0.3)).astype(
            np.float32
        )
        f.create_dataset("showers", data=values, chunks=(4, VOXELS), compression="gzip")
    return path


def test_public_to_native_and_back(tmp_path, challenge, capsys):
    native = tmp_path / "native.h5"
    assert (
        main(["convert", str(challenge), str(native), "--from", "small", "--batch-size", "3"]) == 0
    )
    assert "10 showers on 'small' (calochallenge -> native)" in capsys.readouterr().out
    showers = read_showers(native)
    assert len(showers) == N
    with ShowerFile(native) as f:
        assert f.metadata == {"converted_from": str(challenge), "source_format": "calochallenge"}
    with h5py.File(challenge, "r") as f:
        raw = f["showers"][()]
        energies = f["incident_energies"][()]
    np.testing.assert_allclose(showers.flat(), raw / 1000, rtol=1e-6)
    back = tmp_path / "back.h5"
    argv = ["convert", str(native), str(back), "--to-format", "calochallenge"]
    assert main([*argv, "--batch-size", "4"]) == 0
    with h5py.File(back, "r") as f:
        np.testing.assert_allclose(f["showers"][()], raw, rtol=1e-6)
        np.testing.assert_allclose(f["incident_energies"][()], energies, rtol=1e-6)


def test_gzip_native_output(tmp_path, challenge):
    out = tmp_path / "gz.h5"
    assert (
        main(["convert", str(challenge), str(out), "--from", "small", "--compression", "gzip"]) == 0
    )
    with h5py.File(out, "r") as f:
        assert f["cells/energy"].compression == "gzip"


def test_native_version_1_is_upgraded_and_can_be_written_back(tmp_path, capsys):
    geometry = geometry_from_spec(SPEC)
    rng = np.random.default_rng(3)
    cells = rng.exponential(1.0, (N, VOXELS)) * (rng.random((N, VOXELS)) < 0.3)
    showers = Showers.from_flat(geometry, cells, np.arange(1.0, N + 1), {"pdg": np.full(N, 22)})
    old, new, again = (tmp_path / name for name in ("v1.h5", "v2.h5", "again.h5"))
    write_showers(old, showers, format_version=1, metadata={"seed": 5})
    assert main(["convert", str(old), str(new), "--to-format", "native", "--batch-size", "3"]) == 0
    assert "(native v1 -> native)" in capsys.readouterr().out
    with ShowerFile(new) as f:
        assert f.format_version == 2
        assert f.metadata == {"seed": 5, "converted_from": str(old), "source_format": "native v1"}
    back = read_showers(new)
    np.testing.assert_array_equal(back.flat(), showers.flat())
    np.testing.assert_array_equal(back.labels["pdg"], showers.labels["pdg"])
    argv = ["convert", str(new), str(again), "--to-format", "native", "--format-version", "1"]
    assert main(argv) == 0
    assert "(native -> native v1)" in capsys.readouterr().out
    with h5py.File(again, "r") as f:
        assert f.attrs["format_version"] == 1
        np.testing.assert_array_equal(f["layers/back"][()], showers.layers[1])


def test_native_input_needs_a_layout(tmp_path, capsys):
    geometry = geometry_from_spec(SPEC)
    native = tmp_path / "native.h5"
    write_showers(native, Showers.empty(geometry, 3))
    assert main(["convert", str(native), str(tmp_path / "out.h5")]) == 1
    err = capsys.readouterr().err
    assert "native file on 'small'; public layouts for it: none; pass --to-format" in err
    assert "('native' to rewrite it in format version 2)" in err
    assert err.count("\n") == 1
    assert main(["convert", str(native), str(tmp_path / "out.h5"), "--to-format", "calogan"]) == 1
    assert "cannot write the 'calogan' layout" in capsys.readouterr().err
    assert main(["convert", str(native), str(tmp_path / "o.h5"), "--to-format", "hdf"]) == 1
    assert "unknown format 'hdf'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["native.h5"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be positive"),
        ([], "pass --from GEOMETRY"),
        (["--from", "nowhere"], "unknown geometry 'nowhere'"),
    ],
)
def test_bad_options(tmp_path, challenge, capsys, extra, message):
    assert main(["convert", str(challenge), str(tmp_path / "out.h5"), *extra]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.h5").exists()


def test_output_may_not_overwrite_input(challenge, capsys):
    assert main(["convert", str(challenge), str(challenge), "--from", "small"]) == 1
    assert "would overwrite the input" in capsys.readouterr().err


def test_a_read_error_midway_leaves_no_output(tmp_path, challenge, capsys):
    with h5py.File(challenge, "r") as f:
        offset = f["showers"].id.get_chunk_info(2).byte_offset
    with challenge.open("r+b") as fh:  # the third chunk (events 8-9) becomes unreadable
        fh.seek(offset)
        fh.write(b"\xff" * 16)
    out = tmp_path / "out.h5"
    assert main(["convert", str(challenge), str(out), "--from", "small", "--batch-size", "4"]) == 1
    err = capsys.readouterr().err
    assert "cannot read dataset 'showers'" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cc.h5"]
