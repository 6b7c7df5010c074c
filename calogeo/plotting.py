"""Figures shared by the command line and users (matplotlib is imported lazily here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from calogeo.geometry import Geometry
from calogeo.metric import plain_log_ticks

if TYPE_CHECKING:
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

__all__ = [
    "overlay",
    "plain_log_ticks",
    "plot_energy_performance",
    "plot_geometry",
    "plot_layers",
    "plot_metric",
    "plot_observable_histograms",
    "plot_overlay",
    "save_figure",
]


def _pyplot() -> Any:
    import matplotlib

    if not os.environ.get("DISPLAY"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | Path, dpi: int = 150, tight: bool = True) -> None:
    """Save ``fig`` atomically (temporary name, then rename) and close it; ``tight`` crops the
    margins (one more drawing pass: not needed for figures laid out by a layout engine or with
    fixed margins)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight" if tight else None)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        _pyplot().close(fig)


def plot_geometry(geometry: Geometry, max_panels: int = 6) -> Figure:
    """Each distinct layer's cells side by side, in Moliere radii of the layer's material,
    on a common scale so that geometries can be compared by eye."""
    from matplotlib.collections import PolyCollection

    plt = _pyplot()
    runs = geometry.layer_runs()[:max_panels]
    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3.6), squeeze=False)
    half = max(
        max(abs(v) for v in geometry.layers[first].layout.extent_mm())
        / geometry.layers[first].material.rm_mm
        for first, _ in runs
    )
    for ax, (first, last) in zip(axes[0], runs, strict=True):
        layer = geometry.layers[first]
        scale = 1.0 / layer.material.rm_mm
        polygons = [p * scale for p in layer.layout.polygons_mm()]
        ax.add_collection(PolyCollection(polygons, facecolor="none", edgecolor="tab:blue", lw=0.4))
        circle = np.linspace(0, 2 * np.pi, 200)
        for radius in (1.0, 2.0):
            ax.plot(radius * np.cos(circle), radius * np.sin(circle), "--", color="tab:red", lw=0.8)
        ax.set_xlim(-half, half)
        ax.set_ylim(-half, half)
        ax.set_aspect("equal")
        label = layer.name if first == last else f"{layer.name}..{geometry.layers[last].name}"
        dx, dy = layer.cell_size_rm()
        ax.set_title(
            f"{label}\n{layer.shape[0]}x{layer.shape[1]}, {dx:.2f}x{dy:.2f} R_M", fontsize=9
        )
        ax.set_xlabel("x [R_M]")
    axes[0][0].set_ylabel("y [R_M]")
    fig.suptitle(f"{geometry.name}: {geometry.title}\n(dashed: 1 and 2 R_M)", fontsize=10)
    fig.tight_layout()
    return fig


# -- showers, observables and metric results --------------------------------------------------

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from calogeo.metric import MetricResult
    from calogeo.showers import Showers

SAMPLE_COLOURS = ("black", "tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple")


def _draw_layer(ax: Axes, layout: object, values: np.ndarray, norm: Normalize, cmap: str) -> object:
    """Draw one layer's cell energies (flat order) in mm; returns the mappable."""
    from matplotlib.collections import PolyCollection

    from calogeo.layout import RectilinearLayout

    if isinstance(layout, RectilinearLayout):
        image = values.reshape(layout.shape)
        masked = np.ma.masked_less_equal(image, 0.0)
        return ax.pcolormesh(
            layout.x_edges_mm, layout.y_edges_mm, masked, norm=norm, cmap=cmap, shading="flat"
        )
    pieces = layout.pieces()  # type: ignore[attr-defined]
    polygons = [pieces.vertices[i, : pieces.n_vertices[i]] for i in range(len(pieces))]
    cell_values = np.ma.masked_less_equal(values[pieces.cell], 0.0)
    collection = PolyCollection(polygons, array=cell_values, cmap=cmap, norm=norm, lw=0)
    ax.add_collection(collection)
    ax.autoscale_view()
    return collection


