"""Energy scales: the visible energy a read-out reports and the energy deposited in a layer.

calogeo stores visible energy (GeV): what the active medium of each layer sees, i.e. the
deposited energy times the layer's sampling fraction (1 for a homogeneous layer). Every
conversion between the two scales goes through this module, so the resampler, the formats and
the calibrated-sum baseline agree on one convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from calogeo.geometry import Geometry
from calogeo.showers import Showers

__all__ = [
    "ENERGY_SCALES",
    "EnergyScale",
    "calibrated_sum",
    "cell_sampling_fractions",
    "convert_layers",
    "group_energies",
    "layer_sampling_fractions",
    "scale_factors",
]

EnergyScale = Literal["visible", "deposited"]
ENERGY_SCALES: tuple[EnergyScale, ...] = ("visible", "deposited")
"""``visible``: what the read-out reports (stored by calogeo); ``deposited``: visible energy
divided by the layer's sampling fraction, i.e. the energy the shower left in the whole layer."""


def layer_sampling_fractions(geometry: Geometry) -> np.ndarray:
    """(n_layers,) float64 sampling fraction of each layer, 1 for a homogeneous layer."""
    return np.array(
        [1.0 if ly.sampling_fraction is None else ly.sampling_fraction for ly in geometry.layers]
    )


def cell_sampling_fractions(geometry: Geometry) -> np.ndarray:
    """(n_cells,) float64 sampling fraction of each cell in the flat cell order."""
    counts = [ly.n_cells for ly in geometry.layers]
    return np.repeat(layer_sampling_fractions(geometry), counts)


def scale_factors(geometry: Geometry, source: EnergyScale, target: EnergyScale) -> np.ndarray:
    """(n_layers,) float64 factors that turn energy on ``source`` scale into ``target`` scale."""
    for scale in (source, target):
        if scale not in ENERGY_SCALES:
            msg = f"unknown energy scale {scale!r}: expected one of {', '.join(ENERGY_SCALES)}"
            raise ValueError(msg)
    fractions = layer_sampling_fractions(geometry)
    if source == target:
        return np.ones_like(fractions)
    return 1.0 / fractions if target == "deposited" else fractions


def convert_layers(
    geometry: Geometry,
    layers: Sequence[np.ndarray],
    source: EnergyScale,
    target: EnergyScale,
) -> list[np.ndarray]:
    """Per-layer energy arrays (GeV, any shape) converted from ``source`` to ``target`` scale.

    The dtype of each array is kept; the factor is applied in float64 before the cast back.
    """
    factors = scale_factors(geometry, source, target)
    return [
        (np.asarray(a, dtype=np.float64) * f).astype(np.asarray(a).dtype, copy=False)
        for a, f in zip(layers, factors, strict=True)
    ]


def group_energies(showers: Showers, scale: EnergyScale = "deposited") -> np.ndarray:
    """(N, n_groups) float64 energy of every layer group (GeV, ``geometry.groups`` order) on
    ``scale``: with ``"deposited"`` each layer's visible energy is divided by its own sampling
    fraction before the layers of a group are added."""
    geometry = showers.geometry
    per_layer = showers.layer_energies().astype(np.float64) * scale_factors(
        geometry, "visible", scale
    )
    groups = np.array([layer.group for layer in geometry.layers])
    return np.stack([per_layer[:, groups == g].sum(axis=1) for g in geometry.groups], axis=1)


def calibrated_sum(showers: Showers) -> np.ndarray:
    """(N,) float64 calibrated sum (GeV): the visible energy of every layer divided by its
    sampling fraction, summed over the layers. No fitted constant: the calorimeter's own energy
    estimate, the first baseline of any energy regression."""
    return group_energies(showers, "deposited").sum(axis=1)
