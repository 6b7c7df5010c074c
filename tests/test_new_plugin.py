"""``calogeo new-plugin``: a package that registers its geometry and passes its own test."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from calogeo._spec_text import parse_spec_text
from calogeo.cli import main
from calogeo.testing import isolated_plugins


@pytest.fixture
def importable(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path`` on sys.path (a venv-free install), the generated modules forgotten after."""
    sys.path.insert(0, str(tmp_path / "calogeo-my-hgcal"))
    yield tmp_path
    sys.path.remove(str(tmp_path / "calogeo-my-hgcal"))
    for name in [m for m in sys.modules if m.startswith("calogeo_my_hgcal")]:
        del sys.modules[name]


def test_writes_a_package_that_registers_its_geometry(
    importable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = importable / "calogeo-my-hgcal"
    assert main(["new-plugin", "my_hgcal", "-o", str(out)]) == 0
    assert "calogeo check my_hgcal" in capsys.readouterr().out
    pyproject = parse_spec_text((out / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["entry-points"]["calogeo"] == {"my_hgcal": "calogeo_my_hgcal"}
    assert pyproject["project"]["name"] == "calogeo-my-hgcal"
    spec = (out / "calogeo_my_hgcal" / "my_hgcal.toml").read_text(encoding="utf-8")
    for key in ("stochastic_term", "anchor_mm", "slices", "active", "block", "axis_on"):
        assert key in spec
    importlib.invalidate_caches()
    module = importlib.import_module("calogeo_my_hgcal")
    with isolated_plugins(module) as manager:
        geometry = manager.geometries.get("my_hgcal")
    assert [ly.name for ly in geometry.layers[:3]] == ["thin00", "thick00", "thin01"]
    assert geometry.total_depth_x0 > 20
    assert main(["check", "-q", str(out / "calogeo_my_hgcal" / "my_hgcal.toml")]) == 0
    assert capsys.readouterr().out.strip() == "my_hgcal: ok"


def test_geometry_from_an_existing_spec_is_renamed(importable: Path) -> None:
    out = importable / "calogeo-my-hgcal"
    assert main(["new-plugin", "my_hgcal", "--geometry-from", "ild_ahcal", "-o", str(out)]) == 0
    importlib.invalidate_caches()
    module = importlib.import_module("calogeo_my_hgcal")
    with isolated_plugins(module) as manager:
        geometry = manager.geometries.get("my_hgcal")
    assert geometry.n_layers == 48
    assert geometry.layers[0].material.name == "ild_ahcal_period"


def test_refuses_bad_names_and_non_empty_directories(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new-plugin", "My-Detector", "-o", str(tmp_path / "a")]) == 1
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine", encoding="utf-8")
    assert main(["new-plugin", "fine", "-o", str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert "lower-case letters" in err
    assert "is not empty" in err


@pytest.mark.slow
def test_the_generated_package_passes_its_own_test(tmp_path: Path) -> None:
    out = tmp_path / "calogeo-my-hgcal"
    assert main(["new-plugin", "my_hgcal", "-o", str(out)]) == 0
    env = {**os.environ, "PYTHONPATH": str(out)}  # importable without pip install
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(out / "tests")],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
