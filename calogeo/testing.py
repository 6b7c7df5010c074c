"""Helpers for testing calogeo plugins the way calogeo tests itself.

>>> with isolated_plugins(my_plugin_module) as manager:
...     assert "tower" in manager.geometries
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from calogeo.geometry import Geometry
from calogeo.plugins import PluginManager, reset_plugin_manager
from calogeo.showers import Showers

__all__ = ["TWO_LAYER_SPEC", "blob_showers", "isolated_plugins", "tungsten_grid_spec"]

TWO_LAYER_SPEC = """
name = "two_layers"
title = "a 2x3 grid in front of a 4x4 grid"
citation = "test"
distance_from_ip_mm = 1000.0
[[layers]]
name = "front"
thickness_x0 = 2.0
material = "Pb"
layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [2, 3] }
[[layers]]
name = "back"
thickness_x0 = 10.0
material = "Pb"
layout = { type = "grid", pitch_mm = [10.0, 10.0], shape = [4, 4] }
"""
"""A tiny two-layer lead geometry (2x3 cells of 5 mm, then 4x4 of 10 mm) for tests."""


def tungsten_grid_spec(name: str = "tiny", n: int = 6, layers: int = 3) -> str:
    """Spec text of a small tungsten stack: ``layers`` layers of 5 mm, ``n`` x ``n`` cells of
    5 mm."""
    return f"""name = "{name}"
title = "test"
citation = "test"
distance_from_ip_mm = 1500.0
[[layers]]
name = "layer"
repeat = {layers}
thickness_mm = 5.0
material = "W"
layout = {{ type = "grid", pitch_mm = [5.0, 5.0], shape = [{n}, {n}] }}
"""


@contextmanager
def isolated_plugins(
    *plugins: Any, entry_points: bool = False, strict: bool = True
) -> Iterator[PluginManager]:
    """Install a fresh process-wide plugin manager holding only ``plugins`` (modules or objects
    with ``@hookimpl`` functions), plus the installed entry points if ``entry_points``.

    Everything that looks names up (``calogeo.get_geometry``, the CLI) sees this manager until
    the block ends; the previous manager is restored afterwards.
    """
    manager = PluginManager(load_entry_points=entry_points, strict=strict)
    for i, plugin in enumerate(plugins):
        manager.register(plugin, name=getattr(plugin, "__name__", f"plugin{i}"))
    old = reset_plugin_manager(manager)
    try:
        yield manager
    finally:
        reset_plugin_manager(old)


def blob_showers(
    geometry: Geometry,
    n: int,
    *,
    pdg: int = 22,
    energy_gev: tuple[float, float] = (10.0, 100.0),
    seed: int = 0,
) -> Showers:
    """``n`` toy showers on any geometry, for tests of models and metrics (not physics).

    A shower is a Gaussian blob in x-y (width half the layer's Moliere radius) times a gamma
    longitudinal profile in radiation lengths, holding 90% of an incident energy drawn uniformly
    in ``energy_gev`` (GeV), with 5% Gaussian smearing. ``pdg=111`` splits it into two blobs
    2 R_M apart (a caricature of pi0 -> gamma gamma), so classifiers have something to learn.
    Labels: pdg, theta (0), phi (0), impact_x, impact_y (mm).
    """
    rng = np.random.default_rng(seed)
    energy = rng.uniform(*energy_gev, size=n)
    impact = rng.normal(0.0, 2.0, size=(n, 2))
    centres = geometry.cell_centres_mm()
    areas = np.concatenate([layer.layout.areas_mm2() for layer in geometry.layers])
    layer_of = np.repeat(np.arange(geometry.n_layers), [ly.n_cells for ly in geometry.layers])
    sigma = np.array([0.5 * ly.material.rm_mm for ly in geometry.layers])[layer_of]
    t = geometry.x0_edges.mean(axis=1)[layer_of]
    longitudinal = t * np.exp(-t / 2.0)  # gamma profile, maximum at 2 X0
    n_blobs = 2 if pdg == 111 else 1
    cells = np.zeros((n, geometry.n_cells))
    for b in range(n_blobs):
        shift = (2 * b - (n_blobs - 1)) * sigma  # +-R_M for two blobs, 0 for one
        dx = centres[None, :, 0] - impact[:, :1] - shift[None, :]
        dy = centres[None, :, 1] - impact[:, 1:]
        cells += np.exp(-(dx**2 + dy**2) / (2.0 * sigma**2)) / sigma**2
    cells *= longitudinal * areas
    total = cells.sum(axis=1, keepdims=True)
    scale = 0.9 * energy * rng.normal(1.0, 0.05, size=n)
    cells = cells / np.where(total > 0, total, 1.0) * scale[:, None]
    labels = {
        "pdg": np.full(n, pdg),
        "theta": np.zeros(n),
        "phi": np.zeros(n),
        "impact_x": impact[:, 0],
        "impact_y": impact[:, 1],
    }
    return Showers.from_flat(geometry, cells.astype(np.float32), energy, labels)
