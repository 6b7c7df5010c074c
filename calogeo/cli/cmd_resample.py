"""``calogeo resample IN.h5 --to GEOMETRY``: showers re-binned onto another detector's cells."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from calogeo.cli._options import resample_output
from calogeo.device import DEVICE_CHOICES
from calogeo.distributed.cluster import add_cluster_options, cluster_address
from calogeo.errors import CalogeoError

ORDER = 40


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "resample",
        help="re-bin showers onto another geometry's cells",
        description="Map the showers of a file onto the cells of another geometry by shared "
        "volume (lengths in Moliere radii, depth in radiation lengths; Belayneh et al. "
        "Sect. 5.4), stream it in batches and write a native shower file on the new geometry.",
    )
    parser.add_argument("input", type=Path, metavar="IN.h5", help="shower file to resample")
    parser.add_argument(
        "--to", required=True, metavar="GEOMETRY", help="target geometry name or spec (.toml)"
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="GEOMETRY",
        help="source geometry, for formats that do not carry theirs (native files do)",
    )
    parser.add_argument(
        "--round-trip",
        action="store_true",
        help="map to the target and back, giving source-shaped arrays with the target's granularity",
    )
    parser.add_argument(
        "--layers",
        metavar="GROUP[,GROUP]",
        help="resample only these layer groups (e.g. ECAL) and carry the others unchanged",
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="OUT.h5", help="output file (default: IN_<target>.h5)"
    )
    parser.add_argument(
        "--energy-scale",
        choices=("visible", "deposited"),  # calogeo.energy_scale.ENERGY_SCALES; no numpy here
        default="visible",
        help="energy written: 'visible' (default), what the output geometry's read-out sees "
        "(deposited energy x its layers' sampling fractions), or 'deposited' (the energy the "
        "shower left in each layer); the input is read as visible energy",
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="default: cpu")
    parser.add_argument(
        "--batch-size", type=int, default=1024, metavar="N", help="events per batch (1024)"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="rebuild the overlap tables, do not cache them"
    )
    add_cluster_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from calogeo.io import ShowerWriter, open_showers
    from calogeo.memory import check_memory
    from calogeo.outputs import check_output
    from calogeo.registry import get_geometry
    from calogeo.resample import Resampler
    from calogeo.resample.bookkeeping import KeptReport
    from calogeo.resample.groups import resampler_for
    from calogeo.resample.stream import resample_stream

    if args.batch_size < 1:
        msg = f"--batch-size must be positive, got {args.batch_size}"
        raise CalogeoError(msg)
    inputs = [args.input, args.to, args.source]
    if args.output is not None:
        check_output(args.output, inputs)  # before any work
    target = get_geometry(args.to)
    source_geometry = get_geometry(args.source) if args.source else None
    address = cluster_address(args)
    if address is not None:
        from calogeo.cli import _distributed as commands

        return commands.resample(args, address, target, source_geometry)
    output = args.output or check_output(
        resample_output(args.input, target.name, args.round_trip), inputs
    )
    with open_showers(args.input, source_geometry) as source:
        groups = args.layers.split(",") if args.layers else None
        batch = min(args.batch_size, max(len(source), 1))
        out_cells = source.geometry.n_cells if args.round_trip else target.n_cells
        check_memory(
            2 * batch * (source.geometry.n_cells + out_cells) * 4,  # float32 in/out buffers
            f"resampling batches of {batch} events ({source.geometry.n_cells:,} -> "
            f"{target.n_cells:,} cells)",
            "lower --batch-size",
        )
        resampler = resampler_for(
            source.geometry,
            target,
            groups,
            round_trip=args.round_trip,
            cache=not args.no_cache,
            output_scale=args.energy_scale,
        )
        kept, events = KeptReport(), len(source)
        metadata = {
            "resampled_from": source.geometry.name,
            "energy_scale": args.energy_scale,
            "labels": resampler.label_map.notes(),
        }
        with (
            ShowerWriter(output, resampler.output_geometry, metadata=metadata) as writer,
            tqdm(
                total=events,
                unit="ev",
                desc=f"{source.geometry.name} -> {resampler.output_geometry.name}",
                disable=not sys.stderr.isatty(),
            ) as bar,
        ):

            def write(showers: Any, books: dict[str, Any]) -> None:
                kept.add(books)
                writer.append(showers)
                bar.update(len(showers))

            # a version-2 file's non-zero cells go straight to the kernel (CPU, whole geometry)
            sparse = (
                args.device == "cpu" and isinstance(resampler, Resampler) and source.stores_sparse
            )
            batches = source.iter_batches(args.batch_size, sparse=sparse)
            resample_stream(resampler, batches, write, device=args.device)
    print(f"wrote {output}: {events} showers on {resampler.output_geometry.name!r}")
    if groups:
        print(f"resampled layer groups {args.layers}; the others are carried over unchanged")
    print(kept.report())
    return 0
