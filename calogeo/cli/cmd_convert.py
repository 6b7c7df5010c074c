"""``calogeo convert IN OUT``: any readable shower file to the native format (which also
upgrades a native file to the current format version), and native files back to a public
layout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from calogeo.distributed.cluster import add_cluster_options, cluster_address
from calogeo.errors import CalogeoError

ORDER = 35
NATIVE = "native"


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert shower files between public layouts and the native format",
        description="Convert a shower file: a public layout (CaloGAN, CLIC/LCD, ILD, "
        "CaloChallenge; detected from its keys, units converted to GeV) to the native "
        "format, or a native file to a public layout (the one its geometry belongs to, or "
        "--to-format), or to the native format again ('--to-format native': upgrades a "
        "format-version-1 file to version 2, or with --format-version 1 writes one for an "
        "older calogeo). Streams in batches; the output appears only when complete.",
    )
    parser.add_argument("input", type=Path, metavar="IN", help="shower file to read")
    parser.add_argument("output", type=Path, metavar="OUT", help="file to write")
    parser.add_argument(
        "--from",
        dest="source",
        metavar="GEOMETRY",
        help="geometry of the input, for layouts that do not say (native files carry theirs)",
    )
    parser.add_argument(
        "--to-format",
        metavar="NAME",
        help=f"'{NATIVE}' or a format of 'calogeo list formats' (default: native for a public "
        "input; for a native input, the layout its geometry belongs to)",
    )
    parser.add_argument(
        "--compression",
        choices=("lzf", "gzip", "none"),
        default="lzf",
        help="filter of a native output (default: lzf; gzip for tools without h5py's LZF)",
    )
    parser.add_argument(
        "--format-version",
        type=int,
        choices=(1, 2),  # calogeo.io.FORMAT_VERSIONS (not imported: --help stays light)
        default=None,
        help="version of a native output (default: the newest, 2: each event's non-zero cells; "
        "1: dense images, readable by calogeo 0.1.0)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=1024, metavar="N", help="events per batch (1024)"
    )
    add_cluster_options(parser)  # OUT is then a directory of native partitions
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from calogeo.formats import ForeignShowerFile, FormatWriter, formats_for
    from calogeo.io import FORMAT_VERSION, ShowerFile, ShowerWriter, open_showers
    from calogeo.outputs import check_output
    from calogeo.registry import get_format, get_geometry

    if args.batch_size < 1:
        msg = f"--batch-size must be positive, got {args.batch_size}"
        raise CalogeoError(msg)
    check_output(args.output, [args.input, args.source], option="")
    geometry = get_geometry(args.source) if args.source else None
    version = args.format_version or FORMAT_VERSION
    address = cluster_address(args)
    if address is not None:
        from calogeo.cli import _distributed as commands

        return commands.convert(args, address, geometry, version)
    with open_showers(args.input, geometry) as source:
        target = args.to_format
        if target is None and isinstance(source, ForeignShowerFile):
            target = NATIVE
        if target is None:
            found = formats_for(source.geometry)
            if len(found) != 1:
                names = ", ".join(f.name for f in found) or "none"
                msg = (
                    f"{args.input}: native file on {source.geometry.name!r}; public layouts for "
                    f"it: {names}; pass --to-format NAME ('{NATIVE}' to rewrite it in format "
                    f"version {version})"
                )
                raise CalogeoError(msg)
            target = found[0].name
        if isinstance(source, ForeignShowerFile):
            origin, provenance = source.format.name, {}
        else:
            assert isinstance(source, ShowerFile)
            origin, provenance = native_label(source.format_version), source.metadata
        sparse = target == NATIVE and version > 1
        if target == NATIVE:
            writer: Any = ShowerWriter(
                args.output,
                source.geometry,
                format_version=version,
                compression=args.compression,
                metadata={
                    **provenance,
                    "converted_from": str(args.input),
                    "source_format": origin,
                },
            )
            target = native_label(version)
        else:
            writer = FormatWriter(args.output, get_format(target))
        with (
            writer,
            tqdm(
                total=len(source),
                unit="ev",
                desc=f"{origin} -> {target}",
                disable=not sys.stderr.isatty(),
            ) as bar,
        ):
            for batch in source.iter_batches(args.batch_size, sparse=sparse):
                writer.append(batch)
                bar.update(len(batch))
        print(
            f"wrote {args.output}: {len(source)} showers on {source.geometry.name!r} "
            f"({origin} -> {target})"
        )
    return 0


def native_label(version: int) -> str:
    """``native`` for the current format version, ``native vN`` for another."""
    from calogeo.io import FORMAT_VERSION

    return NATIVE if version == FORMAT_VERSION else f"{NATIVE} v{version}"
