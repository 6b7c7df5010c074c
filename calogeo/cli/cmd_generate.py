"""``calogeo generate MODEL.pt --energy 10:100 -n N -o GEN.h5``: showers from a trained
generative model, streamed into a native shower file with the conditioning as labels."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from calogeo.cli.cmd_simulate import parse_range
from calogeo.device import DEVICE_CHOICES
from calogeo.errors import CalogeoError

ORDER = 45


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="generate showers with a trained generative model",
        description="Generate showers with a trained generative model (see `calogeo train`) on "
        "the model's geometry and write them to a native shower file: energies and angles are "
        "drawn like `calogeo simulate` draws them and stored as labels, so `calogeo evaluate "
        "REFERENCE.h5 GEN.h5` compares the result at once. Cells below the readout threshold "
        "of the training data (or --threshold-mip) are zero. The file appears only when "
        "complete (Ctrl-C leaves none).",
    )
    parser.add_argument("model", type=Path, metavar="MODEL.pt", help="generative model checkpoint")
    parser.add_argument(
        "--energy",
        required=True,
        metavar="GEV|LO:HI",
        help="incident energy in GeV, fixed (50) or a range (10:100, uniform unless --log-uniform)",
    )
    parser.add_argument(
        "--log-uniform", action="store_true", help="draw energies uniformly in log(E)"
    )
    parser.add_argument(
        "--theta",
        metavar="RAD|LO:HI",
        help="polar angle in rad, fixed or a uniform range, for models conditioned on it "
        "(default: 0)",
    )
    parser.add_argument(
        "--phi",
        metavar="RAD|LO:HI",
        help="azimuth in rad, fixed or a uniform range, for models conditioned on it "
        "(default: uniform in [0, 2 pi), as `calogeo simulate` draws it)",
    )
    parser.add_argument(
        "--particle", help="particle name or PDG id, for models trained on several particles"
    )
    parser.add_argument("-n", "--events", type=int, default=1000, help="number of showers")
    parser.add_argument(
        "--batch-size", type=int, default=1024, help="showers per generated batch (default 1024)"
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),  # calogeo.generative.PRECISIONS, not imported at start-up
        default="fp32",
        help="arithmetic of the networks: fp32 (default) or bf16 (faster on CPUs with "
        "bfloat16 instructions; shower totals and largest cells ~0.1-2%% off)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed: the same seed, batch size and device give the same file (default 0)",
    )
    parser.add_argument(
        "--threshold-mip",
        type=float,
        metavar="X",
        help="zero cells below X times the layer's MIP signal (default: the training data's "
        "readout threshold)",
    )
    parser.add_argument(
        "--uncalibrated",
        action="store_true",
        help="skip the response calibration fitted after training: the network's own totals",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="GEN.h5")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from calogeo.checkpoint import load_model
    from calogeo.device import resolve_device
    from calogeo.generative import GenerativeModel
    from calogeo.incident import draw
    from calogeo.io import ShowerWriter
    from calogeo.observables import mip_energy_gev

    for option, value in (("-n", args.events), ("--batch-size", args.batch_size)):
        if value < 1:
            msg = f"{option} {value}: must be at least 1"
            raise CalogeoError(msg)
    if args.seed < 0:
        msg = f"--seed {args.seed}: must be non-negative"
        raise CalogeoError(msg)
    energy = parse_range(args.energy, "--energy", positive=True)
    resolve_device(args.device)  # an unusable --device fails before any work
    model = load_model(args.model)
    if not isinstance(model, GenerativeModel):
        msg = f"{args.model}: model {model.name!r} is not generative (its tasks: {', '.join(model.kind)})"
        raise CalogeoError(msg)
    angles = angle_ranges(args, model.conditions)
    threshold = None
    if args.threshold_mip is not None:
        if args.threshold_mip < 0:
            msg = f"--threshold-mip {args.threshold_mip}: must be non-negative"
            raise CalogeoError(msg)
        threshold = args.threshold_mip * mip_energy_gev(model.geometry)
    rng = np.random.default_rng([args.seed, 1])  # conditions; the networks use the seed below
    seeds = np.random.SeedSequence(args.seed).generate_state(
        math.ceil(args.events / args.batch_size)
    )
    metadata = {"generated_by": model.name, "model_file": str(args.model)}
    start = time.perf_counter()
    with (
        ShowerWriter(args.output, model.geometry, metadata=metadata) as writer,
        tqdm(
            total=args.events,
            unit="shower",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
            desc=f"{model.name} on {model.geometry.name}",
        ) as bar,
    ):
        for batch, first in enumerate(range(0, args.events, args.batch_size)):
            n = min(args.batch_size, args.events - first)
            energies = draw(rng, energy, n, log=args.log_uniform)
            angle = {name: draw(rng, bounds, n) for name, bounds in angles.items()}
            showers = model.generate(
                energies,
                particle=args.particle,
                theta=angle.get("theta"),
                phi=angle.get("phi"),
                batch_size=n,
                device=args.device,
                seed=int(seeds[batch]),
                threshold_gev=threshold,
                calibrated=not args.uncalibrated,
                precision=args.precision,
            )
            writer.append(showers)
            bar.update(n)
    elapsed = time.perf_counter() - start
    print(
        f"wrote {args.events} showers of {model.name} on {model.geometry.name} to {args.output} "
        f"(seed {args.seed}; {elapsed:.1f} s, {args.events / elapsed:,.0f} showers/s)"
    )
    return 0


def angle_ranges(
    args: argparse.Namespace, conditions: tuple[str, ...]
) -> dict[str, tuple[float, float]]:
    """The (low, high) range in rad of every angle the model is conditioned on; an angle given
    to a model that does not take it is an error."""
    defaults = {"theta": (0.0, 0.0), "phi": (0.0, 2.0 * math.pi)}
    ranges = {}
    for name, default in defaults.items():
        text = getattr(args, name)
        if name not in conditions:
            if text is not None:
                msg = f"--{name}: the model is not conditioned on {name}"
                raise CalogeoError(msg)
            continue
        ranges[name] = default if text is None else parse_range(text, f"--{name}", positive=False)
    return ranges
