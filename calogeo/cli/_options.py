"""Helpers shared by several commands: options that mean the same everywhere."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calogeo.errors import CalogeoError

if TYPE_CHECKING:
    import numpy as np


def cell_threshold_gev(args: argparse.Namespace, geometry: Any) -> np.ndarray:
    """(n_layers,) cell threshold in GeV from ``--threshold-mev`` or ``--threshold-mip``."""
    import numpy as np

    from calogeo.observables import mip_energy_gev

    for flag, value in (
        ("--threshold-mev", args.threshold_mev),
        ("--threshold-mip", args.threshold_mip),
    ):
        if value is not None and not (math.isfinite(value) and value >= 0):
            msg = f"{flag} {value}: expected a number >= 0"
            raise CalogeoError(msg)
    if args.threshold_mip is not None:
        return args.threshold_mip * mip_energy_gev(geometry)
    mev = args.threshold_mev or 0.0
    return np.full(geometry.n_layers, mev * 1e-3)


def resample_output(path: Path, target: str, round_trip: bool) -> Path:
    """``IN_<target>.h5`` (``IN_<target>_roundtrip.h5`` for a round trip) beside the input."""
    suffix = f"_{target}_roundtrip" if round_trip else f"_{target}"
    return path.with_name(f"{path.stem}{suffix}.h5")
