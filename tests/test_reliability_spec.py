"""Specs: layer names that must become dataset names, non-finite numbers, and loading that
stays linear in ``repeat``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _reliability import spec_file

from calogeo.cli import main
from calogeo.errors import CalogeoError
from calogeo.spec import geometry_from_spec
from calogeo.testing import tungsten_grid_spec


@pytest.mark.parametrize("name", ["a/b", ".", ""])
def test_spec_refuses_layer_names_that_are_not_dataset_names(name: str) -> None:
    text = tungsten_grid_spec("tiny").replace('name = "layer"', f'name = "{name}"')
    with pytest.raises(CalogeoError, match="layers\\[0\\]\\.name"):
        geometry_from_spec(text)


def test_spec_with_a_slash_in_a_layer_name_never_makes_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_file(tmp_path)
    spec.write_text(spec.read_text().replace('name = "layer"\nrepeat = 3', 'name = "a/b"'))
    argv = ["simulate", "--geometry", str(spec), "--particle", "e-", "--energy", "10", "-n",
            "5", "-o", str(tmp_path / "o.h5")]  # fmt: skip
    assert main(argv) == 1
    assert "'a/b'" in capsys.readouterr().err
    assert list(tmp_path.glob("o.h5*")) == []


def test_spec_refuses_a_non_finite_anchor() -> None:
    text = tungsten_grid_spec("tiny").replace("[[layers]]", "anchor_mm = [nan, 0.0]\n[[layers]]")
    with pytest.raises(CalogeoError, match="anchor_mm"):
        geometry_from_spec(text)


def test_spec_refuses_a_non_finite_mass_fraction() -> None:
    text = tungsten_grid_spec("tiny").replace('material = "W"', 'material = "X"')
    text += "[materials.X]\nmass_fractions = { W = nan, Cu = 0.5 }\ndensity_g_cm3 = 10.0\n"
    with pytest.raises(CalogeoError, match="mass_fractions\\.W"):
        geometry_from_spec(text)


def test_spec_loading_is_linear_in_repeat() -> None:
    """100,000 repeated layers load in about 2 s; the quadratic duplicate check took ~10 s
    for 20,000 and minutes for 100,000 (run in a subprocess with a generous time limit)."""
    code = (
        "from calogeo.spec import geometry_from_spec\n"
        "from calogeo.testing import tungsten_grid_spec\n"
        "g = geometry_from_spec(tungsten_grid_spec('deep', n=2, layers=100_000))\n"
        "assert g.n_layers == 100_000\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
