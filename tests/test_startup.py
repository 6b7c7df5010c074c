"""Start-up stays cheap: ``import calogeo``, the CLI parser and plugin discovery import no heavy
dependency, and the listings still show every first-party item with its plugin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from calogeo.cli import main
from calogeo.plugins import PluginManager

HEAVY = ("scipy", "torch", "matplotlib", "numba", "h5py", "shapely", "sklearn")


def imported_after(code: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of ``heavy`` a fresh interpreter has imported after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
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
    assert imported_after(code, (*HEAVY, "numpy")) == []


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


ROOT = Path(__file__).resolve().parents[1]
JIT_DECORATOR = re.compile(r"^\s*@(?:numba\.)?n?jit\b(.*)$", re.MULTILINE)


def test_every_numba_kernel_is_cached_on_disk():
    """Every ``@njit`` in the core and the first-party plugins keeps ``cache=True`` (the core's
    lazy ``calogeo._jit.njit`` defaults to it), so a second run does not compile."""
    found = 0
    for path in [*(ROOT / "calogeo").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]:
        for match in JIT_DECORATOR.finditer(path.read_text(encoding="utf-8")):
            found += 1
            options = match.group(1)
            lazy = "from calogeo._jit import njit" in path.read_text(encoding="utf-8")
            assert "cache=False" not in options, f"{path.name}: {match.group(0).strip()}"
            assert lazy or "cache=True" in options, f"{path.name}: {match.group(0).strip()}"
    assert found >= 10


@pytest.mark.slow
def test_a_second_process_loads_lazy_kernels_from_the_disk_cache(tmp_path):
    code = (
        "import numpy as np\n"
        "from calogeo.layout import GridLayout\n"
        "layout = GridLayout(5.0, 5.0, 4, 3)\n"
        "print(layout.locate(np.array([-9.0, 9.0, 11.0]), np.array([-7.0, 7.0, 0.0])).tolist())"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_DEBUG_CACHE": "1"}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        )
        for _ in range(2)
    ]
    assert [run.stdout.splitlines()[-1] for run in runs] == ["[0, 11, -1]"] * 2
    assert "[cache] data saved" in runs[0].stdout + runs[0].stderr
    second = runs[1].stdout + runs[1].stderr
    assert "[cache] data saved" not in second  # nothing compiled
    assert "[cache] data loaded" in second
