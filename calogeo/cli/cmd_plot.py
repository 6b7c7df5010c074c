"""``calogeo plot``: figures from shower and predictions files.

calogeo plot layers SHOWERS.h5 [--event N] -o layers.png
calogeo plot observables A.h5 B.h5 ... [--labels a,b] -o observables.png
calogeo plot roc PRED.h5 ... [--labels] -o roc.png
calogeo plot resolution PRED.h5 ... [--labels] [--bins] -o resolution.png
calogeo plot validation DIR [-o OUTDIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from calogeo.errors import CalogeoError

ORDER = 70


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="draw layer images, observable histograms, ROC and resolution curves",
        description="Draw figures from shower files (per-layer images, observable histograms "
        "with ratio panels) or predictions files (ROC curves, bias and resolution vs energy "
        "with the a/sqrt(E) (+) b (+) c/E fit). Several files are overlaid.",
    )
    modes = parser.add_subparsers(dest="mode", metavar="MODE", required=True)

    layers = modes.add_parser("layers", help="per-layer images of one event or the average")
    layers.add_argument("file", type=Path, metavar="SHOWERS.h5")
    layers.add_argument(
        "--event", type=int, default=None, help="event index (default: the average over all events)"
    )
    layers.add_argument(
        "--max-layers",
        type=int,
        default=12,
        help="at most this many layers, spread over the depth (default 12)",
    )
    layers.add_argument(
        "--max-events",
        type=int,
        default=None,
        metavar="N",
        help="average over the first N events only",
    )

    obs = modes.add_parser("observables", help="observable histograms, ratio to the first file")
    obs.add_argument("files", nargs="+", type=Path, metavar="SHOWERS.h5")
    obs.add_argument(
        "--observables",
        default="",
        metavar="NAME[,NAME]",
        help="observables to draw (default: all of the observable table)",
    )
    obs.add_argument("--max-events", type=int, default=None, metavar="N")
    obs.add_argument(
        "--bins",
        type=int,
        default=None,
        help="histogram bins (default: each observable's own binning, see calogeo.binning)",
    )

    roc = modes.add_parser("roc", help="ROC curves of predictions files")
    roc.add_argument("files", nargs="+", type=Path, metavar="PRED.h5")

    res = modes.add_parser("resolution", help="bias and resolution vs true energy, with fit")
    res.add_argument("files", nargs="+", type=Path, metavar="PRED.h5")
    res.add_argument(
        "--bins", default=None, metavar="N|E1,E2,...", help="energy bins: a count or edges in GeV"
    )
    res.add_argument(
        "--fit",
        default="sigma90_over_mu90",
        choices=("sigma90_over_mu90", "rms_resolution", "iqr_resolution"),
        help="resolution estimator to fit (default sigma90_over_mu90)",
    )

    valid = modes.add_parser(
        "validation",
        help="redraw the validation suite's figures from DIR/validation.json",
        description="Redraw every figure of a validation suite written by calogeo evaluate "
        "(DIR/validation.json) as PNGs, from the JSON alone: no shower files needed.",
    )
    valid.add_argument("directory", type=Path, metavar="DIR")
    valid.add_argument(
        "-o", "--output", type=Path, default=None, metavar="OUTDIR", help="default: DIR"
    )

    for mode in (layers, obs, roc, res):
        mode.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.png")
        if mode is not layers:
            mode.add_argument(
                "--labels",
                default="",
                metavar="A,B,...",
                help="legend labels, one per file (default: file names)",
            )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calogeo.outputs import check_output, os_error_reason
    from calogeo.plotting import save_figure

    if args.mode == "validation":
        return _validation(args)
    check_output(args.output, getattr(args, "files", None) or [args.file])
    check_image_format(args.output)
    if getattr(args, "max_events", None) is not None and args.max_events < 1:
        msg = f"--max-events {args.max_events}: must be at least 1"
        raise CalogeoError(msg)
    if getattr(args, "max_layers", 1) < 1:
        msg = f"--max-layers {args.max_layers}: must be at least 1"
        raise CalogeoError(msg)
    figure = {
        "layers": _layers,
        "observables": _observables,
        "roc": _roc,
        "resolution": _resolution,
    }[args.mode](args)
    try:
        save_figure(figure, args.output)
    except OSError as exc:
        msg = f"-o {args.output}: cannot write: {os_error_reason(exc)}"
        raise CalogeoError(msg) from exc
    print(f"wrote {args.output}")
    return 0


def check_image_format(path: Path) -> None:
    """Refuse an output whose suffix names no image format matplotlib can write."""
    from matplotlib.backend_bases import FigureCanvasBase

    known = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in known:
        msg = (
            f"-o {path}: {'no file suffix' if not suffix else f'.{suffix} is not an image format'}"
            f"; use one of {', '.join('.' + k for k in sorted(known))}"
        )
        raise CalogeoError(msg)


def _labels(args: argparse.Namespace) -> list[str]:
    from calogeo.cli.cmd_evaluate import sample_labels

    return sample_labels(args.files, args.labels)


def _read(path: Path, max_events: int | None) -> Any:
    from calogeo.io import open_showers

    with open_showers(path) as source:
        showers = source.read(0, max_events)
    if len(showers) == 0:
        msg = f"{path}: the file holds no events"
        raise CalogeoError(msg)
    return showers


def _layers(args: argparse.Namespace) -> Any:
    from calogeo.plotting import plot_layers

    showers = _read(args.file, args.max_events)
    try:
        return plot_layers(showers, args.event, args.max_layers)
    except IndexError as exc:
        msg = f"--event {args.event}: {exc}"
        raise CalogeoError(msg) from exc


def _observables(args: argparse.Namespace) -> Any:
    from calogeo.binning import observable_binning
    from calogeo.cli.cmd_evaluate import chosen_observables
    from calogeo.observables import cached_table, is_per_layer
    from calogeo.plotting import plot_observable_histograms

    samples = {}
    geometry = None
    for label, path in zip(_labels(args), args.files, strict=True):
        showers = _read(path, args.max_events)
        if geometry is not None and showers.geometry != geometry:
            msg = (
                f"{path}: showers on geometry {showers.geometry.name!r}, but {args.files[0]} "
                f"is on {geometry.name!r}; observables are compared on one geometry"
            )
            raise CalogeoError(msg)
        geometry = showers.geometry
        chosen = chosen_observables(args.observables, geometry) or []
        per_layer = True if any(map(is_per_layer, chosen)) else None
        samples[label] = cached_table(showers, per_layer=per_layer)
    known = list(next(iter(samples.values())))
    names = chosen or known
    unknown = [n for n in names if n not in known]
    if unknown:
        msg = f"--observables: unknown {', '.join(unknown)}; known: {', '.join(known)}"
        raise CalogeoError(msg)
    reference, other = samples[next(iter(samples))], list(samples.values())[-1]
    assert geometry is not None  # argparse requires at least one file
    edges = {
        n: observable_binning(n, reference[n], other[n], geometry, 0.0, args.bins).edges
        for n in names
    }
    return plot_observable_histograms(samples, names, edges=edges)


def _validation(args: argparse.Namespace) -> int:
    """Every figure of DIR/validation.json, written as PNGs into -o (default DIR)."""
    from calogeo.metric import MetricResult
    from calogeo.plotting_validation import save_validation_figures

    source = args.directory / "validation.json" if args.directory.is_dir() else args.directory
    if not source.is_file():
        msg = f"{args.directory}: no validation.json (write one with calogeo evaluate)"
        raise CalogeoError(msg)
    try:
        result = MetricResult.from_json(source.read_text(encoding="utf-8"))
    except (ValueError, KeyError) as exc:
        msg = f"{source}: not a validation result ({exc})"
        raise CalogeoError(msg) from exc
    if not result.meta.get("figures"):
        msg = f"{source}: the result describes no validation figures"
        raise CalogeoError(msg)
    paths = save_validation_figures(result, args.output or source.parent)
    print(f"wrote {len(paths)} figures to {args.output or source.parent}")
    return 0


def _predictions(args: argparse.Namespace, need: str) -> dict[str, Any]:
    from calogeo.predictions import Predictions

    loaded = {}
    for label, path in zip(_labels(args), args.files, strict=True):
        predictions = Predictions.load(path)
        if not getattr(predictions, f"has_{need}"):
            msg = f"{path}: the predictions hold no {need} outputs"
            raise CalogeoError(msg)
        loaded[label] = predictions
    return loaded


def _roc(args: argparse.Namespace) -> Any:
    from calogeo.plotting import plot_overlay
    from calogeo.registry import get_metric

    metric = get_metric("roc_auc")()
    results = {}
    for label, predictions in _predictions(args, "classification").items():
        result = metric.compute(predictions)
        results[f"{label} (AUC {result.values['auc']:.4f})"] = result
    figure = plot_overlay(results, 0)
    ax = figure.axes[0]
    ax.plot([0, 1], [0, 1], ":", color="0.6", lw=0.8)
    ax.set_title("ROC curves")
    return figure


def _resolution(args: argparse.Namespace) -> Any:
    from calogeo.cli.cmd_evaluate import parse_bins
    from calogeo.plotting import plot_energy_performance
    from calogeo.registry import get_metric

    bins = parse_bins(args.bins)
    bias_metric = get_metric("bias")(energy_bins=bins)
    resolution_metric = get_metric("resolution")(fit=args.fit, energy_bins=bins)
    bias, resolution = {}, {}
    for label, predictions in _predictions(args, "regression").items():
        bias[label] = bias_metric.compute(predictions)
        resolution[label] = resolution_metric.compute(predictions)
    return plot_energy_performance(bias, resolution)
