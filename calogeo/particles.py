"""Particle names and class labels: the PDG Monte Carlo numbers behind ``--particle``,
``--signal`` and ``--background``, and the signal/background labels of a batch of showers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from calogeo.errors import CalogeoError
from calogeo.showers import Showers

__all__ = ["PARTICLE_PDG", "class_labels", "particle_names", "particle_pdg"]

PARTICLE_PDG: dict[str, int] = {
    "gamma": 22,
    "e-": 11,
    "e+": -11,
    "e": 11,
    "pi0": 111,
    "pi+": 211,
    "pi-": -211,
    "pi": 211,
    "mu-": 13,
    "mu+": -13,
    "n": 2112,
    "p": 2212,
    "k0l": 130,
}
"""Particle names used on the command line -> PDG Monte Carlo numbers (PDG RPP, "Monte Carlo
particle numbering scheme"). Charge-blind names (``e``, ``pi``) match both signs."""


def particle_pdg(name: str) -> int:
    """The PDG id of a particle name (``gamma``, ``pi0``, ``e-``...) or of a number given as text."""
    key = name.strip().lower()
    if key in PARTICLE_PDG:
        return PARTICLE_PDG[key]
    try:
        return int(key)
    except ValueError:
        known = ", ".join(PARTICLE_PDG)
        msg = f"unknown particle {name!r}: expected one of {known} or a PDG number"
        raise CalogeoError(msg) from None


def _matches(pdg: np.ndarray, names: Sequence[str]) -> np.ndarray:
    hit = np.zeros(len(pdg), dtype=bool)
    for name in names:
        code = particle_pdg(name)
        charge_blind = name.strip().lower() in ("e", "pi")
        hit |= (np.abs(pdg) == abs(code)) if charge_blind else (pdg == code)
    return hit


def class_labels(showers: Showers, signal: Sequence[str], background: Sequence[str]) -> np.ndarray:
    """(N,) int64: 1 for signal, 0 for background, from the ``pdg`` label.

    Raises a CalogeoError if the showers have no ``pdg`` label or hold another particle.
    """
    if "pdg" not in showers.labels:
        msg = f"showers on {showers.geometry.name!r} have no 'pdg' label to classify with"
        raise CalogeoError(msg)
    pdg = showers.labels["pdg"].astype(np.int64)
    sig, bkg = _matches(pdg, signal), _matches(pdg, background)
    if np.any(sig & bkg):
        msg = f"signal {list(signal)} and background {list(background)} overlap"
        raise CalogeoError(msg)
    other = ~(sig | bkg)
    if np.any(other):
        found = sorted(set(pdg[other].tolist()))
        msg = (
            f"events with PDG ids {found} are neither signal {list(signal)} nor background "
            f"{list(background)} (set --signal / --background)"
        )
        raise CalogeoError(msg)
    return sig.astype(np.int64)


def particle_names(value: Any) -> list[str]:
    """A list of particle names from a list or a comma/space separated string."""
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    return [str(v) for v in value]
