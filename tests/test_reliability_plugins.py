"""Plugins that cannot take the others down (issue 16, items 8-10): a duplicate name rejects
only the duplicate, ``sys.exit`` in a plugin is a failure like any other, and invalid items
(specs that do not validate, factories that raise or return None, a model without ``build``,
a hook pluggy refuses) are reported per item, in one line, by ``calogeo plugins``."""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

import calogeo
from calogeo import hookimpl
from calogeo.cli import main
from calogeo.errors import PluginError
from calogeo.plugins import PluginManager
from calogeo.testing import isolated_plugins, tungsten_grid_spec

ROOT = Path(__file__).resolve().parents[1]
TOWER_SPEC = ROOT / "examples" / "calogeo-tower" / "calogeo_tower" / "tower.toml"
ATLAS_SPEC = ROOT / "geometries" / "atlas.toml"


def _plugin(name: str, **hooks: object) -> SimpleNamespace:
    return SimpleNamespace(__name__=name, **{k: hookimpl(v) for k, v in hooks.items()})


def _geometries(plugin: str, *items: object, **kwargs: object) -> SimpleNamespace:
    def calogeo_register_geometries(register):
        for item in items:
            register(item, **kwargs)

    return _plugin(plugin, calogeo_register_geometries=calogeo_register_geometries)


