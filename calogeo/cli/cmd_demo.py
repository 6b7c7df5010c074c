"""``calogeo demo``: what calogeo is for, in a few minutes on a laptop.

Simulate gamma and pi0 showers (30-150 GeV) in the CLIC ECAL window, resample them to the
ATLAS and CMS windows (directly, and round trip back to CLIC cells so the same architecture
applies: Belayneh et al., EPJC 80 (2020) 688, Sect. 5.4), train a small model and the linear
baseline on each version, print the AUC / resolution table (the shape of their Fig. 17-19) and
write ROC and resolution plots. Everything goes through the registries: the simulator is
``get_model("gflash")``, the models and metrics are whatever the plugins registered.

The functions here are the building blocks of ``examples/cross_geometry.py`` too.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calogeo.cli._table import format_table
from calogeo.device import DEVICE_CHOICES

if TYPE_CHECKING:
    from calogeo.geometry import Geometry
    from calogeo.showers import Showers

ORDER = 90
SOURCE = "clic_ecal_rec"
TARGETS = ("atlas", "cms")
ENERGY_GEV = (30.0, 150.0)  # the gamma/pi0 energy range of the acceptance study


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="simulate, resample to ATLAS and CMS, train, compare (a few minutes)",
        description="Simulate gamma and pi0 showers in the CLIC ECAL, resample them to the "
        "ATLAS and CMS windows (direct and round trip), train a small model and the linear "
        "baseline on each, print the AUC / energy-resolution table and write plots.",
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


# -- the building blocks -------------------------------------------------------------------------


def simulate(
    geometry: Geometry,
    particles: tuple[str, ...],
    n: int,
    energy_gev: tuple[float, float] = ENERGY_GEV,
    seed: int = 0,
) -> Showers:
    """``n`` showers of every particle, energies uniform in ``energy_gev``, from the registered
    ``gflash`` simulator."""
    import numpy as np

    from calogeo.registry import get_model
    from calogeo.showers import Showers

    rng = np.random.default_rng(seed)
    parts = []
    for k, particle in enumerate(particles):
        simulator = get_model("gflash").build(geometry, seed=seed + 1000 * (k + 1))
        parts.append(simulator.generate(rng.uniform(*energy_gev, n), particle=particle))
    return Showers.concatenate(parts)


def detector_versions(
    showers: Showers, targets: tuple[str, ...] = TARGETS, device: str = "cpu"
) -> dict[str, Showers]:
    """The showers as seen by every target: the original, each target directly, and each
    target round trip (source -> target -> source cells)."""
    from calogeo.registry import get_geometry
    from calogeo.resample import Resampler

    source = showers.geometry
    out = {source.name: showers}
    for name in targets:
        target = get_geometry(name)
        out[name] = Resampler(source, target).apply(showers, device=device)
        out[f"{source.name} via {name}"] = Resampler(source, target, round_trip=True).apply(
            showers, device=device
        )
    return out


def split(showers: Showers, test_fraction: float = 0.3, seed: int = 0) -> tuple[Showers, Showers]:
    """(train, test): a seeded random split."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(showers))
    n_test = round(test_fraction * len(showers))
    return showers[np.sort(order[n_test:])], showers[np.sort(order[:n_test])]


@dataclass
class Outcome:
    """One model on one detector version: test AUC, resolution, the metric results and the
    test-set predictions."""

    version: str
    model: str
    auc: float = float("nan")
    resolution: float = float("nan")
    seconds: float = 0.0
    results: dict[str, Any] = field(default_factory=dict)
    predictions: Any = None


