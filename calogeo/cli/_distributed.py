"""What ``calogeo simulate | resample | convert | evaluate`` do with ``--scheduler`` /
``--workers``: the glue between their parsed options and :mod:`calogeo.distributed.ops`, so each
command only adds the options (:func:`~calogeo.distributed.cluster.add_cluster_options`) and
hands over here."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from calogeo.distributed.cluster import dask_client
from calogeo.errors import CalogeoError

__all__ = ["convert", "evaluate", "resample", "simulate"]


def _progress(what: str) -> Any:
    """A progress callback: one line on stderr per finished partition."""
    done = [0]

    def report(part: Any, summary: dict[str, Any]) -> None:
        done[0] += 1
        print(
            f"{what}: partition {part.index} ({summary['events']} events) done "
            f"[{done[0]} this run]",
            file=sys.stderr,
            flush=True,
        )

    return report


def _finish(manifest: dict[str, Any], folder: Path, what: str, begin: float) -> int:
    events = sum(p["events"] for p in manifest["partitions"].values())
    elapsed = time.perf_counter() - begin
    print(
        f"wrote {events} {what} in {len(manifest['partitions'])} partitions to {folder}/ "
        f"(manifest.json; {elapsed:.1f} s)"
    )
    return 0


def simulate(
    args: argparse.Namespace,
    address: str,
    simulator: Any,
    batches: Iterable[dict[str, Any]],
    seed: int,
    bunches: bool,
) -> int:
    """``calogeo simulate`` on a cluster: ``batches`` as drawn by the command."""
    from calogeo.distributed.ops import partition_size, simulate_partitioned

    begin = time.perf_counter()
    drawn = list(batches)
    per_part = partition_size(args.partition_size, args.batch_size) // args.batch_size
    with dask_client(address) as client:
        manifest = simulate_partitioned(
            simulator.geometry,
            args.particle,
            drawn,
            args.output,
            seed=seed,
            batches_per_partition=per_part,
            options={"noise_mev": args.noise_mev, "threshold_mev": args.threshold_mev},
            bunches=bunches,
            client=client,
            progress=_progress("simulate"),
        )
    return _finish(manifest, args.output, f"{args.particle} events (seed {seed})", begin)


def _output_dir(args: argparse.Namespace, default: Path) -> Path:
    return Path(args.output) if args.output else default.with_suffix("")


def resample(args: argparse.Namespace, address: str, target: Any, source: Any) -> int:
    """``calogeo resample`` on a cluster."""
    from calogeo.distributed.ops import resample_partitioned

    if args.device not in ("cpu", "auto"):
        msg = "--scheduler/--workers resample on the workers' CPUs: drop --device"
        raise CalogeoError(msg)
    from calogeo.cli._options import resample_output

    folder = _output_dir(args, resample_output(args.input, target.name, args.round_trip))
    begin = time.perf_counter()
    with dask_client(address) as client:
        manifest = resample_partitioned(
            args.input,
            target,
            folder,
            source_geometry=source,
            round_trip=args.round_trip,
            layers=args.layers.split(",") if args.layers else None,
            energy_scale=args.energy_scale,
            cache=not args.no_cache,
            batch_size=args.batch_size,
            size=args.partition_size,
            client=client,
            progress=_progress("resample"),
        )
    parts = manifest["partitions"].values()
    count = sum(p["kept_count"] for p in parts)
    if count:
        mean = sum(p["kept_sum"] for p in parts) / count
        worst = min(p["worst"] for p in parts)
        print(f"energy kept per event: mean {mean:.4%}, worst {worst:.4%} of the deposited energy")
    return _finish(manifest, folder, f"showers on {target.name!r}", begin)


def convert(args: argparse.Namespace, address: str, source: Any, version: int) -> int:
    """``calogeo convert`` to native partitions (format ``version``) on a cluster."""
    from calogeo.distributed.ops import convert_partitioned

    if args.to_format not in (None, "native"):
        msg = "--scheduler/--workers convert to native partitions only: drop --to-format"
        raise CalogeoError(msg)
    options = {
        "format_version": version,
        "compression": args.compression,
        "metadata": {"converted_from": str(args.input)},
    }
    begin = time.perf_counter()
    with dask_client(address) as client:
        manifest = convert_partitioned(
            args.input,
            args.output,
            source_geometry=source,
            options=options,
            batch_size=args.batch_size,
            size=args.partition_size,
            client=client,
            progress=_progress("convert"),
        )
    return _finish(manifest, args.output, "showers", begin)


def evaluate(args: argparse.Namespace, address: str) -> int:
    """``calogeo evaluate REF GEN`` on a cluster: reduced observable histograms and moments
    in ``DIR/histograms.json`` and ``DIR/summary.json``."""
    from calogeo.cli._options import cell_threshold_gev
    from calogeo.distributed.ops import PARTITION_EVENTS, evaluate_partitioned
    from calogeo.io import open_showers

    if len(args.inputs) != 2:
        msg = "--scheduler/--workers evaluate two shower datasets (REFERENCE GENERATED)"
        raise CalogeoError(msg)
    with open_showers(args.inputs[0]) as first:
        threshold = cell_threshold_gev(args, first.geometry)
    options = {
        "per_layer": args.per_layer,
        "threshold_gev": threshold,
        "empty_layer": args.empty_layers,
        "cell_centres": args.cell_centres,
    }
    with dask_client(address) as client:
        result = evaluate_partitioned(
            args.inputs[0],
            args.inputs[1],
            options=options,
            size=args.partition_size or PARTITION_EVENTS,
            client=client,
        )
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "histograms.json").write_text(json.dumps(result, indent=1))
    powers = {n: o["separation_power"] for n, o in result["observables"].items()}
    summary = {
        "inputs": [str(p) for p in args.inputs],
        "geometry": result["geometry"],
        "separation_power": powers,
    }
    (args.output / "summary.json").write_text(json.dumps(summary, indent=1))
    worst = sorted(powers.items(), key=lambda kv: -kv[1])[:5]
    print("largest separation powers: " + ", ".join(f"{n} {v:.4f}" for n, v in worst))
    print(f"wrote {args.output}/histograms.json and summary.json")
    return 0