def _spec(tmp_path: Path, name: str, text: str | None = None) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text if text is not None else tungsten_grid_spec(name))
    return path


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """Write an importable plugin module; yields a function (module name, source) -> None."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(module: str, source: str) -> None:
        (tmp_path / f"{module}.py").write_text(source)
        written.append(module)

    yield write
    for module in written:
        sys.modules.pop(module, None)


def _with_entry_points(monkeypatch, *extra: metadata.EntryPoint) -> None:
    """The installed entry points plus ``extra`` (third-party: no distribution)."""
    installed = list(metadata.entry_points(group="calogeo"))
    monkeypatch.setattr(metadata, "entry_points", lambda group: [*extra, *installed])


# -- item 8: a duplicate rejects only the duplicate ---------------------------------------------


def test_a_duplicate_rejects_only_that_item_naming_both_plugins(tmp_path, capsys):
    first = _geometries("first", _spec(tmp_path, "a"), _spec(tmp_path, "b"))
    # "second" repeats 'a' first: its 'c' and 'd' must still be registered
    second = _geometries("second", _spec(tmp_path, "a"), _spec(tmp_path, "c"), TOWER_SPEC)
    with isolated_plugins(first, second, strict=False) as manager:
        assert manager.geometries.names() == ["a", "b", "c", "tower"]
        assert manager.geometries.entry("a").plugin == "first"
        assert re.search(r"'a'.*'first'.*'second'", manager.reports["second"].error)
        assert not manager.reports["first"].error
    assert "plugin 'second'" in capsys.readouterr().err


def test_a_third_party_geometry_named_atlas_does_not_disable_the_shipped_detectors(
    plugin_module, monkeypatch, capsys
):
    plugin_module(
        "calogeo_aaa_clash",
        "from calogeo import hookimpl\n"
        "@hookimpl\n"
        "def calogeo_register_geometries(register):\n"
        f"    register({str(ATLAS_SPEC)!r})\n"
        f"    register({str(TOWER_SPEC)!r})\n",
    )
    # sorts before 'detectors' by name: the shipped plugins must still win the name
    _with_entry_points(monkeypatch, metadata.EntryPoint("aaa", "calogeo_aaa_clash", "calogeo"))
    manager = PluginManager(strict=False)
    names = manager.geometries.names()
    shipped = {"atlas", "atlas_tile", "clic_ecal", "cms", "ild_ahcal", "luxe_ecal", "calogan"}
    assert shipped <= set(names)
    assert "tower" in names
    assert manager.geometries.entry("atlas").plugin == "detectors"
    assert re.search(r"'atlas'.*'detectors'.*'aaa'", manager.reports["aaa"].error)
    assert not manager.reports["detectors"].error
    capsys.readouterr()


# -- item 9: sys.exit is isolated like any failure ---------------------------------------------


def test_a_plugin_calling_sys_exit_on_import_is_reported(plugin_module, monkeypatch, capsys):
    plugin_module("calogeo_exit_on_import", "import sys\nsys.exit(3)\n")
    _with_entry_points(
        monkeypatch, metadata.EntryPoint("quitter", "calogeo_exit_on_import", "calogeo")
    )
    manager = PluginManager(strict=False)
    assert "clic_ecal" in manager.geometries
    assert "SystemExit: 3" in manager.reports["quitter"].error
    assert "plugin 'quitter'" in capsys.readouterr().err


def test_a_plugin_calling_sys_exit_in_a_hook_is_reported(tmp_path, capsys):
    def calogeo_register_geometries(register):
        sys.exit(3)

    quitter = _plugin("quitter", calogeo_register_geometries=calogeo_register_geometries)
    with isolated_plugins(quitter, _geometries("good", TOWER_SPEC), strict=False) as manager:
        assert manager.geometries.names() == ["tower"]
        assert "SystemExit: 3" in manager.reports["quitter"].error
    assert "plugin 'quitter'" in capsys.readouterr().err


def test_every_command_survives_a_plugin_calling_sys_exit(plugin_module, monkeypatch, capsys):
    plugin_module(
        "calogeo_exit_in_hook",
        "import sys\nfrom calogeo import hookimpl\n"
        "@hookimpl\ndef calogeo_register_geometries(register):\n    sys.exit(3)\n",
    )
    _with_entry_points(
        monkeypatch, metadata.EntryPoint("quitter", "calogeo_exit_in_hook", "calogeo")
    )
    monkeypatch.setenv("CALOGEO_STRICT_PLUGINS", "0")
    old = calogeo.plugins.reset_plugin_manager(None)
    try:
        assert main(["list", "geometries"]) == 0
    finally:
        calogeo.plugins.reset_plugin_manager(old)
    captured = capsys.readouterr()
    assert "clic_ecal" in captured.out
    assert "plugin 'quitter'" in captured.err
    assert "SystemExit: 3" in captured.err


def test_a_lazy_reference_calling_sys_exit_is_a_one_line_error(plugin_module):
    plugin_module("calogeo_exit_lazy", "import sys\nsys.exit(3)\n")

    def calogeo_register_metrics(register):
        register("calogeo_exit_lazy:M", name="m", kind="fidelity", description="quits")

    plugin = _plugin("lazy", calogeo_register_metrics=calogeo_register_metrics)
    with (
        isolated_plugins(plugin),
        pytest.raises(PluginError, match=r"plugin 'lazy': metric 'm': .*SystemExit: 3"),
    ):
        calogeo.get_metric("m")


# -- item 10: invalid items are reported per item, at registration or at first listing ----------


def test_a_geometry_factory_that_raises_is_a_one_line_error_naming_the_plugin():
    def factory():
        msg = "no spec server"
        raise RuntimeError(msg)

    plugin = _geometries("maker", factory, name="ghost", description="never built")
    with isolated_plugins(plugin), pytest.raises(PluginError) as raised:
        calogeo.get_geometry("ghost")
    assert str(raised.value) == (
        "plugin 'maker': geometry 'ghost': cannot be built: RuntimeError: no spec server"
    )


def test_a_geometry_factory_returning_none_is_refused():
    plugin = _geometries("maker", lambda: None, name="void", description="returns nothing")
    with (
        isolated_plugins(plugin),
        pytest.raises(PluginError, match=r"'maker'.*'void'.*returned NoneType, not a Geometry"),
    ):
        calogeo.get_geometry("void")


BAD_SPEC = tungsten_grid_spec("bad").replace("pitch_mm = [5.0, 5.0]", "pitch_mm = [-5.0, 5.0]")


def test_calogeo_plugins_validates_every_geometry_and_reports_each_bad_one(tmp_path, capsys):
    plugin = _geometries("shaky", _spec(tmp_path, "good"), _spec(tmp_path, "bad", BAD_SPEC))
    nothing = _geometries("nothing", lambda: None, name="void", description="returns nothing")
    with isolated_plugins(plugin, nothing, strict=False):
        assert main(["plugins"]) == 1
    out = capsys.readouterr().out
    shaky = next(line for line in out.splitlines() if line.startswith("shaky"))
    assert "1 geometry" not in shaky  # both are registered (listed): 2 geometry
    assert re.search(r"geometry 'bad': cannot be built: .*pitch", shaky)
    assert "'good'" not in shaky
    assert re.search(r"nothing .*geometry 'void': its factory returned NoneType", out)


def test_a_model_class_without_build_is_rejected_at_registration(capsys):
    class NoBuild:
        name = "nobuild"
        kind = "classify"
        description = "forgot build"

    def calogeo_register_models(register):
        register(NoBuild)

    plugin = _plugin("lazybones", calogeo_register_models=calogeo_register_models)
    with isolated_plugins(plugin, strict=False) as manager:
        assert "nobuild" not in manager.models
        assert re.search(r"model 'nobuild' .*has no build", manager.reports["lazybones"].error)
    assert "plugin 'lazybones'" in capsys.readouterr().err


def test_a_lazily_registered_model_without_build_is_reported_by_calogeo_plugins(
    plugin_module, capsys
):
    plugin_module(
        "calogeo_lazy_nobuild",
        "class M:\n    name = 'm'\n    kind = 'classify'\n    description = 'no build'\n",
    )

    def calogeo_register_models(register):
        register("calogeo_lazy_nobuild:M", name="m", kind="classify", description="no build")

    plugin = _plugin("lazybones", calogeo_register_models=calogeo_register_models)
    with isolated_plugins(plugin, strict=False):
        assert main(["plugins"]) == 1
    assert re.search(r"lazybones .*model 'm': .*has no build", capsys.readouterr().out)


def test_pluggy_validation_error_keeps_the_plugins_table_one_row_per_plugin(capsys):
    def calogeo_register_geometries(register, extra):
        register(TOWER_SPEC)

    bad = _plugin("wrongargs", calogeo_register_geometries=calogeo_register_geometries)
    with isolated_plugins(bad, _geometries("good", TOWER_SPEC), strict=False):
        assert main(["plugins"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4  # header, rule, good, wrongargs
    assert lines[3].startswith("wrongargs")
    assert "PluginValidationError" in lines[3]
    assert "'extra'" in lines[3]


def test_a_misspelt_hook_is_reported(capsys):
    def calogeo_register_geometry(register):  # missing the final 's'
        register(TOWER_SPEC)

    typo = _plugin("typo", calogeo_register_geometry=calogeo_register_geometry)
    with isolated_plugins(typo, strict=False) as manager:
        assert "did you mean 'calogeo_register_geometries'" in manager.reports["typo"].error
    assert "plugin 'typo'" in capsys.readouterr().err


def test_a_name_in_the_wrong_case_is_suggested():
    with pytest.raises(calogeo.UnknownGeometryError, match=r"did you mean 'atlas'"):
        calogeo.get_geometry("ATLAS")
