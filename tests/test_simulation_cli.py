"""``calogeo simulate``: files, labels, reproducibility, bad input and interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from calogeo_simulation import GFlashSimulator

import calogeo
from calogeo.cli import main
from calogeo.cli.cmd_simulate import parse_range

SPEC = """
name = "tiny_w_si"
title = "small W/Si stack"
citation = "test"
distance_from_ip_mm = 1500.0
stochastic_term = 0.17
[materials.period]
slices = [["W", 2.4], ["Si", 0.5], ["G10", 0.8]]
[[layers]]
name = "layer"
repeat = 12
thickness_mm = 7.4
material = "period"
active = "Si"
layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [9, 9] }
"""


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def simulate(spec: Path, out: Path, *extra: str) -> int:
    return main(["simulate", "--geometry", str(spec), "-o", str(out), *extra])


def test_writes_showers_with_labels(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "pi0.h5"
    args = ("--particle", "pi0", "--energy", "2:200", "--log-uniform", "--theta", "0:0.2")
    assert simulate(spec, out, *args, "-n", "70", "--batch-size", "32", "--seed", "3") == 0
    showers = calogeo.read_showers(out)
    assert len(showers) == 70
    assert showers.geometry == calogeo.load_geometry(spec)
    assert set(showers.labels) == {
        "pdg", "theta", "phi", "impact_x", "impact_y", "leakage", "opening_angle",
        "start_depth_mm",
    }  # fmt: skip
    assert np.all(showers.labels["pdg"] == 111)
    energy = showers.incident_energy
    assert energy.min() >= 2.0
    assert energy.max() <= 200.0
    # log-uniform: as many showers below the geometric mean (20 GeV) as above, within 4 sigma.
    assert abs(np.mean(energy < 20.0) - 0.5) < 4 * 0.5 / np.sqrt(70)
    assert np.all((showers.labels["theta"] >= 0) & (showers.labels["theta"] <= 0.2))
    opening = showers.labels["opening_angle"]
    assert np.all(opening >= 2 * np.arcsin(0.1349768 / energy) * (1 - 1e-6))
    # Low-energy pi0s open wide (0.13 rad at 2 GeV: 20 cm at 1.5 m) and their photons can miss
    # the 45 mm window entirely; the energy is then leakage.
    assert np.all((showers.total_energy() > 0) | (showers.labels["leakage"] > 0))


def test_writes_each_events_non_zero_cells(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.h5"
    assert simulate(spec, out, "--particle", "e-", "--energy", "20", "-n", "30", "--seed", "1") == 0
    with calogeo.ShowerFile(out) as f:
        assert f.format_version == 2
        images = f.read().flat()
        (cells,) = f.iter_batches(30, sparse=True)
    assert len(cells.index) == np.count_nonzero(images) > 0
    np.testing.assert_array_equal(cells.flat(), images)


def test_seed_reproduces_the_file_for_any_worker_count(spec: Path, tmp_path: Path) -> None:
    args = ("--particle", "pi+", "--energy", "10:30", "-n", "50", "--batch-size", "8")
    assert simulate(spec, tmp_path / "a.h5", *args, "--seed", "5") == 0
    assert simulate(spec, tmp_path / "b.h5", *args, "--seed", "5", "--workers", "3") == 0
    assert simulate(spec, tmp_path / "c.h5", *args, "--seed", "6") == 0
    a, b, c = (calogeo.read_showers(tmp_path / f"{k}.h5") for k in "abc")
    np.testing.assert_array_equal(a.flat(), b.flat())
    np.testing.assert_array_equal(a.labels["phi"], b.labels["phi"])
    assert not np.array_equal(a.flat(), c.flat())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--particle", "gamma", "--energy", "0:10"), "--energy '0:10'"),
        (("--particle", "gamma", "--energy", "ten"), "--energy 'ten'"),
        (("--particle", "gamma", "--energy", "50:5"), "--energy '50:5'"),
        (("--particle", "gamma", "--energy", "5", "--theta", "-1"), "--theta '-1'"),
        (("--particle", "gamma", "--energy", "5", "--theta", "2"), "theta"),
        (("--particle", "gamma", "--energy", "5", "-n", "0"), "-n 0"),
        (("--particle", "gamma", "--energy", "5", "--workers", "0"), "--workers 0"),
    ],
)
def test_bad_options_fail_with_one_line_and_no_file(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple, message: str
) -> None:
    out = tmp_path / "bad.h5"
    assert simulate(spec, out, *args) == 1
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.glob("bad.h5*")) == []


def test_unknown_geometry_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--geometry", "no_such_detector", "--particle", "e-", "--energy",
                 "5", "-o", str(tmp_path / "x.h5")])  # fmt: skip
    assert code == 1
    assert "unknown geometry 'no_such_detector'" in capsys.readouterr().err


def test_interrupt_leaves_no_partial_file(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = GFlashSimulator.simulate

    def interrupted(self: GFlashSimulator, *args: object, **kwargs: object) -> calogeo.Showers:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GFlashSimulator, "simulate", interrupted)
    out = tmp_path / "cut.h5"
    args = ("--particle", "e-", "--energy", "5", "-n", "30", "--batch-size", "10")
    assert simulate(spec, out, *args) == 130
    assert list(tmp_path.glob("cut.h5*")) == []


def test_parse_range() -> None:
    assert parse_range("10", "--energy", positive=True) == (10.0, 10.0)
    assert parse_range("2:500", "--energy", positive=True) == (2.0, 500.0)
    assert parse_range("0", "--theta", positive=False) == (0.0, 0.0)
    with pytest.raises(calogeo.CalogeoError, match="--energy '1:2:3'"):
        parse_range("1:2:3", "--energy", positive=True)
