"""``calogeo check SPEC.toml | NAME | PLUGIN``: validate geometries before using them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from calogeo.errors import CalogeoError
from calogeo.plugins import plugin_manager

ORDER = 25


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check",
        help="validate a spec, a geometry or a plugin's geometries, with physics warnings",
        description="Validate a geometry spec file, a registered geometry or every geometry a "
        "plugin registers (with the plugin's load errors); print each one's layer table "
        "(as `calogeo show`) and warnings: a missing stochastic term and the fallback the "
        "simulator uses, layers without sampling fraction in a sampling calorimeter, X0 or "
        "R_M jumps above x1.5 between neighbouring layers, a window under 2 R_M around the "
        "axis, an ECAL under 20 X0, MIP scales from mean losses. Exit 1 on errors, 0 with "
        "warnings only.",
    )
    parser.add_argument("target", help="spec file (.toml), registered geometry or plugin name")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="warnings and errors only, no layer tables"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calogeo.registry import get_geometry

    target = args.target
    manager = plugin_manager()
    is_file = target.endswith(".toml") or Path(target).is_file()
    if not is_file and target in manager.reports and target not in manager.geometries:
        return _check_plugin(manager, target, quiet=args.quiet)
    return 0 if _check_one(lambda: get_geometry(target), target, quiet=args.quiet) else 1


def _check_one(load: Any, label: str, *, quiet: bool) -> bool:
    """Load, describe and warn about one geometry; False on an error."""
    from calogeo.checks import geometry_warnings
    from calogeo.cli.cmd_show import describe

    try:
        geometry = load()
    except CalogeoError as exc:
        print(f"{label}: error: {exc}")
        return False
    if not quiet:
        print(describe(geometry))
        print()
    warnings = geometry_warnings(geometry)
    for warning in warnings:
        print(f"{geometry.name}: warning: {warning}")
    print(f"{geometry.name}: ok" + (f" ({len(warnings)} warnings)" if warnings else ""))
    return True


def _check_plugin(manager: Any, name: str, *, quiet: bool) -> int:
    """Every geometry plugin ``name`` registers, and its load errors."""
    manager.load_all(resolve=True)
    report = manager.reports[name]
    entries = [e for e in manager.geometries if e.plugin == name]
    origin = f" ({report.distribution} {report.version})" if report.distribution else ""
    print(f"plugin {name}{origin}: {len(entries)} geometries, provides {len(report.provided)}")
    ok = True
    for entry in entries:
        print()
        ok = _check_one(entry.load, entry.name, quiet=quiet) and ok
    if report.error:
        print(f"plugin {name}: error: {report.error}")
        ok = False
    return 0 if ok else 1
