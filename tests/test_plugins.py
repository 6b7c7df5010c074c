"""Plugin discovery, registries, broken plugins, duplicates and the third-party example."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

import calogeo
from calogeo import hookimpl, hookspecs
from calogeo.errors import PluginError, UnknownGeometryError
from calogeo.plugins import PluginManager
from calogeo.testing import isolated_plugins

ROOT = Path(__file__).resolve().parents[1]
TOWER_SPEC = ROOT / "examples" / "calogeo-tower" / "calogeo_tower" / "tower.toml"
HOOKS = [
    name
    for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("calogeo_")
]


def _geometry_plugin(*paths: Path, name: str = "extra") -> SimpleNamespace:
    @hookimpl
    def calogeo_register_geometries(register):
        for path in paths:
            register(path)

    return SimpleNamespace(__name__=name, calogeo_register_geometries=calogeo_register_geometries)


def test_first_party_detectors_register_through_entry_points():
    names = {ep.name: ep.value for ep in metadata.entry_points(group="calogeo")}
    assert names["detectors"] == "calogeo_detectors"
    entry = calogeo.plugins.plugin_manager().geometries.entry("clic_ecal")
    assert entry.plugin == "detectors"
    assert entry.load().name == "clic_ecal"


def test_every_first_party_plugin_loads_without_error():
    manager = PluginManager(strict=True)
    manager.load_all()
    assert all(not report.error for report in manager.reports.values())


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownGeometryError, match=r"did you mean 'clic_ecal'"):
        calogeo.get_geometry("clic_ecla")
    with pytest.raises(KeyError):  # UnknownGeometryError is also a KeyError
        calogeo.get_geometry("clic_ecla")


def test_throwaway_plugin_adds_a_geometry():
    with isolated_plugins(_geometry_plugin(TOWER_SPEC)) as manager:
        assert manager.geometries.names() == ["tower"]
        assert calogeo.get_geometry("tower").shapes[0] == (10, 10)
    assert "tower" not in calogeo.plugins.plugin_manager().geometries


def test_duplicate_name_is_an_error_naming_both_plugins():
    with (
        pytest.raises(PluginError, match=r"'tower'.*'first'.*'second'"),
        isolated_plugins(
            _geometry_plugin(TOWER_SPEC, name="first"), _geometry_plugin(TOWER_SPEC, name="second")
        ) as manager,
    ):
        manager.geometries  # noqa: B018 - building the registry raises


def test_plugin_whose_hook_raises_is_reported_and_others_keep_working(capsys):
    @hookimpl
    def calogeo_register_geometries(register):
        msg = "spec server unreachable"
        raise RuntimeError(msg)

    broken = SimpleNamespace(
        __name__="broken", calogeo_register_geometries=calogeo_register_geometries
    )
    with isolated_plugins(broken, _geometry_plugin(TOWER_SPEC), strict=False) as manager:
        assert manager.geometries.names() == ["tower"]
        assert "spec server unreachable" in manager.reports["broken"].error
    err = capsys.readouterr().err
    assert re.search(r"plugin 'broken'.*RuntimeError: spec server unreachable", err)


def test_plugin_registering_garbage_is_reported_by_name(capsys):
    @hookimpl
    def calogeo_register_geometries(register):
        register(42)

    bad = SimpleNamespace(__name__="bad", calogeo_register_geometries=calogeo_register_geometries)
    with isolated_plugins(bad, strict=False) as manager:
        assert len(manager.geometries) == 0
    assert "plugin 'bad'" in capsys.readouterr().err
    with pytest.raises(PluginError, match="plugin 'bad'"), isolated_plugins(bad) as manager:
        manager.geometries  # noqa: B018


def test_entry_point_that_fails_to_import_is_reported(monkeypatch, capsys):
    good = metadata.EntryPoint("detectors", "calogeo_detectors", "calogeo")
    broken = metadata.EntryPoint("ghost", "calogeo_ghost_plugin_that_is_not_installed", "calogeo")
    monkeypatch.setattr(metadata, "entry_points", lambda group: [broken, good])
    manager = PluginManager(strict=False)
    assert "clic_ecal" in manager.geometries
    assert "ModuleNotFoundError" in manager.reports["ghost"].error
    assert "plugin 'ghost'" in capsys.readouterr().err
    with pytest.raises(PluginError, match="plugin 'ghost'"):
        PluginManager(strict=True)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    assert hook in (ROOT / "README.md").read_text(), f"{hook} missing from README's plugin guide"


CATEGORY = {
    "calogeo_register_geometries": "geometries",
    "calogeo_register_models": "models",
    "calogeo_register_metrics": "metrics",
    "calogeo_register_formats": "formats",
    "calogeo_register_hit_readers": "hit_readers",
}


def test_every_hook_has_a_registry():
    assert sorted(CATEGORY) == sorted(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_registers_into_its_registry(hook):
    class Item:
        name = "throwaway"
        description = "A throwaway item.\nSecond line is not shown."
        kind = ("classify", "regress")

        # what calogeo calls on a model, a metric or a format (calogeo.plugins.INTERFACES)
        build = compute = detect = default_geometry = count = read = iter_batches = classmethod(
            lambda cls: None
        )

    def impl(register):
        register(TOWER_SPEC if hook == "calogeo_register_geometries" else Item)

    plugin = SimpleNamespace(__name__="throwaway_plugin", **{hook: hookimpl(impl)})
    with isolated_plugins(plugin) as manager:
        registry = getattr(manager, CATEGORY[hook])
        (entry,) = list(registry)
        assert entry.plugin == "throwaway_plugin"
        if hook != "calogeo_register_geometries":
            assert (entry.name, entry.description, entry.kind) == (
                "throwaway",
                "A throwaway item.",
                "classify,regress",
            )
            assert entry.load() is Item


@pytest.mark.slow
def test_third_party_example_installs_and_is_listed(tmp_path):
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    example = ROOT / "examples" / "calogeo-tower"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-build-isolation", str(example)],
        check=True,
        cwd=tmp_path,
    )
    try:
        out = subprocess.run(
            [sys.executable, "-m", "calogeo", "list", "geometries"],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        ).stdout
        assert re.search(r"^tower\s+ECAL\s+tower\s", out, re.MULTILINE), out
        shown = subprocess.run(
            [sys.executable, "-m", "calogeo", "show", "tower"],
            check=True,
            capture_output=True,
            text=True,
            cwd=tmp_path,
        ).stdout
        assert "10x10" in shown
    finally:
        subprocess.run([*pip, "uninstall", "-y", "calogeo-tower"], check=True, cwd=tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "calogeo", "list", "geometries"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert not re.search(r"^tower\s", out, re.MULTILINE)


LAZY_METRIC = """
class Lazy:
    name = "lazy"
    kind = "fidelity"
    description = "A metric imported on first use."

    def compute(self, reference, generated):
        return None
