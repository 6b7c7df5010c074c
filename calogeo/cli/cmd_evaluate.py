"""``calogeo evaluate``: metrics of predictions, of a model on test showers, or of generated
against reference showers; a JSON summary, one JSON per metric and PNG plots.

    calogeo evaluate PREDICTIONS.h5 -o DIR               classification / regression
    calogeo evaluate MODEL.pt --data TEST.h5 -o DIR      the same, predicting first
    calogeo evaluate REFERENCE.h5 GENERATED.h5 -o DIR    fidelity (same geometry)
    calogeo evaluate REFERENCE.h5 GEN_A.h5 GEN_B.h5 ... -o DIR    the validation suite

Everything is written to a temporary folder next to DIR and moved in at the end, so an error or
Ctrl-C leaves DIR as it was.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calogeo.cli._options import cell_threshold_gev
from calogeo.distributed.cluster import add_cluster_options, cluster_address
from calogeo.errors import CalogeoError

if TYPE_CHECKING:
    import numpy as np

ORDER = 60
OBSERVABLES_PER_PAGE = 16


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="compute metrics from predictions, a model or two shower files",
        description="Compute metrics and write DIR/summary.json, DIR/<metric>.json and PNG "
        "plots. One predictions file (from a model's predict): classification and/or "
        "regression metrics, whichever apply. A model checkpoint (.pt) with --data: predict, "
        "then the same. Two shower files on the same geometry: fidelity metrics of the second "
        "(generated) against the first (reference). More shower files: the validation suite "
        "of every generated file against the first, overlaid (one PNG per figure).",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="PREDICTIONS.h5 | MODEL.pt | REFERENCE.h5 GENERATED.h5 [GENERATED.h5 ...]",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    parser.add_argument(
        "--data", type=Path, metavar="TEST.h5", help="test showers for a model checkpoint"
    )
    parser.add_argument(
        "--metrics",
        default="",
        metavar="NAME[,NAME]",
        help="metrics to compute (default: every registered one that applies)",
    )
    parser.add_argument(
        "--bins",
        default=None,
        metavar="N|E1,E2,...",
        help="energy bins: a count (log-spaced over a range > x10) or edges in GeV",
    )
    parser.add_argument(
        "--observables",
        default="",
        metavar="NAME[,NAME]",
        help="fidelity: observables to compare and draw (default: the whole observable table); "
        "per-layer ones as BASE[LAYER] with LAYER an index, a layer name or *, BASE one of "
        "e_layer, e_frac, x_mean_mm, y_mean_mm, x_width_mm, y_width_mm, e_ratio, occupancy "
        "(e.g. e_layer[3], x_mean_mm[EMB2], occupancy[*])",
    )
    parser.add_argument(
        "--per-layer",
        action="store_true",
        default=None,
        help="fidelity: add the per-layer observables of every layer (default: only for "
        "geometries of at most 8 layers)",
    )
    threshold = parser.add_mutually_exclusive_group()
    threshold.add_argument(
        "--threshold-mev",
        type=float,
        default=None,
        metavar="E",
        help="fidelity: cell threshold in MeV of the stored (visible) energy; cells below it are "
        "zeroed before the observables, as the CaloChallenge evaluation does with its 0.5 keV "
        "silicon read-out threshold (0.0005 MeV visible) (default 0)",
    )
    threshold.add_argument(
        "--threshold-mip",
        type=float,
        default=None,
        metavar="N",
        help="fidelity: cell threshold in MIPs of each layer (a MIP's visible energy at normal "
        "incidence)",
    )
    parser.add_argument(
        "--range",
        action="append",
        default=[],
        metavar="NAME=LO:HI[:BINS]",
        help="fidelity: histogram range of an observable or per-layer base (all layers) instead "
        "of its default binning, e.g. x_mean_mm=-30:30:100 (repeatable)",
    )
    parser.add_argument(
        "--cell-centres",
        default="centroid",
        choices=("centroid", "reference"),
        help="fidelity: where a cell's energy sits for centres and widths: its centroid "
        "(default) or the published convention of the layout (CaloChallenge r-alpha: the "
        "bin-midpoint radius at the alpha-bin centre, as the challenge's evaluation code)",
    )
    parser.add_argument(
        "--empty-layers",
        default="zero",
        choices=("zero", "nan"),
        help="fidelity: centre, width and E_ratio of a layer without energy: 0 (default, as "
        "the CaloChallenge code) or undefined (left out of the histograms)",
    )
    parser.add_argument(
        "--labels",
        default="",
        metavar="REF,GEN[,GEN]",
        help="validation suite: sample names, one per shower file (default: the file names)",
    )
    parser.add_argument(
        "--energies",
        default="20,50,80",
        metavar="E1,E2,...",
        help="validation suite: fixed incident energies in GeV for the visible-energy and "
        "hit-count distributions and mu90, sigma90/mu90 (default 20,50,80)",
    )
    parser.add_argument(
        "--energy-tolerance",
        type=float,
        default=0.05,
        metavar="F",
        help="validation suite: events within F x E of each fixed energy are used (default "
        "0.05; 0 for files generated at exactly those energies)",
    )
    parser.add_argument(
        "--max-events",
        type=int,
        default=None,
        metavar="N",
        help="use at most N events of each shower file",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="device for models and network-based metrics (default auto)",
    )
    add_cluster_options(parser)  # fidelity: per-partition histograms and moments, reduced
    parser.set_defaults(func=run)


def parse_bins(text: str | None) -> int | np.ndarray | None:
    """``--bins``: None, a positive count, or increasing edges in GeV."""
    import numpy as np

    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if len(values) == 1 and values[0] >= 1 and values[0].is_integer():
        return int(values[0])
    if len(values) >= 2 and np.all(np.diff(values) > 0):
        return np.asarray(values)
    msg = f"--bins {text!r}: expected a bin count or increasing edges in GeV (e.g. 1,10,100)"
    raise CalogeoError(msg)


def choose_metrics(names: str, kinds: tuple[str, ...]) -> list[type]:
    """Metric classes named in ``--metrics`` (checked against ``kinds``), or all of those kinds."""
    from calogeo.registry import get_metric, list_metrics

    if not names:
        return [entry.load() for entry in list_metrics() if entry.kind in kinds]
    chosen = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        cls = get_metric(name)
        if cls.kind not in kinds:
            msg = (
                f"--metrics {name}: a {cls.kind} metric cannot be computed from these inputs "
                f"(they allow {' or '.join(kinds)} metrics)"
            )
            raise CalogeoError(msg)
        chosen.append(cls)
    return chosen


def parse_ranges(items: list[str]) -> dict[str, tuple[float, float, int | None]]:
    """``--range NAME=LO:HI[:BINS]`` options as {name: (lo, hi, bins or None)}."""
    out: dict[str, tuple[float, float, int | None]] = {}
    for item in items:
        name, _, text = item.partition("=")
        parts = text.split(":")
        try:
            lo, hi = float(parts[0]), float(parts[1])
            bins = int(parts[2]) if len(parts) == 3 else None
            ok = len(parts) in (2, 3) and bool(name.strip()) and hi > lo and (bins or 1) > 0
        except (ValueError, IndexError):
            ok = False
        if not ok:
            msg = f"--range {item!r}: expected NAME=LO:HI[:BINS] with LO < HI, e.g. x_mean_mm=-30:30:100"
            raise CalogeoError(msg)
        out[name.strip()] = (lo, hi, bins)
    return out


def chosen_observables(text: str, geometry: Any) -> list[str] | None:
    """``--observables`` as table columns (per-layer and legacy names resolved), or None."""
    from calogeo.observables import resolve_names

    names = [n.strip() for n in text.split(",") if n.strip()]
    try:
        return resolve_names(names, geometry) or None
    except ValueError as exc:
        msg = f"--observables: {exc}"
        raise CalogeoError(msg) from exc


def build(cls: type, **options: Any) -> Any:
    """An instance of metric ``cls`` given the options its constructor accepts."""
    accepted = dict(inspect.signature(cls).parameters)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    if takes_any:  # options forwarded to a base class: look one level up
        accepted = {**inspect.signature(cls.__mro__[1]).parameters, **accepted}
    return cls(**{k: v for k, v in options.items() if k in accepted and v is not None})


def run(args: argparse.Namespace) -> int:
    from calogeo.io import open_showers
    from calogeo.outputs import AtomicOutput
    from calogeo.predictions import Predictions, is_predictions_file

    address = cluster_address(args)
    if address is not None:
        from calogeo.cli import _distributed as commands

        return commands.evaluate(args, address)
    bins = parse_bins(args.bins)
    first = args.inputs[0]
    for path in [*args.inputs, *([args.data] if args.data else [])]:
        if not path.exists():
            msg = f"{path}: no such file"
            raise CalogeoError(msg)
    if args.max_events is not None and args.max_events < 1:
        msg = f"--max-events {args.max_events}: must be at least 1"
        raise CalogeoError(msg)
    if args.device.startswith("cuda"):
        from calogeo.device import resolve_device

        resolve_device(args.device)  # refuses a missing GPU, as resample and train do
    with AtomicOutput(args.output, [*args.inputs, args.data], directory=True) as staging:
        if len(args.inputs) > 2:
            showers = [_read(open_showers, p, args.max_events) for p in args.inputs]
            summary = evaluate_samples(showers, args, staging)
        elif len(args.inputs) == 2:
            reference = _read(open_showers, args.inputs[0], args.max_events)
            generated = _read(open_showers, args.inputs[1], args.max_events)
            summary = evaluate_fidelity(reference, generated, args, bins, staging)
        else:
            if first.suffix == ".pt":
                predictions = _predict(first, args)
                predictions.save(staging / "predictions.h5")
            elif is_predictions_file(first):
                predictions = Predictions.load(first)
            else:
                msg = (
                    f"{first}: not a predictions file; give two shower files (reference, "
                    f"generated) for fidelity metrics, or a model .pt with --data"
                )
                raise CalogeoError(msg)
            summary = evaluate_predictions(predictions, args, bins, staging)
        summary["inputs"] = [str(p) for p in args.inputs]
        _write_json(staging / "summary.json", summary)
    _print_summary(summary, args.output)
    return 0


def _read(open_showers: Any, path: Path, max_events: int | None) -> Any:
    """Events of a shower file; a file without events is refused."""
    with open_showers(path) as source:
        showers = source.read(0, max_events)
    if len(showers) == 0:
        msg = f"{path}: the file holds no events"
        raise CalogeoError(msg)
    return showers


def _predict(path: Path, args: argparse.Namespace) -> Any:
    from calogeo.io import open_showers

    if args.data is None:
        msg = f"{path}: a model checkpoint needs --data TEST.h5 to predict on"
        raise CalogeoError(msg)
    from calogeo.checkpoint import load_model

    model = load_model(path)
    showers = _read(open_showers, args.data, args.max_events)
    predictions = model.predict(showers, device=args.device)
    predictions.model = predictions.model or str(getattr(model, "name", path.stem))
    predictions.geometry = predictions.geometry or showers.geometry.name
    return predictions


def evaluate_predictions(
    predictions: Any, args: argparse.Namespace, bins: Any, out: Path
) -> dict[str, Any]:
    """Every applicable classification / regression metric, written into ``out``."""
    kinds = tuple(
        kind
        for kind, ok in (
            ("classification", predictions.has_classification),
            ("regression", predictions.has_regression),
        )
        if ok
    )
    if not kinds:
        msg = f"{args.inputs[0]}: the predictions hold neither scores with labels nor energies"
        raise CalogeoError(msg)
    metrics = [
        build(cls, energy_bins=bins, device=args.device)
        for cls in choose_metrics(args.metrics, kinds)
    ]
    results = _compute(metrics, lambda m: m.compute(predictions))
    return _write_results(results, out, {"predictions": predictions.describe()})


def check_fidelity_inputs(reference: Any, generated: Any, ref_path: Path, gen_path: Path) -> None:
    """Refuse two shower files that fidelity metrics cannot compare: on different geometries
    (named by file, also when both geometries carry the same name) or without any energy."""
    import numpy as np

    a, b = reference.geometry, generated.geometry
    if a != b:
        if a.name == b.name:
            what = (
                f"two different geometries both named {a.name!r} ({a.n_layers} layers of "
                f"{a.n_cells} cells in {ref_path}, {b.n_layers} layers of {b.n_cells} cells "
                f"in {gen_path}, or other differences in their specs)"
            )
        else:
            what = f"geometry {a.name!r} ({ref_path}) and {b.name!r} ({gen_path})"
        msg = (
            f"{ref_path} and {gen_path} hold showers on {what}; compare showers on the same "
            "geometry (resample one of them first)"
        )
        raise CalogeoError(msg)
    for path, showers in ((ref_path, reference), (gen_path, generated)):
        if not any(bool(np.any(layer)) for layer in showers.layers):
            msg = f"{path}: every cell of its {len(showers)} events is zero; nothing to compare"
            raise CalogeoError(msg)


def evaluate_fidelity(
    reference: Any, generated: Any, args: argparse.Namespace, bins: Any, out: Path
) -> dict[str, Any]:
    """Every fidelity metric of ``generated`` against ``reference``, written into ``out``,
    plus observable histograms and average layer images."""
    from calogeo.binning import observable_binning
    from calogeo.metric import check_same_geometry
    from calogeo.observables import cached_table, is_per_layer
    from calogeo.plotting import plot_layers, plot_observable_histograms, save_figure

    check_fidelity_inputs(reference, generated, args.inputs[0], args.inputs[1])
    check_same_geometry(reference, generated, f"{args.inputs[0]} vs {args.inputs[1]}")
    geometry = reference.geometry
    chosen = chosen_observables(args.observables, geometry)
    threshold_gev = cell_threshold_gev(args, geometry)
    per_layer = True if any(map(is_per_layer, chosen or [])) else args.per_layer
    ranges = parse_ranges(args.range)
    options: dict[str, Any] = {
        "per_layer": per_layer,
        "threshold_gev": threshold_gev,
        "empty_layer": args.empty_layers,
        "cell_centres": args.cell_centres,
    }
    # the one computation of the observables per file: the metrics find it in the cache
    tables = {
        "reference": cached_table(reference, **options),
        "generated": cached_table(generated, **options),
    }
    unknown = [n for n in chosen or [] if n not in tables["reference"]]
    if unknown:
        known = ", ".join(tables["reference"])
        msg = f"--observables: unknown {', '.join(unknown)}; known: {known}"
        raise CalogeoError(msg)
    metrics = [
        build(
            cls,
            energy_bins=bins,
            device=args.device,
            observables=chosen,
            ranges=ranges,
            **options,
            **validation_options(args),
        )
        for cls in choose_metrics(args.metrics, ("fidelity",))
    ]
    results = _compute(metrics, lambda m: m.compute(reference, generated))
    summary = _write_results(
        results,
        out,
        {
            "geometry": geometry.name,
            "reference_events": len(reference),
            "generated_events": len(generated),
            "observables": {
                "cell_threshold_gev": threshold_gev,
                "per_layer": bool(per_layer if per_layer is not None else geometry.n_layers <= 8),
                "empty_layers": args.empty_layers,
                "cell_centres": args.cell_centres,
            },
        },
    )
    # pages of histograms: the named observables, else the event-level ones (per-layer ones
    # are summarised per layer by the histograms metric, and drawn when named)
    names = chosen or [n for n in tables["reference"] if not is_per_layer(n)]
    edges = {
        name: observable_binning(
            name,
            tables["reference"][name],
            tables["generated"][name],
            geometry,
            threshold_gev,
            ranges=ranges,
        ).edges
        for name in names
    }
    for page, start in enumerate(range(0, len(names), OBSERVABLES_PER_PAGE)):
        page_names = names[start : start + OBSERVABLES_PER_PAGE]
        fig = plot_observable_histograms(tables, page_names, edges=edges)
        save_figure(fig, out / f"observables_{page + 1}.png", tight=False)
    for label, showers in (("reference", reference), ("generated", generated)):
        save_figure(
            plot_layers(showers, title=f"{label}: average of {len(showers)} events"),
            out / f"layers_{label}.png",
            tight=False,  # laid out by matplotlib's constrained layout
        )
    return summary


def validation_options(args: argparse.Namespace) -> dict[str, Any]:
    """Options of the validation suite: sample labels, fixed energies and their tolerance."""
    try:
        energies = [float(e) for e in args.energies.split(",") if e.strip()]
    except ValueError:
        energies = []
    if not energies or not all(math.isfinite(e) and e > 0 for e in energies):
        msg = f"--energies {args.energies!r}: expected positive energies in GeV, e.g. 20,50,80"
        raise CalogeoError(msg)
    if not (math.isfinite(args.energy_tolerance) and args.energy_tolerance >= 0):
        msg = f"--energy-tolerance {args.energy_tolerance}: expected a number >= 0"
        raise CalogeoError(msg)
    return {
        "labels": sample_labels(args.inputs, args.labels, "--labels"),
        "energies": energies,
        "energy_tolerance": args.energy_tolerance,
    }


def evaluate_samples(showers: list[Any], args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The validation suite of every generated sample (``showers[1:]``) against the reference
    (``showers[0]``), written into ``out`` with one PNG per figure."""
    from calogeo.observables import is_per_layer
    from calogeo.registry import get_metric

    chosen = [n.strip() for n in args.metrics.split(",") if n.strip()]
    if any(name != "validation" for name in chosen):
        msg = (
            f"--metrics {args.metrics}: with {len(showers) - 1} generated files only the "
            f"validation suite is computed; give one generated file for the other metrics"
        )
        raise CalogeoError(msg)
    geometry = showers[0].geometry
    observables = chosen_observables(args.observables, geometry)
    options = validation_options(args)
    labels = options["labels"]
    metric = build(
        get_metric("validation"),
        per_layer=True if any(map(is_per_layer, observables or [])) else args.per_layer,
        threshold_gev=cell_threshold_gev(args, geometry),
        empty_layer=args.empty_layers,
        cell_centres=args.cell_centres,
        **options,
    )
    generated = dict(zip(labels[1:], showers[1:], strict=True))
    result = _compute([metric], lambda m: m.compute_many(showers[0], generated, labels[0]))
    return _write_results(
        result,
        out,
        {
            "geometry": geometry.name,
            "samples": labels,
            "events": {label: len(s) for label, s in zip(labels, showers, strict=True)},
        },
    )


