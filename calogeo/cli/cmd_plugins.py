"""``calogeo plugins``: installed plugins, their versions and load errors."""

from __future__ import annotations

import argparse
from typing import Any

from calogeo._table import format_table
from calogeo.plugins import plugin_manager

ORDER = 90


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plugins",
        help="show installed plugins and load errors",
        description="Show each plugin: distribution, version, what it provides, and its errors.",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    manager = plugin_manager()
    manager.load_all(resolve=True)  # imports every lazily registered item to check it
    rows = []
    for report in sorted(manager.reports.values(), key=lambda r: r.name):
        counts: dict[str, int] = {}
        for item in report.provided:
            category = item.split(":", 1)[0]
            counts[category] = counts.get(category, 0) + 1
        provided = ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) or "-"
        rows.append(
            (report.name, report.distribution, report.version, provided, report.error or "ok")
        )
    print(format_table(("plugin", "distribution", "version", "provides", "status"), rows))
    return 1 if any(r.error for r in manager.reports.values()) else 0