def plot_layers(
    showers: Showers, event: int | None = None, max_layers: int = 12, title: str = ""
) -> Figure:
    """Energy per cell of every layer (mm axes, log colour scale in GeV): one event, or the
    average over all events when ``event`` is None. Deep stacks show ``max_layers`` layers
    spread over the depth."""
    from matplotlib.colors import LogNorm

    plt = _pyplot()
    geometry = showers.geometry
    if event is None:
        images = [layer.mean(axis=0, dtype=np.float64) for layer in showers.layers]
        what = f"average of {len(showers)} events"
    else:
        if not -len(showers) <= event < len(showers):
            msg = f"event {event} is out of range (the file has {len(showers)} events)"
            raise IndexError(msg)
        images = [layer[event].astype(np.float64) for layer in showers.layers]
        what = f"event {event}, E = {showers.incident_energy[event]:.3g} GeV"
    chosen = np.unique(np.linspace(0, geometry.n_layers - 1, min(max_layers, geometry.n_layers)))
    chosen = chosen.round().astype(int)
    positive = np.concatenate([im.ravel() for im in images])
    positive = positive[positive > 0]
    if len(positive) == 0:
        positive = np.array([1e-6, 1.0])
    norm = LogNorm(vmin=max(positive.min(), positive.max() * 1e-6), vmax=positive.max())
    cols = min(4, len(chosen))
    rows = int(np.ceil(len(chosen) / cols))
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols, 3.3 * rows), squeeze=False, layout="constrained"
    )
    mappable = None
    for ax, i in zip(axes.ravel(), chosen, strict=False):
        layer = geometry.layers[i]
        mappable = _draw_layer(ax, layer.layout, images[i].ravel(), norm, "viridis")
        x0, x1, y0, y1 = layer.layout.extent_mm()
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(
            f"{layer.name} ({geometry.x0_edges[i, 0]:.1f}-{geometry.x0_edges[i, 1]:.1f} X0)",
            fontsize=9,
        )
        ax.set_xlabel("x [mm]")
        ax.set_ylabel("y [mm]")
        ax.set_facecolor("0.92")
    for ax in axes.ravel()[len(chosen) :]:
        ax.set_visible(False)
    fig.colorbar(mappable, ax=axes.ravel().tolist(), label="cell energy [GeV]", shrink=0.9)
    fig.suptitle(title or f"{geometry.name}: {what}", fontsize=11)
    return fig