"""


def _lazy_plugin(ref: str, name: str = "lazy", kind: str = "fidelity") -> SimpleNamespace:
    @hookimpl
    def calogeo_register_metrics(register):
        register(ref, name=name, kind=kind, description="A metric imported on first use.")

    return SimpleNamespace(
        __name__="lazy_plugin", calogeo_register_metrics=calogeo_register_metrics
    )


@pytest.fixture
def lazy_module(tmp_path, monkeypatch):
    """An importable module ``calogeo_lazy_test`` holding the class ``Lazy``, not imported yet."""
    (tmp_path / "calogeo_lazy_test.py").write_text(LAZY_METRIC)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "calogeo_lazy_test"
    sys.modules.pop("calogeo_lazy_test", None)


def test_lazy_reference_is_listed_without_import_and_imported_on_first_use(lazy_module):
    with isolated_plugins(_lazy_plugin(f"{lazy_module}:Lazy")) as manager:
        (entry,) = list(manager.metrics)
        assert (entry.name, entry.kind, entry.plugin) == ("lazy", "fidelity", "lazy_plugin")
        assert entry.description == "A metric imported on first use."
        assert entry.lazy
        assert lazy_module not in sys.modules
        metric = calogeo.get_metric("lazy")
        assert metric is sys.modules[lazy_module].Lazy
        assert not entry.lazy


@pytest.mark.parametrize(
    ("ref", "kind", "error"),
    [
        ("calogeo_lazy_test:Missing", "fidelity", "AttributeError"),
        ("calogeo_no_such_module_anywhere:Lazy", "fidelity", "ModuleNotFoundError"),
        ("calogeo_lazy_test:Lazy", "regression", "of kind 'fidelity', but was registered as"),
    ],
)
def test_broken_lazy_reference_is_a_one_line_error_naming_the_plugin(
    lazy_module, ref, kind, error, capsys
):
    with isolated_plugins(_lazy_plugin(ref, kind=kind), strict=False) as manager:
        assert manager.metrics.names() == ["lazy"]  # listing does not import
        with pytest.raises(PluginError) as raised:
            calogeo.get_metric("lazy")
        assert re.match(
            rf"plugin 'lazy_plugin': metric 'lazy': .*{re.escape(error)}", str(raised.value)
        )
        assert "\n" not in str(raised.value)
        manager.load_all(resolve=True)  # what `calogeo plugins` does: reported, not raised
        assert error in manager.reports["lazy_plugin"].error
    assert "plugin 'lazy_plugin'" in capsys.readouterr().err


def test_lazy_reference_needs_its_metadata(capsys):
    plugin = _lazy_plugin("calogeo_lazy_test:Lazy", name="")
    with isolated_plugins(plugin, strict=False) as manager:
        assert len(manager.metrics) == 0
    assert re.search(r"plugin 'lazy_plugin'.*needs name= and description=", capsys.readouterr().err)


def test_first_party_lazy_metadata_matches_the_classes():
    manager = PluginManager(strict=True)
    manager.load_all(resolve=True)
    for category in ("models", "metrics", "formats"):
        for entry in getattr(manager, category):
            item = entry.load()
            description = item.description.strip().splitlines()[0]
            assert entry.description == description, f"{category} {entry.name}"


def test_first_party_calochallenge_geometries_are_registered_with_their_titles():
    import calogeo_formats
    from calogeo_formats.calochallenge import DATASETS

    registered = {name: title for name, (_, title, _) in DATASETS.items()}
    assert calogeo_formats.GEOMETRIES == registered, "keep calogeo_formats.GEOMETRIES in step"
    manager = PluginManager(strict=True)
    for name, title in registered.items():
        assert manager.geometries.entry(name).description == title
        assert manager.geometries.get(name).name == name
