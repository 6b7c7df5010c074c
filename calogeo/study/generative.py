"""The generative comparison, the fast-simulation counterpart of ``calogeo demo``: simulate a
reference on one geometry, train generative models there, generate showers at the reference's
energies, validate each against the reference and tabulate (``calogeo demo-generative``).

Everything goes through the registries: the reference comes from the ``gflash`` simulator, the
models and metrics are whatever the plugins registered. The validation is one function,
:func:`validate`, that takes the reference and any number of generated samples; it computes the
two-sample fidelity metrics of :data:`METRICS` for each sample with cells below
``threshold_mip`` MIPs of each layer (:func:`calogeo.observables.mip_energy_gev`) removed, and
writes their JSON and figures. The table (:func:`comparison_rows`) reads from its results:
classifier AUC, FPD, separation powers (n_hits, visible energy, mean over all observables),
response and resolution ratios (mean over incident-energy bins of the generated/reference mean
of E_visible / E_incident and of its relative spread), the largest correlation-matrix difference
(the 12 quantities of the ILD pion study, Buhmann et al. 2021, Fig. 5) and the generation speed.
A model with a post-processor (the BIB-AE) is validated twice: as it generates, and without its
post-processor, so the table shows what the post-processor does.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calogeo.errors import CalogeoError
from calogeo.geometry import Geometry
from calogeo.showers import Showers

__all__ = [
    "METRICS",
    "TABLE_COLUMNS",
    "DemoOptions",
    "comparison_rows",
    "generate_timed",
    "run_demo",
    "simulate_reference",
    "train_generative",
    "validate",
]

METRICS = ("histograms", "correlations", "fpd_kpd", "classifier", "response_vs_energy")
"""Registered fidelity metrics the validation computes for every generated sample."""

TABLE_COLUMNS = (
    "model",
    "auc",
    "fpd",
    "sep_n_hits",
    "sep_e_total",
    "sep_mean",
    "response_ratio",
    "resolution_ratio",
    "max_corr_diff",
    "showers_per_s",
)
WITHOUT_POSTPROCESSOR = " without post-processor"
"""Label suffix of the sample a model with a post-processor (the BIB-AE) makes without it: the
decoder alone, without the response calibration, which is fitted on the post-processed output."""


@dataclass
class DemoOptions:
    """What :func:`run_demo` does: ``n_train`` showers of ``particle`` with energies uniform in
    ``energy_gev`` (GeV) to train each of ``models`` (``size`` preset, ``epochs`` if given,
    ``hparams[model]`` overrides), ``n_reference`` independent showers to validate against,
    cells below ``threshold_mip`` MIPs ignored in the validation. The defaults (three epochs,
    the BIB-AE's post-processor three more) keep two models within minutes on two cores;
    ``epochs=None`` trains each model for its preset's epochs."""

    geometry: str = "ild_ahcal"
    particle: str = "pi+"
    energy_gev: tuple[float, float] = (10.0, 100.0)
    models: tuple[str, ...] = ("bibae", "wgan")
    n_train: int = 1500
    n_reference: int = 1000
    size: str = "small"
    epochs: int | None = 3
    hparams: dict[str, dict[str, Any]] = field(default_factory=lambda: {"bibae": {"pp_epochs": 3}})
    threshold_mip: float = 0.5
    device: str = "cpu"
    seed: int = 0


def simulate_reference(
    geometry: Geometry, particle: str, n: int, energy_gev: tuple[float, float], seed: int
) -> Showers:
    """``n`` showers from the registered ``gflash`` simulator, energies uniform in
    ``energy_gev`` (GeV)."""
    from calogeo.registry import get_model

    energies = np.random.default_rng([seed, 7]).uniform(*energy_gev, n)
    return get_model("gflash").build(geometry, seed=seed).generate(energies, particle=particle)


def train_generative(
    name: str,
    train: Showers,
    *,
    size: str = "small",
    epochs: int | None = None,
    device: str = "cpu",
    seed: int = 0,
    checkpoint: Path | None = None,
    progress: bool = False,
    **hparams: Any,
) -> Any:
    """A registered generative model ``name`` built on ``train``'s geometry and trained on it."""
    from calogeo.registry import get_model

    cls = get_model(name)
    if "generate" not in cls.kind:
        msg = f"model {name!r} is not generative (its tasks: {', '.join(cls.kind)})"
        raise CalogeoError(msg)
    model = cls.build(train.geometry, size=size, seed=seed, **hparams)
    model.fit(
        train, progress=progress, device=device, epochs=epochs, seed=seed, checkpoint=checkpoint
    )
    return model


def generate_timed(
    model: Any, reference: Showers, *, device: str = "cpu", seed: int = 1, **options: Any
) -> tuple[Showers, float]:
    """Showers at the reference's incident energies (and particle), and showers per second;
    ``options`` go to ``model.generate``."""
    pdg = reference.labels.get("pdg")
    particle = None
    if pdg is not None and len(getattr(model, "particles", [])) > 1:
        particle = str(int(np.asarray(pdg).ravel()[0]))
    started = time.perf_counter()
    generated = model.generate(
        reference.incident_energy, particle, device=device, seed=seed, **options
    )
    return generated, len(generated) / (time.perf_counter() - started)


def validate(
    reference: Showers,
    generated: Mapping[str, Showers],
    *,
    threshold_mip: float = 0.5,
    out: Path | None = None,
    metrics: Sequence[str] = METRICS,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """{sample label: {metric name: MetricResult}} of every generated sample against
    ``reference`` (all on one geometry); with ``out``, each result's JSON and figures go to
    ``out/<label>/``."""
    from calogeo.observables import mip_energy_gev
    from calogeo.registry import get_metric

    threshold = threshold_mip * mip_energy_gev(reference.geometry)
    results: dict[str, dict[str, Any]] = {}
    for label, sample in generated.items():
        if sample.geometry != reference.geometry:
            msg = (
                f"sample {label!r} is on {sample.geometry.name!r}, not {reference.geometry.name!r}"
            )
            raise CalogeoError(msg)
        results[label] = {}
        for name in metrics:
            cls = get_metric(name)
            options: dict[str, Any] = {"threshold_gev": threshold}
            if name == "classifier":
                options["seed"] = seed
            results[label][name] = cls(**options).compare(reference, sample)
        if out is not None:
            _write(results[label], out / label)
    return results


def _write(results: Mapping[str, Any], folder: Path) -> None:
    from calogeo.plotting import plot_metric, save_figure

    folder.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        result.save(folder / f"{name}.json")
        for index in range(len(result.plots)):
            save_figure(plot_metric(result, index), folder / f"{name}_{index}.png")


def _separation(result: Any, observable: str) -> float:
    rows = result.tables["observables"]
    names = list(rows["observable"])
    return (
        float(rows["separation_power"][names.index(observable)])
        if observable in names
        else math.nan
    )


def _ratios(result: Any) -> tuple[float, float]:
    """Mean over energy bins of generated/reference response mean and relative spread."""
    t = {k: np.asarray(v, dtype=np.float64) for k, v in result.tables["energy"].items()}
    mean_ref, mean_gen = t["response_mean_reference"], t["response_mean_generated"]
    res_ref = t["response_std_reference"] / mean_ref
    res_gen = t["response_std_generated"] / mean_gen
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nanmean(mean_gen / mean_ref)), float(np.nanmean(res_gen / res_ref))


def comparison_rows(
    results: Mapping[str, Mapping[str, Any]], speeds: Mapping[str, float] | None = None
) -> list[dict[str, Any]]:
    """One row per sample with the :data:`TABLE_COLUMNS` (NaN where a metric was not run)."""
    rows = []
    for label, res in results.items():
        row: dict[str, Any] = {"model": label}
        if "classifier" in res:
            row["auc"] = res["classifier"].values["auc"]
        if "fpd_kpd" in res:
            row["fpd"] = res["fpd_kpd"].values["fpd"]
        if "histograms" in res:
            row["sep_n_hits"] = _separation(res["histograms"], "n_hits")
            row["sep_e_total"] = _separation(res["histograms"], "e_total")
            row["sep_mean"] = res["histograms"].values["mean_separation_power"]
        if "response_vs_energy" in res:
            row["response_ratio"], row["resolution_ratio"] = _ratios(res["response_vs_energy"])
        if "correlations" in res:
            row["max_corr_diff"] = res["correlations"].values["max_abs_difference"]
        row["showers_per_s"] = (speeds or {}).get(label, math.nan)
        rows.append({k: row.get(k, math.nan) for k in TABLE_COLUMNS})
    return rows


def run_demo(
    options: DemoOptions, out: Path, log: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """Simulate, train every model, generate, validate; writes into ``out`` the reference and
    generated shower files, checkpoints, ``validation/<model>/`` and ``summary.json``; returns
    the comparison rows."""
    from calogeo.io import write_showers
    from calogeo.registry import get_geometry

    out.mkdir(parents=True, exist_ok=True)
    geometry = get_geometry(options.geometry)
    started = time.perf_counter()
    train = simulate_reference(
        geometry, options.particle, options.n_train, options.energy_gev, options.seed
    )
    reference = simulate_reference(
        geometry, options.particle, options.n_reference, options.energy_gev, options.seed + 1
    )
    write_showers(out / "reference.h5", reference)
    log(
        f"simulated {len(train)} training and {len(reference)} reference showers on {geometry.name}"
    )
    generated: dict[str, Showers] = {}
    speeds: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for name in options.models:
        t0 = time.perf_counter()
        model = train_generative(
            name,
            train,
            size=options.size,
            epochs=options.epochs,
            device=options.device,
            seed=options.seed,
            checkpoint=out / f"{name}.pt",
            **options.hparams.get(name, {}),
        )
        seconds[name] = time.perf_counter() - t0
        generated[name], speeds[name] = generate_timed(model, reference, device=options.device)
        write_showers(out / f"{name}.h5", generated[name])
        log(f"trained {name} in {seconds[name]:.0f} s; generates {speeds[name]:.0f} showers/s")
        if "postprocess" in getattr(model, "generation_options", ()):
            label = f"{name}{WITHOUT_POSTPROCESSOR}"
            generated[label], speeds[label] = generate_timed(
                model, reference, device=options.device, postprocess=False, calibrated=False
            )
    results = validate(
        reference,
        generated,
        threshold_mip=options.threshold_mip,
        out=out / "validation",
        seed=options.seed,
    )
    rows = comparison_rows(results, speeds)
    summary = {
        "options": asdict(options),
        "train_seconds": seconds,
        "total_seconds": time.perf_counter() - started,
        "table": rows,
        "results": {k: {m: r.to_dict() for m, r in v.items()} for k, v in results.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_jsonable))
    return rows


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
