"""Acceptance study: the same models on CLIC, ATLAS and CMS windows (Belayneh et al., EPJC 80
(2020) 688, Sect. 5.4, Fig. 17-19), on showers from calogeo's own simulator.

For gamma vs pi0 and e- vs pi+ (30-150 GeV), in the CLIC ECAL REC window: simulate, resample to
the ATLAS and CMS windows (directly, and round trip back to CLIC cells), then train and test
every model on every version and print the AUC / resolution table, beside the resolution of the
two energy baselines on the same test events (the calibrated sum: visible energy over sampling
fraction, layer by layer; and the linear calibration of the layer groups). Checks, printed at
the end: the 3D CNN beats the BDT in AUC on CLIC, and the DNN and CNN energy resolutions beat
the calibrated sum on CLIC.

    python examples/cross_geometry.py                      # small preset, CPU, ~7 minutes
    python examples/cross_geometry.py --device cuda -n 5000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from calogeo import get_geometry
from calogeo.study.crossgeometry import (
    SOURCE,
    TARGETS,
    Outcome,
    detector_versions,
    results_table,
    simulate,
    train_and_test_all,
    write_plots,
)

TASKS = {"gamma vs pi0": ("gamma", "pi0"), "e- vs pi+": ("e-", "pi+")}
MODELS = ("linear", "bdt", "dnn", "cnn3d")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--events", type=int, default=1500, help="showers per particle")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated models")
    parser.add_argument("--size", default="small", choices=("small", "paper"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=Path("cross-geometry"))
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    begin = time.perf_counter()
    geometry = get_geometry(SOURCE)
    checks: list[tuple[str, bool]] = []
    for task, (signal, background) in TASKS.items():
        print(f"\n== {task}: {args.events} + {args.events} showers in {SOURCE} ==", flush=True)
        showers = simulate(geometry, (signal, background), args.events, seed=args.seed)
        versions = detector_versions(showers, TARGETS, device=args.device)
        outcomes = train_and_test_all(
            versions,
            models,
            seed=args.seed,
            signal=(signal,),
            background=(background,),
            size=args.size,
            device=args.device,
            epochs=args.epochs,
            progress=False,
        )
        print(results_table(outcomes, versions), flush=True)
        folder = args.output / task.replace(" ", "_")
        folder.mkdir(parents=True, exist_ok=True)
        write_plots(outcomes, folder)
        checks += acceptance(outcomes, task)
    print(f"\nfinished in {time.perf_counter() - begin:.0f} s; plots under {args.output}/")
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in checks) else 1


def acceptance(outcomes: list[Outcome], task: str) -> list[tuple[str, bool]]:
    """The study's claims on the original CLIC version, for the models that were run."""
    on_clic = {o.model: o for o in outcomes if o.version == SOURCE}
    checks = []
    if "cnn3d" in on_clic and "bdt" in on_clic:
        cnn, bdt = on_clic["cnn3d"].auc, on_clic["bdt"].auc
        text = f"{task}: 3D CNN AUC {cnn:.5f} > BDT AUC {bdt:.5f}"
        if cnn == bdt == 1.0:  # nothing left to beat: both separate the test set perfectly
            checks.append((f"{text} (tie: both separate the test set perfectly)", True))
        else:
            checks.append((text, cnn > bdt))
    for name in ("dnn", "cnn3d"):
        if name in on_clic:
            res = on_clic[name].resolution
            summed = on_clic[name].baseline_resolution("calibrated_sum")
            text = f"{task}: {name} resolution {res:.2%} < calibrated sum {summed:.2%}"
            checks.append((text, res < summed))
    return checks


if __name__ == "__main__":
    sys.exit(main())
