"""``calogeo voxelize HITS... --geometry NAME -o OUT.h5``: full-simulation hits into cells."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from calogeo.errors import CalogeoError

ORDER = 32
AXES = ("truth", "barycentre", "fixed")  # calogeo.voxelize.AXES; no numpy here
SURFACES = ("sphere", "barrel", "endcap")
LENGTH_UNITS = ("mm", "cm", "m")
ENERGY_UNITS = ("GeV", "MeV", "keV")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "voxelize",
        help="bin simulated hits (EDM4hep ROOT, hit tables, point clouds) into a geometry",
        description="Read hits of a full simulation (EDM4hep ROOT files through uproot, HDF5 "
        "or Parquet hit tables, point clouds), place the geometry's window on each event's "
        "axis (MC truth, or the energy barycentre as in Belayneh et al. Sect. 2), sum every "
        "hit's energy into the cell that contains it and write a native shower file. Energy "
        "outside the window or between its layers is each event's loss (label 'loss').",
    )
    parser.add_argument("inputs", nargs="+", metavar="HITS", help="hit files or globs")
    parser.add_argument(
        "--geometry", required=True, metavar="NAME", help="registered name or spec (.toml)"
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="OUT.h5", help="output (default: HITS_<geometry>.h5)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="print, per layer, the fraction of hits and energy that fell outside the window "
        "or between layers; writes no file unless -o is given",
    )
    parser.add_argument(
        "--reader", metavar="NAME", help="hit reader (default: detected; see calogeo plugins)"
    )
    parser.add_argument(
        "--collections",
        metavar="NAME[,NAME]",
        help="EDM4hep hit collections (default: every SimCalorimeterHit collection)",
    )
    parser.add_argument(
        "--dataset", metavar="NAME", help="HDF5 group of a hit table or dataset of a point cloud"
    )
    parser.add_argument(
        "--axis",
        choices=AXES,
        help="window axis: MC truth (default when the input has it), the energy barycentre "
        "seen from the origin (default otherwise), or fixed (--direction)",
    )
    parser.add_argument(
        "--origin",
        metavar="X,Y,Z",
        help="axis origin (mm) where the input has no truth vertex (default 0,0,0)",
    )
    parser.add_argument("--direction", metavar="DX,DY,DZ", help="the fixed axis' direction")
    parser.add_argument(
        "--front-mm",
        type=float,
        metavar="MM",
        help="distance from the origin to the window's front (default: the geometry's "
        "distance_from_ip_mm)",
    )
    parser.add_argument(
        "--surface",
        choices=SURFACES,
        default="sphere",
        help="front at --front-mm from the origin on a sphere (default), a barrel cylinder "
        "around z or an end-cap plane",
    )
    parser.add_argument(
        "--energy-scale",
        choices=("visible", "deposited"),  # calogeo.energy_scale.ENERGY_SCALES
        default="visible",
        help="what the hits' energies are: 'visible' (default: seen by the active medium, "
        "e.g. EDM4hep SimCalorimeterHit) or 'deposited' (left in the whole layer, turned into "
        "visible energy with the layer's sampling fraction); the output is visible energy",
    )
    parser.add_argument("--length-unit", choices=LENGTH_UNITS, default="mm", help="default: mm")
    parser.add_argument("--energy-unit", choices=ENERGY_UNITS, default="GeV", help="default: GeV")
    parser.add_argument(
        "--incident-energy",
        type=float,
        metavar="GEV",
        help="incident energy of events whose input gives none (no MC truth, e.g. the beam "
        "energy of a test beam); without it such events are an error",
    )
    parser.add_argument(
        "--chunk-hits",
        type=int,
        default=1 << 18,
        metavar="N",
        help="hits read per batch (memory is bounded by a few batches; default 262144)",
    )
    parser.set_defaults(func=run)


def vector(text: str | None, option: str) -> tuple[float, float, float] | None:
    """``"x,y,z"`` as three floats; None stays None."""
    if text is None:
        return None
    try:
        x, y, z = (float(v) for v in text.split(","))
    except ValueError:
        msg = f"{option} {text!r}: expected three numbers X,Y,Z"
        raise CalogeoError(msg) from None
    return x, y, z


def default_output(first: str, geometry: str) -> Path:
    """``HITS_<geometry>.h5`` beside the first input (its glob characters dropped)."""
    path = Path(first)
    stem = "".join(c for c in path.stem if c not in "*?[]") or "hits"
    return path.with_name(f"{stem}_{geometry}.h5")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from calogeo.hits import open_hits
    from calogeo.registry import get_geometry
    from calogeo.voxelize import VoxelizeSettings, voxelize

    if args.chunk_hits < 1:
        msg = f"--chunk-hits must be positive, got {args.chunk_hits}"
        raise CalogeoError(msg)
    geometry = get_geometry(args.geometry)
    origin = vector(args.origin, "--origin") or (0.0, 0.0, 0.0)
    settings = VoxelizeSettings(
        axis=args.axis,
        origin_mm=origin,
        direction=vector(args.direction, "--direction"),
        front_mm=args.front_mm,
        surface=args.surface,
        energy_scale=args.energy_scale,
        length_unit=args.length_unit,
        energy_unit=args.energy_unit,
        incident_energy_gev=args.incident_energy,
    )
    output = args.output
    if output is None and not args.check:
        output = default_output(args.inputs[0], geometry.name)
    reader = open_hits(args.inputs, args.reader, collections=args.collections, dataset=args.dataset)
    if output is not None and any(output.resolve() == p.resolve() for p in reader.paths):
        reader.close()
        msg = f"{output}: the output would overwrite an input file"
        raise CalogeoError(msg)
    with tqdm(
        total=reader.count_events(),
        unit="ev",
        desc=f"hits -> {geometry.name}",
        disable=not sys.stderr.isatty(),
    ) as bar:
        report = voxelize(
            reader,
            geometry,
            output,
            settings=settings,
            chunk_hits=args.chunk_hits,
            progress=bar.update,
        )
    if output is not None:
        print(f"wrote {output}: {report.events} showers on {geometry.name!r} ({reader.name} hits)")
    print(report.summary())
    if args.check:
        print(report.check_table())
    return 0
