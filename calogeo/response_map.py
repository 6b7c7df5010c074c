"""Response calibration of a generator: conditional quantile mapping of the visible fraction
R = E_visible / E_incident.

A generative network learns the shower shapes well long before it learns the width of the
response distribution, which for an electromagnetic calorimeter is a percent or two. The map
moves each generated shower's R to the reference's R at the same quantile of the same incident
energy, and scales the shower's cells by the ratio: the generator keeps the shapes and the
ordering of its showers (a shower that the generator makes brighter than most stays brighter
than most), the calibrated sample gets the reference's mean response and resolution.

The map is fitted on showers at the training data's own incident energies: the training
showers' R and the generator's R at the same energies, in bins of equal counts in log E. Within
a bin the energy trend of each sample is divided out first (R over the sample's median R,
interpolated linearly in log E between bin centres), so a generator whose response still runs
with energy inside a bin is not read as a wide one; the quantiles of these ratios are mapped,
and the result multiplied by the reference's median at the shower's energy. Between bin
centres the mapped ratio is interpolated linearly in log E; below the lowest and above the
highest centre the edge bin's map is used. Angles are not a dimension of the map.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from calogeo.errors import CalogeoError

if TYPE_CHECKING:
    from calogeo.showers import Showers

__all__ = ["ResponseMap", "visible_fraction"]

LEVELS = np.linspace(0.0, 1.0, 41)
"""Quantile levels of the map: 0, 2.5%, ..., 100%."""
MIN_PER_BIN = 100
"""Fewest showers per energy bin: sets the number of bins for small samples."""


def visible_fraction(showers: Showers) -> np.ndarray:
    """E_visible / E_incident of each shower (float64)."""
    return showers.flat().sum(axis=1, dtype=np.float64) / showers.incident_energy


@dataclass(frozen=True)
class ResponseMap:
    """Per energy bin (centres ``log_energy``, ln GeV): the median responses of the generator
    and the reference (``generated_median``, ``reference_median``, (bins,)) and the quantiles
    at ``levels`` of each sample's response over its median (``generated``, ``reference``,
    (bins, levels))."""

    log_energy: np.ndarray
    levels: np.ndarray
    generated_median: np.ndarray
    reference_median: np.ndarray
    generated: np.ndarray
    reference: np.ndarray

    @classmethod
    def fit(
        cls,
        energy_gev: np.ndarray,
        reference: np.ndarray,
        generated: np.ndarray,
        max_bins: int = 20,
    ) -> ResponseMap:
        """The map from ``generated`` to ``reference`` responses (E_visible / E_incident), both
        at incident energies ``energy_gev`` (GeV), in at most ``max_bins`` bins of equal
        counts (at least :data:`MIN_PER_BIN` showers each)."""
        energy = np.asarray(energy_gev, dtype=np.float64)
        ref = np.asarray(reference, dtype=np.float64)
        gen = np.asarray(generated, dtype=np.float64)
        if not (len(energy) == len(ref) == len(gen)) or len(energy) == 0:
            msg = "response map: energies and responses must be non-empty and of one length"
            raise CalogeoError(msg)
        order = np.argsort(energy, kind="stable")
        bins = int(np.clip(len(energy) // MIN_PER_BIN, 1, max_bins))
        parts = np.array_split(order, bins)
        log_e = np.log(energy)
        centres = np.array([log_e[p].mean() for p in parts])
        gen_median, gen_quantiles = _binned(gen, parts, log_e, centres)
        ref_median, ref_quantiles = _binned(ref, parts, log_e, centres)
        return cls(
            log_energy=centres,
            levels=LEVELS.copy(),
            generated_median=gen_median,
            reference_median=ref_median,
            generated=gen_quantiles,
            reference=ref_quantiles,
        )

    def __call__(self, energy_gev: np.ndarray, response: np.ndarray) -> np.ndarray:
        """The calibrated responses of generated showers with ``response`` (E_visible /
        E_incident) at incident energies ``energy_gev`` (GeV)."""
        log_e = np.log(np.asarray(energy_gev, dtype=np.float64))
        r = np.asarray(response, dtype=np.float64)
        position = np.interp(log_e, self.log_energy, np.arange(len(self.log_energy)))
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, len(self.log_energy) - 1)
        weight = position - low
        u = r / _positive(np.interp(log_e, self.log_energy, self.generated_median))
        out = np.zeros_like(r)
        for b in np.unique(np.concatenate([low, high])):
            near = (low == b) | (high == b)
            w = np.where(low[near] == b, 1.0 - weight[near], 0.0)
            w += np.where(high[near] == b, weight[near], 0.0)
            out[near] += w * self._in_bin(b, u[near])
        return out * np.interp(log_e, self.log_energy, self.reference_median)

    def _in_bin(self, b: int, u: np.ndarray) -> np.ndarray:
        """Quantile mapping of response ratios ``u`` (response over median) in bin ``b``."""
        quantile = _cdf(u, self.generated[b], self.levels)
        return np.interp(quantile, self.levels, self.reference[b])

    def state(self) -> dict[str, Any]:
        """Plain lists, for a checkpoint's normalisation."""
        return {k: getattr(self, k).tolist() for k in self.__dataclass_fields__}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> ResponseMap:
        """The map :meth:`state` described."""
        return cls(**{k: np.asarray(state[k], dtype=np.float64) for k in cls.__dataclass_fields__})


def _binned(
    response: np.ndarray, parts: list[np.ndarray], log_e: np.ndarray, centres: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per bin (indices ``parts``, centres ``centres`` in ln GeV): the median response, and the
    quantiles at :data:`LEVELS` of the response over the median interpolated at each shower's
    ln E ``log_e``."""
    median = np.array([np.median(response[p]) for p in parts])
    ratio = response / _positive(np.interp(log_e, centres, median))
    return median, np.stack([np.quantile(ratio[p], LEVELS) for p in parts])


def _cdf(values: np.ndarray, quantiles: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The quantile level of each value, by linear interpolation of the quantile function
    (ties in ``quantiles``, e.g. many empty showers, take their middle level)."""
    unique, first = np.unique(quantiles, return_index=True)
    last = len(quantiles) - 1 - np.unique(quantiles[::-1], return_index=True)[1]
    middle = 0.5 * (levels[first] + levels[last])
    if len(unique) == 1:
        return np.full(values.shape, float(middle[0]))
    return np.interp(values, unique, middle)


def _positive(median: np.ndarray) -> np.ndarray:
    """Medians to divide by: a zero median (mostly empty showers) divides by one."""
    return np.where(median > 0, median, 1.0)
