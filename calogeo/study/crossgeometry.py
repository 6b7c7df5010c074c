"""The cross-geometry study of Belayneh et al., EPJC 80 (2020) 688, Sect. 5.4 (Fig. 17-19) as
building blocks: simulate gamma / pi0 (or any pair) in the CLIC ECAL window, resample to the
ATLAS and CMS windows (directly, and round trip back to CLIC cells so the same architecture
applies), train and test models on every version, tabulate AUC and resolution beside the two
energy baselines (the calibrated sum and the linear calibration of the layer groups) and draw
ROC and resolution plots. Everything goes through the registries: the simulator is
``get_model("gflash")``, the models and metrics are whatever the plugins registered.

``calogeo demo`` (the built-in study ``demo``), the study runner and
``examples/cross_geometry.py`` use these.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calogeo._table import format_table

if TYPE_CHECKING:
    from calogeo.geometry import Geometry
    from calogeo.showers import Showers

__all__ = [
    "ENERGY_GEV",
    "SOURCE",
    "TARGETS",
    "Outcome",
    "detector_versions",
    "results_table",
    "score",
    "simulate",
    "split",
    "train_and_test",
    "train_and_test_all",
    "write_plots",
]

SOURCE = "clic_ecal_rec"
TARGETS = ("atlas", "cms")
ENERGY_GEV = (30.0, 150.0)  # the gamma/pi0 energy range of the acceptance study


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
    """One model on one detector version: test AUC, resolution, the metric results, the
    ``resolution`` results of the energy baselines the predictions carry (by name, see
    :data:`calogeo.predictions.BASELINES`) and the test-set predictions."""

    version: str
    model: str
    auc: float = float("nan")
    resolution: float = float("nan")
    seconds: float = 0.0
    results: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, Any] = field(default_factory=dict)
    predictions: Any = None

    def baseline_resolution(self, name: str) -> float:
        """sigma90/mu90 of baseline ``name`` on the same test events; NaN if not carried."""
        result = self.baselines.get(name)
        return float("nan") if result is None else float(result.values["sigma90_over_mu90"])


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
    ``test``: AUC (``roc_auc`` metric) and resolution sigma90/mu90 (``resolution`` metric),
    the latter also for the energy baselines its predictions carry."""
    from calogeo.reconstruction import TorchModel
    from calogeo.registry import get_model

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
    return score(predictions, version, model_name, time.perf_counter() - start)


def score(predictions: Any, version: str, model_name: str, seconds: float = 0.0) -> Outcome:
    """The Outcome of ``predictions``: AUC (``roc_auc``), bias and resolution sigma90/mu90
    (``bias``, ``resolution``), the latter two also for the energy baselines they carry."""
    from calogeo.registry import get_metric

    outcome = Outcome(version, model_name, seconds=seconds, predictions=predictions)
    if predictions.score is not None:
        outcome.results["roc_auc"] = get_metric("roc_auc")().compute(predictions)
        outcome.auc = float(outcome.results["roc_auc"].values["auc"])
    if predictions.energy is not None:
        resolution = get_metric("resolution")()
        outcome.results["resolution"] = resolution.compute(predictions)
        outcome.results["bias"] = get_metric("bias")().compute(predictions)
        outcome.resolution = float(outcome.results["resolution"].values["sigma90_over_mu90"])
        for name, energy in predictions.baselines().items():
            as_model = replace(predictions, energy=energy, model=name)
            outcome.baselines[name] = resolution.compute(as_model)
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
    """The AUC / resolution table: one row per detector version and model, with the
    resolution of the calibrated sum and of the linear calibration on the same test events."""
    import numpy as np

    from calogeo.predictions import BASELINES

    rows = []
    for o in outcomes:
        geometry = versions[o.version].geometry
        baselines = [o.baseline_resolution(name) for name in BASELINES]
        rows.append(
            (
                o.version,
                f"{geometry.n_cells}",
                o.model,
                "-" if np.isnan(o.auc) else f"{o.auc:.4f}",
                *("-" if np.isnan(r) else f"{r:.2%}" for r in (o.resolution, *baselines)),
                f"{o.seconds:.0f}",
            )
        )
    header = (
        "detector",
        "cells",
        "model",
        "AUC",
        "sigma90/mu90",
        *BASELINES.values(),
        "train+test s",
    )
    return format_table(header, rows)


def write_plots(outcomes: list[Outcome], folder: Path) -> list[Path]:
    """Written into ``folder``: ROC curves per model, one colour per detector version
    (``roc_<model>.png``); sigma90/mu90 vs true energy per detector version, one colour per
    model and per energy baseline, the calibrated sum and the linear calibration
    (``resolution_<version>.png``)."""
    from calogeo.predictions import BASELINES

    written = []
    for model in dict.fromkeys(o.model for o in outcomes):
        results = {
            o.version: o.results["roc_auc"]
            for o in outcomes
            if o.model == model and "roc_auc" in o.results
        }
        if results:
            title = f"{model}: ROC on each detector version"
            written.append(_save_overlay(results, "roc", None, title, folder / f"roc_{model}.png"))
    for version in dict.fromkeys(o.version for o in outcomes):
        here = [o for o in outcomes if o.version == version and "resolution" in o.results]
        results = {o.model: o.results["resolution"] for o in here}
        for name, label in BASELINES.items():
            result = next((o.baselines[name] for o in here if name in o.baselines), None)
            if result is not None:
                results[label] = result
        if results:
            title = f"{version}: models and energy baselines"
            path = folder / f"resolution_{slug(version)}.png"
            written.append(_save_overlay(results, "energy", "sigma90_over_mu90", title, path))
    return written


def _save_overlay(
    results: dict[str, Any], table: str, column: str | None, title: str, path: Path
) -> Path:
    """One metric's results overlaid (the plot drawing ``table``, ``column`` of it), saved."""
    from calogeo.plotting import plot_overlay, save_figure

    first = next(iter(results.values()))
    index = next((i for i, p in enumerate(first.plots) if p.get("table") == table), 0)
    figure = plot_overlay(results, index, column)
    figure.axes[0].set_title(title, fontsize=10)
    save_figure(figure, path)
    return path


def slug(text: str) -> str:
    """``text`` as a file-name part: runs of anything but letters, digits, ``.-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_")


def say(text: str) -> None:
    """Progress on stderr."""
    print(text, file=sys.stderr, flush=True)