def train_and_test(
    model_name: str,
    train: Showers,
    test: Showers,
    *,
    version: str,
    task: str = "both",
    signal: tuple[str, ...] = ("gamma",),
    background: tuple[str, ...] = ("pi0",),
    size: str = "small",
    device: str = "auto",
    seed: int = 0,
    hparams: dict[str, Any] | None = None,
    **options: Any,
) -> Outcome:
    """Build ``model_name`` on the showers' geometry (``size`` preset updated with
    ``hparams``), train it (``options``: training options of torch models), score it on
    ``test``: AUC (``roc_auc`` metric) and resolution sigma90/mu90 (``resolution`` metric)."""
    from calogeo.model import TorchModel
    from calogeo.registry import get_metric, get_model

    cls = get_model(model_name)
    if task == "both" and "classify" not in cls.kind:
        task = "regress"
    model = cls.build(
        train.geometry,
        size=size,
        task=task,
        signal=signal,
        background=background,
        seed=seed,
        **(hparams or {}),
    )
    start = time.perf_counter()
    if isinstance(model, TorchModel):
        model.fit(train, device=device, seed=seed, **options)
    else:
        model.fit(train)
    predictions = model.predict(test, device=device)
    outcome = Outcome(
        version, model_name, seconds=time.perf_counter() - start, predictions=predictions
    )
    if predictions.score is not None:
        outcome.results["roc_auc"] = get_metric("roc_auc")().compute(predictions)
        outcome.auc = float(outcome.results["roc_auc"].values["auc"])
    if predictions.energy is not None:
        outcome.results["resolution"] = get_metric("resolution")().compute(predictions)
        outcome.resolution = float(outcome.results["resolution"].values["sigma90_over_mu90"])
    return outcome


def train_and_test_all(
    versions: dict[str, Showers], models: Sequence[str], *, seed: int = 0, **kwargs: Any
) -> list[Outcome]:
    """Every model of ``models`` trained and tested on every detector version (a seeded
    train/test split of each, see :func:`split`); ``kwargs`` go to :func:`train_and_test`.
    Progress on stderr."""
    outcomes = []
    for version, data in versions.items():
        train, test = split(data, seed=seed)
        for model in models:
            say(f"training {model} on {version} ({data.geometry.n_cells} cells) ...")
            outcomes.append(
                train_and_test(model, train, test, version=version, seed=seed, **kwargs)
            )
    return outcomes


def results_table(outcomes: list[Outcome], versions: dict[str, Showers]) -> str:
    """The AUC / resolution table: one row per detector version and model."""
    import numpy as np

    rows = []
    for o in outcomes:
        geometry = versions[o.version].geometry
        rows.append(
            (
                o.version,
                f"{geometry.n_cells}",
                o.model,
                "-" if np.isnan(o.auc) else f"{o.auc:.4f}",
                "-" if np.isnan(o.resolution) else f"{o.resolution:.2%}",
                f"{o.seconds:.0f}",
            )
        )
    header = ("detector", "cells", "model", "AUC", "sigma90/mu90", "train+test s")
    return format_table(header, rows)


def write_plots(outcomes: list[Outcome], folder: Path) -> list[Path]:
    """ROC curves and resolution vs energy, one colour per detector version, per model;
    written into ``folder``."""
    from calogeo.plotting import plot_overlay, save_figure

    written = []
    for metric, stem in (("roc_auc", "roc"), ("resolution", "resolution")):
        for model in dict.fromkeys(o.model for o in outcomes):
            results = {
                o.version: o.results[metric]
                for o in outcomes
                if o.model == model and metric in o.results
            }
            if not results:
                continue
            first = next(iter(results.values()))
            wanted = "roc" if metric == "roc_auc" else "energy"
            index = next((i for i, p in enumerate(first.plots) if p.get("table") == wanted), 0)
            column = "sigma90_over_mu90" if metric == "resolution" else None
            path = folder / f"{stem}_{model}.png"
            figure = plot_overlay(results, index, column)
            figure.axes[0].set_title(f"{model}: {stem} on each detector version", fontsize=10)
            save_figure(figure, path)
            written.append(path)
    return written


# -- the command ---------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    from calogeo.registry import get_geometry

    begin = time.perf_counter()
    geometry = get_geometry(SOURCE)
    say(f"simulating {args.events} gamma + {args.events} pi0 showers in {geometry.name} ...")
    showers = simulate(geometry, ("gamma", "pi0"), args.events, seed=args.seed)
    say(f"resampling to {', '.join(TARGETS)} (direct and round trip) ...")
    versions = detector_versions(showers, device=args.device)
    outcomes = train_and_test_all(
        versions, (args.model, "linear"), seed=args.seed, device=args.device, epochs=args.epochs
    )
    print(results_table(outcomes, versions))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{args.output.name}.", dir=args.output.parent))
    try:
        written = write_plots(outcomes, staging)
        if args.output.exists():
            shutil.rmtree(args.output)
        staging.rename(args.output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"\nwrote {len(written)} plots to {args.output}/ in {time.perf_counter() - begin:.0f} s")
    return 0


def say(text: str) -> None:
    """Progress on stderr."""
    print(text, file=sys.stderr, flush=True)
