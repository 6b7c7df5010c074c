"""The Model interface: anything that learns from showers or produces them.

A model class declares its ``name``, ``description``, the tasks it does (``kind``: any of
``"classify"``, ``"regress"``, ``"generate"``) and the input ``view`` it needs (``"flat"``,
``"layers"`` or ``"voxels"``, see :mod:`calogeo.views`). It is built for one geometry
(``Model.build(geometry, **hparams)``), trained with ``fit``, used with ``predict`` (class
scores and/or energies as :class:`calogeo.predictions.Predictions`) or ``generate``, and saved to
a checkpoint (:mod:`calogeo.checkpoint`) that holds everything needed to rebuild it: model name,
hyper-parameters, geometry spec, weights, input normalisation and training history.

The two families built on it: :mod:`calogeo.reconstruction` (classify / regress, trained by
:mod:`calogeo.trainer`) and :mod:`calogeo.generative` (generate, trained by
:mod:`calogeo.adversarial`); both trainers share :mod:`calogeo.training` and
:mod:`calogeo.streams`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from calogeo._version import __version__
from calogeo.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, load_model, save_checkpoint
from calogeo.errors import CalogeoError, GeometryMismatchError
from calogeo.geometry import Geometry

if TYPE_CHECKING:
    import numpy as np

    from calogeo.predictions import Predictions
    from calogeo.showers import Showers
    from calogeo.streams import ShowerStream

__all__ = ["Model"]


class Model:
    """Base class of every registered model; subclasses set the class attributes below.

    ``defaults`` maps a size preset (``"paper"``: the source paper's best values, ``"small"``:
    trains in minutes on two CPU cores) to hyper-parameters; ``build`` merges the preset with
    the caller's overrides.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    kind: ClassVar[tuple[str, ...]] = ()
    view: ClassVar[str] = "flat"
    defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {"paper": {}, "small": {}}

    def __init__(self, geometry: Geometry, hparams: Mapping[str, Any]) -> None:
        self.geometry = geometry
        self.hparams = dict(hparams)
        self.history: list[dict[str, float]] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r} on {self.geometry.name!r})"

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def build(cls, geometry: Geometry, *, size: str = "paper", **hparams: Any) -> Model:
        """A fresh model sized for ``geometry``: the ``size`` preset updated with ``hparams``."""
        if size not in cls.defaults:
            msg = f"--size {size!r}: model {cls.name!r} has presets {', '.join(cls.defaults)}"
            raise CalogeoError(msg)
        merged = {**cls.defaults[size], **{k: v for k, v in hparams.items() if v is not None}}
        unknown = sorted(set(merged) - set(cls.defaults[size]) - set(cls.extra_hparams()))
        if unknown:
            known = ", ".join(sorted(set(cls.defaults[size]) | set(cls.extra_hparams())))
            msg = f"model {cls.name!r} has no hyper-parameter {', '.join(unknown)} (known: {known})"
            raise CalogeoError(msg)
        return cls(geometry, merged)

    @classmethod
    def extra_hparams(cls) -> tuple[str, ...]:
        """Hyper-parameter names accepted besides the presets' keys."""
        return ()

    # -- the interface -----------------------------------------------------------------------

    def fit(self, train: Any, val: Any = None, **options: Any) -> list[dict[str, float]]:
        """Train on ``train`` (Showers or shower files), validating on ``val``; returns the history."""
        msg = f"model {self.name!r} cannot be trained with fit()"
        raise CalogeoError(msg)

    def predict(self, showers: Showers, **options: Any) -> Predictions:
        """Per-event class scores and/or energies for ``showers``."""
        msg = f"model {self.name!r} does not predict (its tasks: {', '.join(self.kind)})"
        raise CalogeoError(msg)

    def generate(
        self, energies: np.ndarray, particle: str = "gamma", n: int | None = None, **options: Any
    ) -> Showers:
        """Showers of ``particle`` with incident ``energies`` (GeV) on the model's geometry."""
        msg = f"model {self.name!r} is not generative (its tasks: {', '.join(self.kind)})"
        raise CalogeoError(msg)

    def training_streams(
        self, train: Any, val: Any, val_fraction: float, seed: int
    ) -> tuple[ShowerStream, ShowerStream]:
        """Training and validation streams of ``train`` and ``val`` (Showers or shower files;
        see :func:`calogeo.streams.train_val_streams`), every source checked to be on the
        model's geometry, and enough events to train on."""
        from calogeo.streams import train_val_streams

        train_stream, val_stream = train_val_streams(
            train, val, val_fraction=val_fraction, seed=seed, geometry=self.geometry
        )
        for source in train_stream.sources + val_stream.sources:
            self.check_geometry(source.geometry, str(source.path))
        if len(train_stream) < 2 or len(val_stream) < 1:
            msg = (
                f"too few events to train ({len(train_stream)} for training, "
                f"{len(val_stream)} for validation)"
            )
            raise CalogeoError(msg)
        return train_stream, val_stream

    def check_geometry(self, geometry: Geometry, source: str = "the data") -> None:
        """Raise GeometryMismatchError, suggesting ``calogeo resample``, if ``geometry`` differs."""
        if geometry != self.geometry:
            msg = (
                f"model {self.name!r} was built for geometry {self.geometry.name!r} but "
                f"{source} is on {geometry.name!r}; convert it first with "
                f"`calogeo resample ... --to {self.geometry.name}`"
            )
            raise GeometryMismatchError(msg)

    # -- checkpoints -------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """The learned parameters (tensors, numbers, strings or bytes) for the checkpoint."""
        return {}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`get_state` returned."""

    def normalisation(self) -> dict[str, Any]:
        """The input normalisation fitted on the training data (numbers or lists)."""
        return {}

    def set_normalisation(self, values: Mapping[str, Any]) -> None:
        """Restore what :meth:`normalisation` returned."""

    def checkpoint(self) -> dict[str, Any]:
        """Everything :func:`load_model` needs, as a dict of plain values and tensors."""
        return {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "calogeo_version": __version__,
            "model": self.name,
            "hparams": dict(self.hparams),
            "geometry_name": self.geometry.name,
            "geometry_spec": self.geometry.spec_text,
            "state": self.get_state(),
            "normalisation": self.normalisation(),
            "history": [dict(h) for h in self.history],
        }

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint to ``path`` atomically (a temporary name, then a rename)."""
        return save_checkpoint(self.checkpoint(), path)

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """The model saved at ``path`` (it must be a checkpoint of this class)."""
        model = load_model(path)
        if not isinstance(model, cls):
            msg = f"{path}: holds model {model.name!r}, not {cls.name!r}"
            raise CalogeoError(msg)
        return model

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any], geometry: Geometry) -> Model:
        """Rebuild a model from a checkpoint dict read by :func:`load_model`."""
        model = cls(geometry, checkpoint["hparams"])
        model.set_normalisation(checkpoint.get("normalisation", {}))
        model.set_state(checkpoint.get("state", {}))
        model.history = [dict(h) for h in checkpoint.get("history", [])]
        return model
