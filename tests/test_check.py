"""``calogeo check`` on specs, registered geometries and plugins; ``calogeo list`` kinds."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from calogeo import hookimpl
from calogeo.checks import geometry_warnings
from calogeo.cli import main
from calogeo.registry import list_geometries
from calogeo.spec import geometry_from_spec
from calogeo.testing import TWO_LAYER_SPEC, isolated_plugins

GOOD = """
name = "good_ecal"
title = "W/Si, 22 X0"
citation = "test"
distance_from_ip_mm = 1500.0
stochastic_term = 0.17
[materials.period]
slices = [["W", 3.5], ["Si", 0.5]]
[[layers]]
name = "layer"
repeat = 22
thickness_mm = 4.0
material = "period"
active = "Si"
layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [15, 15] }
"""

POOR = """
name = "poor"
title = "everything a physicist would ask about"
citation = "test"
distance_from_ip_mm = 1500.0
[materials.period]
slices = [["W", 3.5], ["Si", 0.5]]
[materials.pb_lar]
slices = [["Pb", 2.0], ["LAr", 4.0]]
[[layers]]
name = "front"
repeat = 2
thickness_mm = 4.0
material = "period"
active = "Si"
layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [3, 3] }
[[layers]]
name = "back"
thickness_mm = 60.0
material = "pb_lar"
layout = { type = "grid", pitch_mm = [30.0, 30.0], shape = [5, 5] }
"""


def test_every_shipped_geometry_checks_without_error(capsys: pytest.CaptureFixture[str]) -> None:
    names = [entry.name for entry in list_geometries()]
    assert len(names) >= 19
    for name in names:
        assert main(["check", "--quiet", name]) == 0, name
    out = capsys.readouterr().out
    assert ": error:" not in out
    assert out.count(": ok") == len(names)


def test_a_good_spec_has_no_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "good.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "layer00..layer21" in out  # show's table
    assert out.strip().endswith("good_ecal: ok")


def test_warnings_say_what_a_physicist_wants_to_know() -> None:
    warnings = geometry_warnings(geometry_from_spec(POOR))
    text = "\n".join(warnings)
    # No stochastic term: the fallback and its formula, with the value it gives here.
    a = 0.027 * (0.5 / geometry_from_spec(POOR).layers[0].sampling_fraction) ** 0.5
    assert "no stochastic_term" in text
    assert "a = 0.027 sqrt(d_active/mm / f_samp)" in text
    assert f"{a:.1%}" in text
    assert "layers back have no sampling fraction in a sampling calorimeter" in text
    assert "X0 jumps by" in text
    assert "R_M jumps by" in text
    assert "the window reaches only" in text
    assert "ECAL: " in text
    assert "X0 deep (< 20 X0)" in text
    assert len(warnings) == 6


def test_errors_exit_nonzero_warnings_do_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    poor = tmp_path / "poor.toml"
    poor.write_text(POOR, encoding="utf-8")
    assert main(["check", "-q", str(poor)]) == 0
    broken = tmp_path / "broken.toml"
    broken.write_text(GOOD.replace('"period"\nactive', '"perriod"\nactive'), encoding="utf-8")
    assert main(["check", str(broken)]) == 1
    assert "unknown material 'perriod'" in capsys.readouterr().out


def _plugin(name: str, spec: Path, *, broken: bool = False) -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def calogeo_register_geometries(register):  # type: ignore[no-untyped-def]
        register(spec)
        register(lambda: geometry_from_spec(GOOD.replace("good_ecal", "made")), name="made",
                 description="built by a factory")  # fmt: skip
        if broken:
            register(spec.with_name("missing.toml"))

    module.calogeo_register_geometries = calogeo_register_geometries  # type: ignore[attr-defined]
    return module


def test_check_a_plugin_every_entry_and_its_load_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "two.toml"
    spec.write_text(TWO_LAYER_SPEC, encoding="utf-8")
    with isolated_plugins(_plugin("mine", spec), strict=False):
        assert main(["check", "-q", "mine"]) == 0
    out = capsys.readouterr().out
    assert "plugin mine: 2 geometries" in out
    assert "two_layers: ok" in out
    assert "made: ok" in out
    with isolated_plugins(_plugin("bad", spec, broken=True), strict=False):
        assert main(["check", "-q", "bad"]) == 1
    out = capsys.readouterr().out
    assert "plugin bad: error:" in out
    assert "missing.toml" in out


def test_list_shows_the_groups_of_a_factory_geometry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "two.toml"
    spec.write_text(TWO_LAYER_SPEC, encoding="utf-8")
    with isolated_plugins(_plugin("mine", spec)):
        assert main(["list", "geometries"]) == 0
    rows = {line.split()[0]: line.split()[1] for line in capsys.readouterr().out.splitlines()[3:]
            if line.strip()}  # fmt: skip
    assert rows["made"] == "ECAL"
    assert rows["two_layers"] == "ECAL"