def _compute(metrics: list[Any], func: Any) -> list[Any]:
    import numpy as np
    from tqdm import tqdm

    results = []
    with tqdm(metrics, desc="metrics", unit="metric", disable=not sys.stderr.isatty()) as bar:
        for metric in bar:
            bar.set_postfix_str(metric.name)
            try:
                results.append(func(metric))
            except (
                ValueError,
                ZeroDivisionError,
                FloatingPointError,
                np.linalg.LinAlgError,
            ) as exc:
                msg = f"metric {metric.name!r}: {exc}"
                raise CalogeoError(msg) from exc
    return results


def _write_results(results: list[Any], out: Path, context: dict[str, Any]) -> dict[str, Any]:
    from calogeo.plotting import plot_metric, save_figure
    from calogeo.plotting_validation import save_validation_figures

    summary: dict[str, Any] = {**context, "metrics": {}}
    for result in results:
        result.save(out / f"{result.metric}.json")
        save_validation_figures(result, out)  # the suite's figures (none for other metrics)
        summary["metrics"][result.metric] = {
            "kind": result.kind,
            "values": result.to_dict()["values"],
        }
        for index in range(len(result.plots)):
            suffix = "" if len(result.plots) == 1 else f"_{index + 1}"
            save_figure(plot_metric(result, index), out / f"{result.metric}{suffix}.png")
    return summary


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from calogeo.metric import jsonable

    path.write_text(json.dumps(jsonable(data), indent=2) + "\n", encoding="utf-8")


def _print_summary(summary: dict[str, Any], output: Path) -> None:
    for name, entry in summary["metrics"].items():
        values = ", ".join(
            f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {'n/a' if v is None else v}"
            for k, v in list(entry["values"].items())[:6]
        )
        print(f"{name:20s} {values}")
    print(f"\nwrote {output}/summary.json and plots")


def sample_labels(paths: list[Path], text: str, flag: str = "--labels") -> list[str]:
    """Names of the samples in ``paths``: ``text`` split at commas (one per file), else the
    file stems (the full paths where stems repeat)."""
    labels = [s.strip() for s in text.split(",")] if text else []
    if labels and (len(labels) != len(paths) or len(set(labels)) < len(labels) or "" in labels):
        msg = f"{flag}: {len(labels)} labels for {len(paths)} files (distinct, non-empty)"
        raise CalogeoError(msg)
    names = [p.stem for p in paths]
    if len(set(names)) < len(names):
        names = [str(p) for p in paths]
    return labels or names
