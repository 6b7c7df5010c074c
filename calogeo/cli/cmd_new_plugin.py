"""``calogeo new-plugin NAME``: write a ready plugin package for a new detector."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

ORDER = 26


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "new-plugin",
        help="write a ready plugin package for a new detector geometry",
        description="Write the package calogeo-NAME: pyproject.toml with the `calogeo` entry "
        "point, calogeo_NAME/NAME.toml (a spec with every key commented, or --geometry-from's), "
        "a test that loads, simulates and resamples the geometry, and a README. It passes "
        "its own test right after `pip install -e`.",
    )
    parser.add_argument("name", help="plugin and geometry name (lower case, digits, _)")
    parser.add_argument(
        "--geometry-from",
        metavar="SPEC",
        help="start from this spec file or registered geometry (renamed to NAME)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="DIR", help="where to write (default: ./calogeo-NAME)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calogeo.scaffold import new_plugin

    spec_text = None
    if args.geometry_from is not None:
        from calogeo.registry import get_geometry

        spec_text = get_geometry(args.geometry_from).spec_text
    directory = args.output or Path(f"calogeo-{args.name.replace('_', '-')}")
    files = new_plugin(args.name, directory, spec_text)
    print(f"wrote {len(files)} files to {directory}:")
    for path in files:
        print(f"  {path}")
    print(
        f"next: cd {directory} && pip install -e '.[test]' && calogeo check {args.name} "
        "&& python -m pytest"
    )
    return 0
