"""Figures of the generative validation suite, drawn from its JSON result alone.

A suite result (the ``validation`` fidelity metric) lists its figures in ``meta["figures"]``:
each a name, a title and panels. A panel is a histogram (``hist``: a table of bin edges ``lo``,
``hi`` and one unit-sum column per sample), a mean profile (``profile``: bin centres ``x`` and
one column per sample), points against the incident energy (``points``: ``energy`` and
``Y:label`` / ``Y_err:label`` columns) or the correlation matrices (``matrix``). Every sample
gets one colour (the reference first, filled) and every panel but the matrices a ratio panel,
sample / reference. :func:`save_validation_figures` writes one PNG per figure, so
``calogeo plot validation DIR`` redraws a finished evaluation without its shower files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from calogeo.plotting import (
    SAMPLE_COLOURS,
    _pyplot,
    plain_log_ticks,
    ratio_panel_axes,
    save_figure,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from calogeo.metric import MetricResult

__all__ = ["figure_names", "plot_validation", "save_validation_figures"]

COLUMNS = 3
RATIO_LIMITS = (0.0, 2.0)


def colour(index: int) -> str:
    """Colour of sample ``index`` (0: the reference)."""
    return SAMPLE_COLOURS[index] if index < len(SAMPLE_COLOURS) else f"C{index % 10}"


def figure_names(result: MetricResult) -> list[str]:
    """Names of the figures a suite result describes, in drawing order."""
    return [figure["name"] for figure in result.meta.get("figures", [])]


def _figure_spec(result: MetricResult, name: str) -> dict[str, Any]:
    for figure in result.meta.get("figures", []):
        if figure["name"] == name:
            return dict(figure)
    msg = f"no validation figure {name!r}; the result has {', '.join(figure_names(result))}"
    raise KeyError(msg)


def _column(table: dict[str, Any], key: str) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in table[key]], dtype=np.float64)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _finish_ratio(ax: Axes, top: Axes, xlabel: str, points: bool = False) -> None:
    ax.axhline(1.0, color="0.4", lw=0.8)
    if points:  # a few per cent matter here (ILD Fig. 7): +-20% unless the points lie further
        ratios = [y for line in ax.get_lines() for y in np.asarray(line.get_ydata(), float)]
        finite = np.abs(np.array(ratios) - 1.0)
        finite = finite[np.isfinite(finite)]
        half = min(1.0, max(0.2, 1.1 * float(finite.max()) if len(finite) else 0.2))
        ax.set_ylim(1.0 - half, 1.0 + half)
    else:
        ax.set_ylim(*RATIO_LIMITS)
        ax.set_yticks([0.5, 1.0, 1.5])
    ax.set_ylabel("ratio", fontsize=7)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    top.tick_params(labelbottom=False, labelsize=7)
    top.grid(alpha=0.3)


def _draw_hist(
    top: Axes, bottom: Axes, panel: dict[str, Any], table: dict[str, Any], labels: list[str]
) -> None:
    edges = np.r_[_column(table, "lo"), _column(table, "hi")[-1:]]
    reference = _column(table, labels[0])
    for j, label in enumerate(labels):
        h = _column(table, label)
        top.stairs(
            h,
            edges,
            color=colour(j),
            lw=1.2,
            label=label,
            fill=j == 0,
            alpha=0.25 if j == 0 else 1.0,
        )
        if j > 0:
            bottom.stairs(_ratio(h, reference), edges, color=colour(j), lw=1.2)
    for mark in panel.get("marks") or []:
        for ax in (top, bottom):
            ax.axvline(mark, color="0.3", ls="--", lw=0.9)
    if panel.get("shade_below"):
        for ax in (top, bottom):
            ax.axvspan(edges[0], panel["shade_below"], color="0.85", hatch="//", zorder=0)
    if panel.get("top_axis_scale"):  # e.g. MIPs -> MeV where every layer has the same MIP
        scale = float(panel["top_axis_scale"])

        def to_top(x: ArrayLike) -> ArrayLike:
            return np.multiply(x, scale)

        def from_top(x: ArrayLike) -> ArrayLike:
            return np.divide(x, scale)

        secondary = top.secondary_xaxis("top", functions=(to_top, from_top))
        secondary.set_xlabel(panel.get("top_axis_label", ""), fontsize=8)
        secondary.tick_params(labelsize=7)
    if panel.get("xscale") == "log":
        from matplotlib.ticker import NullFormatter

        top.set_xscale("log")
        top.xaxis.set_minor_formatter(NullFormatter())


def _draw_profile(top: Axes, bottom: Axes, table: dict[str, Any], labels: list[str]) -> None:
    x = _column(table, "x")
    reference = _column(table, labels[0])
    for j, label in enumerate(labels):
        y = _column(table, label)
        top.step(x, y, where="mid", color=colour(j), lw=1.2, label=label)
        if j > 0:
            bottom.step(x, _ratio(y, reference), where="mid", color=colour(j), lw=1.2)


def _draw_points(
    top: Axes, bottom: Axes, panel: dict[str, Any], table: dict[str, Any], labels: list[str]
) -> None:
    x = _column(table, "energy")
    key = panel["y"]
    reference = _column(table, f"{key}:{labels[0]}")
    ref_err = _column(table, f"{key}_err:{labels[0]}")
    offsets = (np.arange(len(labels)) - 0.5 * (len(labels) - 1)) * 0.005 * (x.max() or 1.0)
    for j, label in enumerate(labels):
        y, err = _column(table, f"{key}:{label}"), _column(table, f"{key}_err:{label}")
        top.errorbar(
            x + offsets[j], y, yerr=err, fmt="o", ms=4, capsize=2, color=colour(j), label=label
        )
        if j > 0:
            ratio = _ratio(y, reference)
            ratio_err = np.abs(ratio) * np.hypot(_ratio(err, y), _ratio(ref_err, reference))
            bottom.errorbar(
                x + offsets[j], ratio, yerr=ratio_err, fmt="o", ms=4, capsize=2, color=colour(j)
            )


def _draw_matrices(
    fig: Figure, spec: dict[str, Any], table: dict[str, Any], labels: list[str]
) -> None:
    names = list(table["observable"])
    n = len(labels)
    axes = fig.subplots(2, n, squeeze=False)
    worst = spec.get("max_abs_difference", {})
    limit = max(
        [0.05]
        + [
            float(np.nanmax(np.abs(_matrix(table[f"difference:{label}"]))))
            for label in labels[1:]
            if np.isfinite(_matrix(table[f"difference:{label}"])).any()
        ]
    )
    for j, label in enumerate(labels):
        _matrix_panel(axes[0, j], _matrix(table[label]), names, 1.0, f"{label}: Pearson rho")
        if j == 0:
            axes[1, 0].set_visible(False)
            continue
        value = worst.get(label)
        text = "n/a" if value is None else f"{value:.3f}"
        _matrix_panel(
            axes[1, j],
            _matrix(table[f"difference:{label}"]),
            names,
            limit,
            f"{labels[0]} - {label}: max |diff| {text}",
        )


def _matrix(rows: list[list[Any]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)


def _matrix_panel(ax: Axes, matrix: np.ndarray, names: list[str], limit: float, title: str) -> None:
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), names, fontsize=6)
    for (i, k), value in np.ndenumerate(matrix):
        if np.isfinite(value):
            ax.text(
                k,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=4,
                color="white" if abs(value) > 0.6 * limit else "black",
            )
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)


def plot_validation(result: MetricResult, name: str) -> Figure:
    """Figure ``name`` of a validation-suite result (see :func:`figure_names`)."""
    plt = _pyplot()
    spec = _figure_spec(result, name)
    labels = list(result.meta["samples"])
    panels = spec["panels"]
    if panels and panels[0]["kind"] == "matrix":
        table = result.tables[panels[0]["table"]]
        fig = plt.figure(figsize=(5.2 * len(labels), 9.5), layout="constrained")
        _draw_matrices(fig, spec, table, labels)
        fig.suptitle(f"{result.meta.get('geometry', '')}: {spec['title']}", fontsize=11)
        return fig
    columns = min(COLUMNS, max(1, len(panels)))
    rows = max(1, -(-len(panels) // columns))
    fig = plt.figure(figsize=(max(4.4 * columns, 6.5), 4.0 * rows + 0.4))
    pairs = ratio_panel_axes(fig, len(panels), columns, (1.0, 0.2, 0.6, 0.75), (0.5, 0.45))
    for k, (panel, (top, bottom)) in enumerate(zip(panels, pairs, strict=True)):
        table = result.tables[panel["table"]]
        if panel["kind"] == "hist":
            _draw_hist(top, bottom, panel, table, labels)
        elif panel["kind"] == "profile":
            _draw_profile(top, bottom, table, labels)
        else:
            _draw_points(top, bottom, panel, table, labels)
        top.set_yscale(panel.get("yscale", "linear"))
        if top.get_xscale() == "log" and panel["kind"] != "hist":
            plain_log_ticks(top.xaxis)
        top.set_ylabel(panel.get("ylabel", ""), fontsize=8)
        if panel.get("title"):
            top.set_title(panel["title"], fontsize=9)
        _finish_ratio(bottom, top, panel.get("xlabel", ""), panel["kind"] == "points")
        if k == 0:
            top.legend(fontsize=7, frameon=False)
    fig.suptitle(f"{result.meta.get('geometry', '')}: {spec['title']}", fontsize=11)
    return fig


def save_validation_figures(
    result: MetricResult, directory: str | Path, prefix: str = "validation_"
) -> list[Path]:
    """Write every figure of a suite result as ``DIRECTORY/PREFIXNAME.png``; returns the
    paths."""
    directory = Path(directory)
    paths = []
    for name in figure_names(result):
        path = directory / f"{prefix}{name}.png"
        save_figure(plot_validation(result, name), path, tight=False)
        paths.append(path)
    return paths
