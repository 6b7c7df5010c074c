"""The command line's shared behaviour: help, version, list, show, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from calogeo import __version__
from calogeo.cli import build_parser, main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calogeo", *args], capture_output=True, text=True, check=False
    )


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"calogeo {__version__}"


def test_every_command_has_help(capsys):
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"list", "show", "plugins"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: calogeo" in capsys.readouterr().out


def test_help_does_not_import_torch():
    code = "import sys; from calogeo.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_list_geometries_shows_plugin_and_description(capsys):
    assert main(["list", "geometries"]) == 0
    out = capsys.readouterr().out
    assert "clic_ecal" in out
    assert "detectors" in out


def test_show_prints_the_layer_table(capsys):
    assert main(["show", "clic_ecal"]) == 0
    out = capsys.readouterr().out
    assert "51x51" in out
    assert "depth X0" in out
    assert "variant:   effective" in out


def test_show_plot_writes_a_png(tmp_path, capsys):
    target = tmp_path / "clic.png"
    assert main(["show", "clic_ecal", "--plot", str(target)]) == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*partial*"))


def test_unknown_geometry_is_a_one_line_error():
    result = run("show", "clic_ecla")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "unknown geometry 'clic_ecla'" in lines[0]
    assert "clic_ecal" in lines[0]


def test_bad_spec_file_is_a_one_line_error(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "bad"\n')
    result = run("show", str(spec))
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(spec) in result.stderr
    assert "title: missing field" in result.stderr
