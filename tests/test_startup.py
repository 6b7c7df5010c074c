"""Start-up stays cheap: ``import calogeo``, the CLI parser and plugin discovery import no heavy
dependency, and the listings still show every first-party item with its plugin."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from calogeo.cli import main
from calogeo.plugins import PluginManager

HEAVY = ("scipy", "torch", "matplotlib", "numba", "h5py", "shapely", "sklearn")


def imported_after(code: str) -> list[str]:
    """Which of HEAVY a fresh interpreter has imported after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.splitlines()[-1])


def test_import_parser_and_plugin_discovery_import_nothing_heavy():
    code = (
        "import calogeo\n"
        "from calogeo.cli import build_parser\n"
        "build_parser()\n"
        "from calogeo.plugins import plugin_manager\n"
        "plugin_manager().load_all()\n"
        "assert calogeo.list_models() and calogeo.list_metrics() and calogeo.list_formats()"
    )
    assert imported_after(code) == []


def test_building_a_geometry_imports_nothing_heavy_until_a_kernel_runs():
    code = "import calogeo\ng = calogeo.get_geometry('atlas')\nassert g.n_cells > 0"
    assert imported_after(code) == []
    located = imported_after(
        "import numpy as np, calogeo\n"
        "layout = calogeo.get_geometry('atlas').layers[0].layout\n"
        "x0, x1, y0, y1 = layout.extent_mm()\n"
        "cell = layout.locate(np.array([x0 + 1e-3, x1 + 1.0]), np.array([y0 + 1e-3, 0.0]))\n"
        "assert cell.tolist() == [0, -1], cell\n"
        "import calogeo.layout as module\n"
        "assert type(module._bisect).__name__ == 'CPUDispatcher'"
    )
    assert "numba" in located


@pytest.mark.parametrize("category", ["models", "metrics", "formats"])
def test_list_shows_every_item_with_its_plugin(category, capsys):
    first_party = {
        "models": {"gflash": "simulation", "cnn3d": "reconstruction", "linear": "reconstruction"},
        "metrics": {"roc_auc": "metrics", "resolution": "metrics", "fpd_kpd": "metrics"},
        "formats": {"calogan": "formats", "lcd": "formats", "ild": "formats"},
    }[category]
    assert main(["list", category]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[3:] if line}
    registry = getattr(PluginManager(), category)
    assert sorted(rows) == registry.names()
    for name, plugin in first_party.items():
        assert name in rows
        assert registry.entry(name).plugin == plugin
    for entry in registry:
        assert entry.plugin in rows[entry.name].split()
        if entry.kind:
            assert entry.kind in rows[entry.name].split()