def ratio_panel_axes(
    fig: Figure,
    n_panels: int,
    columns: int,
    margins_in: tuple[float, float, float, float],
    space: tuple[float, float],
) -> list[tuple[Axes, Axes]]:
    """(main, ratio) axes pairs for ``n_panels`` panels in ``columns`` columns of ``fig``, each
    a main panel over a ratio panel a third its height sharing its x axis. ``margins_in``:
    left, right, bottom, top margins in inches (fixed, so a figure saves without cropping);
    ``space``: the gridspec's (hspace, wspace)."""
    width, height = fig.get_size_inches()
    left, right, bottom, top = margins_in
    rows = max(1, -(-n_panels // columns))
    outer = fig.add_gridspec(
        rows,
        columns,
        hspace=space[0],
        wspace=space[1],
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
    )
    pairs = []
    for k in range(n_panels):
        cell = outer[divmod(k, columns)].subgridspec(2, 1, height_ratios=[3, 1], hspace=0.05)
        main = fig.add_subplot(cell[0])
        pairs.append((main, fig.add_subplot(cell[1], sharex=main)))
    return pairs


def plot_observable_histograms(
    samples: dict[str, dict[str, np.ndarray]],
    names: list[str] | None = None,
    n_bins: int = 30,
    columns: int = 4,
    edges: dict[str, np.ndarray] | None = None,
) -> Figure:
    """Normalised histograms of observables (:func:`calogeo.observables.table` columns) for
    several samples, each with a ratio panel to the first sample (the reference); bins from
    ``edges`` (e.g. :func:`calogeo.binning.observable_binning`) where given, else ``n_bins``
    over the 0.1-99.9% quantile range; values outside are counted in the edge bins."""
    from calogeo.observables import unit_of

    plt = _pyplot()
    labels = list(samples)
    reference = samples[labels[0]]
    names = names or list(reference)
    rows = int(np.ceil(len(names) / columns))
    fig = plt.figure(figsize=(3.6 * columns, 3.6 * rows))
    pairs = ratio_panel_axes(fig, len(names), columns, (0.7, 0.15, 0.55, 0.3), (0.45, 0.35))
    for k, (name, (top, bottom)) in enumerate(zip(names, pairs, strict=True)):
        finite = [v[name][np.isfinite(v[name])] for v in samples.values()]
        pooled = np.concatenate(finite)
        if len(pooled) == 0:
            top.set_title(f"{name}: undefined", fontsize=8)
            continue
        if edges is not None and name in edges:
            bins = np.asarray(edges[name], dtype=np.float64)
            lo, hi = bins[0], bins[-1]
        else:
            lo, hi = np.quantile(pooled, [0.001, 0.999])
            if hi <= lo:
                lo, hi = lo - 0.5, hi + 0.5
            bins = np.linspace(lo, hi, n_bins + 1)
        hists = []
        for j, (label, values) in enumerate(zip(labels, finite, strict=True)):
            h = np.histogram(np.clip(values, lo, hi), bins)[0].astype(np.float64)
            h = h / max(h.sum(), 1.0) / np.diff(bins)
            hists.append(h)
            top.stairs(
                h,
                bins,
                color=SAMPLE_COLOURS[j % 6],
                lw=1.2,
                label=label,
                fill=j == 0,
                alpha=0.25 if j == 0 else 1.0,
            )
            if j > 0:
                with np.errstate(divide="ignore", invalid="ignore"):
                    bottom.stairs(h / hists[0], bins, color=SAMPLE_COLOURS[j % 6], lw=1.2)
        if lo > 0 and len(bins) > 2 and np.allclose(bins[1:] / bins[:-1], bins[1] / bins[0]):
            top.set_xscale("log")  # log-spaced bins (energies)
        bottom.axhline(1.0, color="0.4", lw=0.8)
        bottom.set_ylim(0.0, 2.0)
        bottom.set_yticks([0.5, 1.0, 1.5])
        unit = unit_of(name)
        bottom.set_xlabel(f"{name} [{unit}]" if unit else name, fontsize=8)
        bottom.set_ylabel("ratio", fontsize=7)
        top.set_ylabel("normalised", fontsize=7)
        top.tick_params(labelbottom=False, labelsize=7)
        bottom.tick_params(labelsize=7)
        if k == 0:
            top.legend(fontsize=7, frameon=False)
    return fig


def plot_metric(result: MetricResult, index: int = 0) -> Figure:
    """One plot of a metric result, full size."""
    plt = _pyplot()
    spec = result.plots[index]
    if spec.get("type") == "matrix":
        fig, ax = plt.subplots(figsize=(7.5, 6.5))
    elif spec.get("type") == "bar":
        n = len(result.tables[spec["table"]][spec["x"]])
        fig, ax = plt.subplots(figsize=(6.5, max(3.0, 0.16 * n + 1.0)))
    else:
        fig, ax = plt.subplots(figsize=(6.0, 4.5))
    result.plot(ax, index)
    fig.tight_layout()
    return fig


def overlay(
    ax: Axes, results: dict[str, MetricResult], index: int = 0, column: str | None = None
) -> Axes:
    """Draw plot ``index`` of one metric computed for several inputs (e.g. models) on ``ax``,
    labelled by the dict keys; ``column`` picks one y column when the plot has several."""
    for j, (label, result) in enumerate(results.items()):
        spec = result.plots[index]
        ys = spec["y"] if column is None else [column]
        errors = spec.get("yerr") or [None] * len(spec["y"])
        x = result.column(spec["table"], spec["x"])
        colour = SAMPLE_COLOURS[(j + 1) % len(SAMPLE_COLOURS)]
        for y_name in ys:
            y = result.column(spec["table"], y_name)
            err_name = errors[spec["y"].index(y_name)]
            if spec.get("type") == "errorbar":
                yerr = None if err_name is None else result.column(spec["table"], err_name)
                ax.errorbar(x, y, yerr=yerr, fmt="o", ms=4, capsize=2, color=colour, label=label)
            else:
                ax.plot(x, y, color=colour, label=label)
        for curve in spec.get("curves", []):
            ax.plot(
                result.column(curve["table"], curve["x"]),
                result.column(curve["table"], curve["y"]),
                "-",
                color=colour,
                lw=1,
                label=curve.get("label"),
            )
        ax.set_xscale(spec.get("xscale", "linear"))
        ax.set_yscale(spec.get("yscale", "linear"))
        if spec.get("xscale") == "log":
            plain_log_ticks(ax.xaxis)
        ax.set_xlabel(spec.get("xlabel", ""))
        ax.set_ylabel(spec.get("ylabel", ""))
        ax.set_title(spec.get("title", ""), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return ax


def plot_overlay(
    results: dict[str, MetricResult], index: int = 0, column: str | None = None
) -> Figure:
    """:func:`overlay` on a figure of its own."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    overlay(ax, results, index, column)
    fig.tight_layout()
    return fig


def plot_energy_performance(
    bias: dict[str, MetricResult], resolution: dict[str, MetricResult]
) -> Figure:
    """Median bias (top) and the fitted resolution estimator with its a/sqrt(E) (+) b (+) c/E
    fit (bottom) vs true energy, one colour per input."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 7.0), sharex=True)
    overlay(top, bias, 0, "median_bias")
    top.axhline(0.0, color="0.4", lw=0.8)
    top.set_ylabel("median (E_pred - E_true) / E_true")
    top.set_xlabel("")
    estimator = next(iter(resolution.values())).meta.get("fitted_estimator", "sigma90_over_mu90")
    overlay(bottom, resolution, 0, estimator)
    bottom.set_ylabel(f"resolution ({estimator.replace('_', ' ')})")
    bottom.set_title("")
    fig.tight_layout()
    return fig
