"""``calogeo demo``: what calogeo is for, in a few minutes on a laptop.

Simulate gamma and pi0 showers (30-150 GeV) in the CLIC ECAL window, resample them to the
ATLAS and CMS windows (directly, and round trip back to CLIC cells so the same architecture
applies: Belayneh et al., EPJC 80 (2020) 688, Sect. 5.4), train a small model on each version,
print the AUC / resolution table (the shape of their Fig. 17-19) beside the two energy
baselines, the calibrated sum and the linear calibration of the layer groups, and write ROC and
resolution plots. Everything goes through the registries: the simulator is
``get_model("gflash")``, the models and metrics are whatever the plugins registered.

The building blocks live in :mod:`calogeo.study.crossgeometry`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from calogeo.device import DEVICE_CHOICES
from calogeo.study.crossgeometry import SOURCE, TARGETS, say

ORDER = 90


MIN_EVENTS = 10  # showers per particle: enough for a train / validation / test split


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulate, resample to ATLAS and CMS, train, compare (a few minutes)",
        description="Simulate gamma and pi0 showers in the CLIC ECAL, resample them to the "
        "ATLAS and CMS windows (direct and round trip), train a small model on each, print the "
        "AUC / energy-resolution table beside the calibrated-sum and linear-calibration "
        "baselines and write plots.",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=Path("calogeo-demo"), help="plot folder"
    )
    parser.add_argument("-n", "--events", type=int, default=1000, help="showers per particle")
    parser.add_argument("--model", default="cnn3d", help="model to train (default: cnn3d)")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default: 20)")
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The built-in study ``demo`` (:mod:`calogeo.study`) with the options applied; stages
    are cached beside the output folder (``.<name>-cache``), so a rerun only redoes what an
    option changed."""
    from calogeo.errors import CalogeoError
    from calogeo.outputs import check_output
    from calogeo.study import load_study, run_study
    from calogeo.study.report import table

    for option, value, least in (("-n", args.events, MIN_EVENTS), ("--epochs", args.epochs, 1)):
        if value < least:
            msg = f"{option} {value}: must be at least {least}"
            raise CalogeoError(msg)
    if args.seed < 0:
        msg = f"--seed {args.seed}: must be a non-negative integer"
        raise CalogeoError(msg)
    check_output(args.output, directory=True)
    begin = time.perf_counter()
    study = load_study("demo")
    samples = tuple(replace(s, events=args.events) for s in study.samples)
    models = (replace(study.models[0], name=args.model, epochs=args.epochs),)
    study = replace(study, seed=args.seed, samples=samples, models=models)
    say(f"simulating {args.events} gamma + {args.events} pi0 showers in {SOURCE}, resampling to "
        f"{', '.join(TARGETS)} (direct and round trip), training {args.model} on each ...")  # fmt: skip
    cache = args.output.parent / f".{args.output.name}-cache"
    records, _ = run_study(study, cache, device=args.device, report=args.output)
    print(table(records))
    written = sorted(args.output.glob("*.png"))
    print(f"\nwrote {len(written)} plots to {args.output}/ in {time.perf_counter() - begin:.0f} s")
    return 0
