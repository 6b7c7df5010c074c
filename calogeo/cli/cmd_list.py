"""``calogeo list``: what the plugins provide."""

from __future__ import annotations

import argparse
from typing import Any

from calogeo._table import format_table
from calogeo.plugins import plugin_manager

CATEGORIES = ("geometries", "models", "metrics", "formats")

ORDER = 10


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list geometries, models, metrics and formats",
        description="List what the installed plugins provide: name, kind, plugin, description.",
    )
    parser.add_argument("category", nargs="?", choices=CATEGORIES, help="only this category")
    parser.set_defaults(func=run)


def _kind(category: str, entry: Any) -> str:
    """The entry's kind; a geometry registered by a factory is built to show its groups."""
    if category != "geometries" or entry.kind != "geometry":
        return str(entry.kind)
    try:
        geometry = entry.load()
    except Exception as exc:  # noqa: BLE001 - a broken factory is listed, not fatal
        return f"? ({type(exc).__name__})"
    return "+".join(geometry.groups) + (" (seed)" if geometry.variant == "seed" else "")


def run(args: argparse.Namespace) -> int:
    manager = plugin_manager()
    for category in [args.category] if args.category else CATEGORIES:
        registry = getattr(manager, category)
        rows = [(e.name, _kind(category, e), e.plugin, e.description) for e in registry]
        print(f"{category} ({len(rows)})")
        print(format_table(("name", "kind", "plugin", "description"), rows) if rows else "  (none)")
        print()
    return 0
