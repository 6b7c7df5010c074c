"""``calogeo study STUDY.toml``: a declarative study, run stage by stage with a cache."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from calogeo.device import DEVICE_CHOICES
from calogeo.distributed.cluster import add_cluster_options, cluster_address

ORDER = 85


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "study",
        help="run a declarative study: simulate, resample, train, evaluate, report",
        description="Run a study file (samples, target geometries, models with their presets, "
        "tasks) as the stage graph simulate -> resample -> train -> evaluate -> report. Each "
        "stage is cached in DIR/cache under a key of its inputs and settings: a rerun skips "
        "what is done, resumes what was interrupted, and reruns only what a changed setting "
        "touches. The report: DIR/report/results.json, table.txt and report.md with ROC, bias "
        "and resolution plots. STUDY may name a built-in study (demo).",
    )
    parser.add_argument("study", metavar="STUDY.toml", help="study file or built-in name")
    parser.add_argument(
        "-o", "--output", type=Path, default=None, metavar="DIR",
        help="study folder (default: the study file's name without .toml)",
    )  # fmt: skip
    parser.add_argument(
        "--device", choices=DEVICE_CHOICES, default=None,
        help="training and prediction device (default: the study's, else auto)",
    )  # fmt: skip
    add_cluster_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calogeo.study import load_study, run_study

    begin = time.perf_counter()
    study = load_study(args.study)
    folder = args.output or Path(Path(args.study).stem)
    address = cluster_address(args)
    if address is None:
        _, runner = run_study(study, folder, device=args.device)
    else:
        from calogeo.distributed.cluster import dask_client

        with dask_client(address) as client:
            _, runner = run_study(study, folder, client=client, device=args.device)
    print((folder / "report" / "table.txt").read_text(), end="")
    print(
        f"\n{len(runner.ran)} stages run, {len(runner.cached)} from the cache; report in "
        f"{folder / 'report'}/ ({time.perf_counter() - begin:.0f} s)",
        file=sys.stderr,
    )
    return 0
