"""Per-event predictions of a reconstruction model, with the truth they are judged against.

File layout (HDF5, format version 1)::

    /                  attrs: format="calogeo-predictions", format_version=1, calogeo_version,
                              model, geometry, signal, background, task, quantity
    /incident_energy   (N,) float64, true energy in GeV (or true ``quantity``, see below)
    /energy            (N,) float64, predicted energy in GeV (or ``quantity``) (optional)
    /label             (N,) int64, true class: 1 signal, 0 background, -1 unknown (optional)
    /score             (N,) float64, predicted signal probability        (optional)
    /theta, /eta       (N,) float64, true direction (rad; pseudorapidity) (optional)
    /calibrated_sum    (N,) float64, the calibrated-sum baseline on the same events (GeV) (optional)
    /linear_calibration (N,) float64, the layer-group linear calibration baseline (GeV) (optional)

``quantity`` names what was regressed: ``"energy"`` (the incident energy, GeV; files without
the attribute), or the per-event label a model was trained on in its place, such as the
``multiplicity`` of a LUXE bunch; ``incident_energy`` and ``energy`` then hold its true and
predicted values, so every regression metric applies unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from calogeo._version import __version__
from calogeo.errors import ShowerFileError

__all__ = ["BASELINES", "FORMAT_NAME", "Predictions", "is_predictions_file"]

FORMAT_NAME = "calogeo-predictions"
FORMAT_VERSION = 1
_ARRAYS = {
    "incident_energy": np.float64,
    "energy": np.float64,
    "label": np.int64,
    "score": np.float64,
    "theta": np.float64,
    "eta": np.float64,
    "calibrated_sum": np.float64,
    "linear_calibration": np.float64,
}
BASELINES = {"calibrated_sum": "calibrated sum", "linear_calibration": "linear calibration"}
"""The energy baselines a model's predictions carry for comparison, with their plot labels:
the calibrated sum (visible energy over sampling fraction, summed over the layers; no fit) and
the linear calibration sum_g a_g E_g + c of the deposited energy of the layer groups, fitted on
the model's training data (see :func:`calogeo.reconstruction.group_design`)."""
_ATTRS = ("model", "geometry", "signal", "background", "task", "quantity")


@dataclass
class Predictions:
    """Per-event arrays: true ``incident_energy`` (GeV) and, where the model provides them,
    predicted ``energy`` (GeV), true ``label`` (1 signal, 0 background, -1 unknown), predicted
    signal probability ``score``, true ``theta`` (rad) and ``eta``, the energies of the
    :data:`BASELINES` on the same events (GeV); plus descriptive attributes. ``quantity`` is
    what the regression columns hold (see the module docstring)."""

    incident_energy: np.ndarray
    energy: np.ndarray | None = None
    label: np.ndarray | None = None
    score: np.ndarray | None = None
    theta: np.ndarray | None = None
    eta: np.ndarray | None = None
    calibrated_sum: np.ndarray | None = None
    linear_calibration: np.ndarray | None = None
    model: str = ""
    geometry: str = ""
    signal: str = ""
    background: str = ""
    task: str = ""
    quantity: str = "energy"

    def __post_init__(self) -> None:
        n = len(np.asarray(self.incident_energy).reshape(-1))
        for name, dtype in _ARRAYS.items():
            value = getattr(self, name)
            if value is None:
                continue
            value = np.asarray(value, dtype=dtype).reshape(-1)
            if len(value) != n:
                msg = f"predictions: {name!r} has {len(value)} entries for {n} events"
                raise ValueError(msg)
            setattr(self, name, value)

    def __len__(self) -> int:
        return len(self.incident_energy)

    def __getitem__(self, index: slice | np.ndarray) -> Predictions:
        arrays = {
            name: None if getattr(self, name) is None else getattr(self, name)[index]
            for name in _ARRAYS
        }
        return Predictions(**arrays, **{a: getattr(self, a) for a in _ATTRS})  # type: ignore[arg-type]

    @property
    def has_classification(self) -> bool:
        """True if scores are given and both classes occur among the known labels."""
        if self.score is None or self.label is None:
            return False
        known = self.label >= 0
        ok = known & np.isfinite(self.score)
        return bool(ok.any()) and set(np.unique(self.label[ok])) == {0, 1}

    @property
    def has_regression(self) -> bool:
        """True if predicted energies are given (finite for at least one event)."""
        return self.energy is not None and bool(np.isfinite(self.energy).any())

    def baselines(self) -> dict[str, np.ndarray]:
        """{name: (N,) energy (GeV)} of the :data:`BASELINES` these predictions carry."""
        return {name: value for name in BASELINES if (value := getattr(self, name)) is not None}

    @property
    def quantity_label(self) -> str:
        """Axis label of the regressed quantity: "energy [GeV]", or its label name."""
        return "energy [GeV]" if self.quantity == "energy" else self.quantity

    @property
    def truth_label(self) -> str:
        """Axis label of its true value, e.g. "true energy [GeV]"."""
        return f"true {self.quantity_label}"

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` atomically (temporary file, then rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(tmp, "w") as f:
                f.attrs["format"] = FORMAT_NAME
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["calogeo_version"] = __version__
                for name in _ATTRS:
                    f.attrs[name] = getattr(self, name)
                for name in _ARRAYS:
                    value = getattr(self, name)
                    if value is not None:
                        f.create_dataset(name, data=value, compression="gzip", shuffle=True)
            tmp.replace(path)
        except OSError as exc:
            msg = f"{path}: cannot write predictions: {exc}"
            raise ShowerFileError(msg) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        """Read a file written by :meth:`save`; errors name the file and dataset."""
        path = Path(path)
        try:
            f = h5py.File(path, "r")
        except OSError as exc:
            msg = f"{path}: not a readable HDF5 file: {exc}"
            raise ShowerFileError(msg) from exc
        with f:
            if f.attrs.get("format") != FORMAT_NAME:
                msg = f"{path}: not a calogeo predictions file (attribute 'format' is {f.attrs.get('format')!r})"
                raise ShowerFileError(msg)
            if int(f.attrs.get("format_version", -1)) > FORMAT_VERSION:
                msg = f"{path}: predictions format version is newer than this calogeo reads"
                raise ShowerFileError(msg)
            if "incident_energy" not in f:
                msg = f"{path}: dataset 'incident_energy' is missing"
                raise ShowerFileError(msg)
            arrays = {name: f[name][()] for name in _ARRAYS if name in f}
            attrs = {name: str(f.attrs.get(name, "")) for name in _ATTRS}
            attrs["quantity"] = attrs["quantity"] or "energy"
        try:
            return cls(**arrays, **attrs)  # type: ignore[arg-type]
        except ValueError as exc:
            msg = f"{path}: {exc}"
            raise ShowerFileError(msg) from exc

    def describe(self) -> str:
        """One line: what the file holds."""
        parts = [f"{len(self)} events"]
        if self.model:
            parts.append(f"model {self.model}")
        if self.geometry:
            parts.append(f"geometry {self.geometry}")
        if self.has_classification:
            parts.append(
                f"classification {self.signal or 'signal'} vs {self.background or 'background'}"
            )
        if self.has_regression:
            parts.append(f"{self.quantity} regression")
        return ", ".join(parts)


def is_predictions_file(path: str | Path) -> bool:
    """True if ``path`` is an HDF5 file written by :meth:`Predictions.save`."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT_NAME
    except OSError:
        return False
