"""Figures shared by the command line and users (matplotlib is imported lazily here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from calogeo.geometry import Geometry

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_geometry", "save_figure"]


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    if not os.environ.get("DISPLAY"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> None:
    """Save ``fig`` atomically (temporary name, then rename) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        _pyplot().close(fig)


def plot_geometry(geometry: Geometry, max_panels: int = 6) -> Figure:
    """Each distinct layer's cells side by side, in Moliere radii of the layer's material,
    on a common scale so that geometries can be compared by eye."""
    from matplotlib.collections import PolyCollection

    from calogeo.cli.cmd_show import layer_runs

    plt = _pyplot()
    runs = layer_runs(geometry)[:max_panels]
    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3.6), squeeze=False)
    half = max(
        max(abs(v) for v in geometry.layers[first].layout.extent_mm())
        / geometry.layers[first].material.rm_mm
        for first, _ in runs
    )
    for ax, (first, last) in zip(axes[0], runs):
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
