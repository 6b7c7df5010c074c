"""LUXE ECAL study (seed 004: ResNet10 on the 110 x 11 x 20 pad ECAL): how many positrons hit
the calorimeter in one bunch crossing, and their mean energy, regressed from the shower image.

Simulate bunches of 1-100 positrons (1-14 GeV each, the range of the paper's 20 x 0.7 GeV
spectrum bins) spread over the ECAL face, then train the linear baseline (a fit on the summed
energy), the BDT on expert features and the small ResNet10-3D to regress each bunch's
``multiplicity`` and ``energy_mean_gev``, and print the resolution, bias and the relative bias
of the first two moments of the predicted distribution over the test set (the paper's Table 2).

    python examples/luxe_multiplicity.py                 # small preset, CPU, ~8 minutes
    python examples/luxe_multiplicity.py --device cuda -n 5000
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from calogeo import Showers, get_geometry, get_metric, get_model
from calogeo._table import format_table
from calogeo.incident import draw_bunches, impact_ranges
from calogeo.study.crossgeometry import Outcome, split, train_and_test

GEOMETRY = "luxe_ecal"
TARGETS = ("multiplicity", "energy_mean_gev")
MODELS = ("linear", "bdt", "resnet10_3d")


def simulate_bunches(
    n: int, multiplicity: tuple[int, int], energy_gev: tuple[float, float], seed: int
) -> Showers:
    """``n`` bunches of uniform-count positrons, energies uniform in ``energy_gev`` (GeV),
    impact points uniform over the ECAL face less one Moliere radius (as ``calogeo simulate
    --multiplicity`` draws them)."""
    geometry = get_geometry(GEOMETRY)
    rng = np.random.default_rng(seed)
    bunches = draw_bunches(rng, n, multiplicity, energy_gev, impact_ranges(geometry))
    return get_model("gflash").build(geometry, seed=seed).simulate_bunches("e+", **bunches)


def summary_row(target: str, outcome: Outcome) -> tuple[str, ...]:
    """Target, model, sigma90/mu90, mean bias and moment biases of the test predictions."""
    predictions = outcome.predictions
    bias = get_metric("bias")(energy_bins=1, min_entries=1).compute(predictions).values
    moments = get_metric("energy_moments")().compute(predictions).values
    return (
        target,
        outcome.model,
        f"{outcome.resolution:.2%}",
        f"{bias['mean_bias']:+.2%}",
        f"{moments['moment1_relative_bias']:+.2%}",
        f"{moments['moment2_relative_bias']:+.2%}",
        f"{outcome.seconds:.0f}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--events", type=int, default=1500, help="bunches")
    parser.add_argument("--max-multiplicity", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated models")
    parser.add_argument("--size", default="small", choices=("small", "paper"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    begin = time.perf_counter()
    bunches = simulate_bunches(args.events, (1, args.max_multiplicity), (1.0, 14.0), args.seed)
    print(
        f"simulated {len(bunches)} bunches of 1-{args.max_multiplicity} positrons in "
        f"{GEOMETRY} ({time.perf_counter() - begin:.0f} s)",
        flush=True,
    )
    train, test = split(bunches, seed=args.seed)
    rows = []
    for target in TARGETS:
        for model in [m for m in args.models.split(",") if m]:
            print(f"  {model} -> {target} ...", file=sys.stderr, flush=True)
            outcome = train_and_test(
                model,
                train,
                test,
                version=GEOMETRY,
                task="regress",
                size=args.size,
                device=args.device,
                seed=args.seed,
                hparams={"target": target},
                epochs=args.epochs,
                progress=False,
            )
            rows.append(summary_row(target, outcome))
    header = ("target", "model", "sigma90/mu90", "mean bias", "M1 bias", "M2 bias", "s")
    print(format_table(header, rows))
    print(f"\nfinished in {time.perf_counter() - begin:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
