"""Baselines: the calibrated sum (no training), the linear calibration of the layer-group
energies and a gradient-boosted tree on expert features (Belayneh et al., EPJC 80 (2020) 688,
Eq. 2 and App. D)."""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from calogeo.energy_scale import calibrated_sum
from calogeo.errors import CalogeoError, MissingDependencyError
from calogeo.reconstruction import (
    LINEAR_SCALE,
    ReconstructionModel,
    group_design,
    require_two_classes,
)
from calogeo.showers import Showers

__all__ = ["BDT", "CalibratedSum", "LinearRegression", "expert_features"]

MIN_DEPOSIT_GEV = 1e-3
MIN_EVENTS_EARLY_STOPPING = 50  # below this the 10% held out for early stopping is too small

# Observables that use the true incident energy: never fed to a model.
TRUTH_OBSERVABLES = ("e_total_over_incident",)


def rms_resolution(predicted: np.ndarray, true: np.ndarray) -> float:
    """sqrt(mean((predicted / true - 1)^2)): the relative error a training history records."""
    return float(np.sqrt(np.mean((predicted / true - 1.0) ** 2)))


class CalibratedSum(ReconstructionModel):
    """E = sum_l E_l / f_l: the visible energy of every layer divided by its sampling fraction,
    summed (:func:`calogeo.energy_scale.calibrated_sum`). Nothing is fitted: ``fit`` only
    records the training resolution. The reference any energy regression must beat."""

    name = "calibrated_sum"
    description = "calibrated sum: visible energy / sampling fraction, layer by layer (no fit)"
    kind = ("regress",)
    view = "flat"
    defaults: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}, "small": {}}

    def __init__(self, geometry: Any, hparams: Mapping[str, Any]) -> None:
        super().__init__(geometry, {"task": "regress", **hparams})
        if self.target != "energy":
            msg = f"model {self.name!r} estimates the energy only, not --target {self.target!r}"
            raise CalogeoError(msg)

    def fit(self, train: Any, val: Any = None, **options: Any) -> list[dict[str, float]]:
        """Nothing to fit: records the RMS relative error on ``train`` (and ``val``)."""
        record = {"epoch": 1}
        for key, data in (("train_resolution", train), ("val_resolution", val)):
            if data is not None:
                showers = self.read_data(data)
                record[key] = rms_resolution(calibrated_sum(showers), showers.incident_energy)
        self.history = [record]
        return self.history

    def predict(self, showers: Showers, **options: Any) -> Any:
        self.check_geometry(showers.geometry)
        return self.make_predictions(showers, None, calibrated_sum(showers))


class LinearRegression(ReconstructionModel):
    """The linear calibration E = sum_g a_g E_g + c of the deposited energies E_g of the layer
    groups (visible energy over each layer's sampling fraction; Belayneh et al. Eq. 2:
    E = a E_ECAL + b E_HCAL + c), least squares; the same for another ``target`` (e.g. a
    bunch's multiplicity)."""

    name = "linear"
    description = "linear calibration of the layer-group deposited energies (Belayneh et al. Eq. 2)"
    kind = ("regress",)
    view = "flat"
    defaults: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}, "small": {}}

    def __init__(self, geometry: Any, hparams: Mapping[str, Any]) -> None:
        super().__init__(geometry, {"task": "regress", **hparams})
        self.coefficients: np.ndarray | None = None
        self.scale = LINEAR_SCALE

    def fit(self, train: Any, val: Any = None, **options: Any) -> list[dict[str, float]]:
        """Least squares on all of ``train`` (``val`` is only scored)."""
        showers = self.read_data(train)
        self.scale = LINEAR_SCALE
        self.coefficients, *_ = np.linalg.lstsq(
            group_design(showers, self.scale), self.regression_target(showers), rcond=None
        )
        record = {"epoch": 1, "train_resolution": self._resolution(showers)}
        if val is not None:
            record["val_resolution"] = self._resolution(self.read_data(val))
        self.history = [record]
        return self.history

    def _energy(self, showers: Showers) -> np.ndarray:
        if self.coefficients is None:
            msg = f"model {self.name!r} is not trained yet (fit it or load a checkpoint)"
            raise CalogeoError(msg)
        return group_design(showers, self.scale) @ self.coefficients

    def _resolution(self, showers: Showers) -> float:
        return rms_resolution(self._energy(showers), self.regression_target(showers))

    def linear_calibration(self) -> np.ndarray | None:
        ok = self.target == "energy" and self.scale == LINEAR_SCALE
        return self.coefficients if ok else None

    def predict(self, showers: Showers, **options: Any) -> Any:
        self.check_geometry(showers.geometry)
        return self.make_predictions(showers, None, self._energy(showers))

    def get_state(self) -> dict[str, Any]:
        if self.coefficients is None:
            return {}
        return {"coefficients": self.coefficients.tolist(), "scale": self.scale}

    def set_state(self, state: Mapping[str, Any]) -> None:
        if "coefficients" not in state:
            msg = f"model {self.name!r}: the checkpoint holds no fitted coefficients"
            raise CalogeoError(msg)
        self.coefficients = np.asarray(state["coefficients"], dtype=np.float64)
        # checkpoints from before the deposited scale hold a fit of the visible energies
        self.scale = str(state.get("scale", "visible"))


def expert_features(
    showers: Showers, names: list[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """(names, (N, F) float64) of the shower-shape observables of :func:`calogeo.observables.table`
    (sums, widths, moments, R9, depth, shower start...) without the truth-derived ones; NaN where
    undefined (the tree handles missing values). Without ``names``, columns that are undefined
    for every event are left out; with them, exactly those columns are returned (names saved
    by an older calogeo, such as ``e_layer0``, are read as today's, ``e_layer[0]``)."""
    from calogeo.observables import resolve_names, table

    columns = {k: v for k, v in table(showers).items() if k not in TRUTH_OBSERVABLES}
    if names is None:
        names = [k for k, v in columns.items() if np.isfinite(v).any()]
    else:
        with warnings.catch_warnings():  # a checkpoint's names: nothing for its user to rename
            warnings.simplefilter("ignore", FutureWarning)
            names = resolve_names(list(names), showers.geometry)
    return names, np.stack([columns[k] for k in names], axis=1)


class BDT(ReconstructionModel):
    """Gradient-boosted trees on expert features: scikit-learn's HistGradientBoosting with the
    XGBoost settings of Belayneh et al. App. D (up to 1000 iterations, early stopping after 10,
    depth 3, learning rate 0.3). Energy is regressed as log(E_true / E_dep)."""

    name = "bdt"
    description = "gradient-boosted trees on expert shower features (Belayneh et al. App. D)"
    kind = ("classify", "regress")
    view = "flat"
    defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"max_iter": 1000, "max_depth": 3, "learning_rate": 0.3, "n_iter_no_change": 10},
        "small": {"max_iter": 200, "max_depth": 3, "learning_rate": 0.3, "n_iter_no_change": 10},
    }

    def __init__(self, geometry: Any, hparams: Mapping[str, Any]) -> None:
        super().__init__(geometry, hparams)
        self.classifier: Any = None
        self.regressor: Any = None
        self.feature_names: list[str] = []
        self.calibration: np.ndarray | None = None

    def linear_calibration(self) -> np.ndarray | None:
        return self.calibration if self.target == "energy" else None

    def _estimator(self, kind: str, n_events: int) -> Any:
        try:
            from sklearn import ensemble
        except ImportError as exc:
            msg = "the 'bdt' model needs scikit-learn: pip install 'calogeo[bdt]'"
            raise MissingDependencyError(msg) from exc
        cls = (
            ensemble.HistGradientBoostingClassifier
            if kind == "classify"
            else ensemble.HistGradientBoostingRegressor
        )
        h = self.hparams
        return cls(
            max_iter=int(h["max_iter"]),
            max_depth=int(h["max_depth"]),
            learning_rate=float(h["learning_rate"]),
            early_stopping=n_events >= MIN_EVENTS_EARLY_STOPPING,
            n_iter_no_change=int(h["n_iter_no_change"]),
            random_state=int(h.get("seed", 0)),
        )

    def fit(self, train: Any, val: Any = None, **options: Any) -> list[dict[str, float]]:
        """Fit on all of ``train`` (the library holds out 10% for early stopping when there are
        at least 50 events)."""
        from calogeo.training import rank_auc

        showers = self.read_data(train)
        label, energy = self.targets(showers)
        self.feature_names, x = expert_features(showers)
        record: dict[str, float] = {"epoch": 1}
        if label is not None:
            require_two_classes(label, self.hparams["signal"], self.hparams["background"])
            self.classifier = self._estimator("classify", len(x)).fit(x, label)
            record["iterations_classify"] = float(self.classifier.n_iter_)
        if self.regresses:
            deposit = np.maximum(showers.total_energy(), MIN_DEPOSIT_GEV)
            self.regressor = self._estimator("regress", len(x)).fit(x, np.log(energy / deposit))
            record["iterations_regress"] = float(self.regressor.n_iter_)
            # the linear calibration on the same events, carried as a baseline of the predictions
            self.calibration = np.linalg.lstsq(group_design(showers), energy, rcond=None)[0]
        if val is not None:
            held = self.read_data(val)
            out = self.predict(held)
            if out.score is not None and out.label is not None:
                record["val_auc"] = rank_auc(out.score, out.label)
            if out.energy is not None:
                record["val_resolution"] = rms_resolution(out.energy, self.regression_target(held))
        self.history = [record]
        return self.history

    def predict(self, showers: Showers, **options: Any) -> Any:
        self.check_geometry(showers.geometry)
        if (self.classifies and self.classifier is None) or (
            self.regresses and self.regressor is None
        ):
            msg = f"model {self.name!r} is not trained yet (fit it or load a checkpoint)"
            raise CalogeoError(msg)
        _, x = expert_features(showers, self.feature_names)
        score = self.classifier.predict_proba(x)[:, 1] if self.classifies else None
        energy = None
        if self.regresses:
            deposit = np.maximum(showers.total_energy(), MIN_DEPOSIT_GEV)
            energy = deposit * np.exp(self.regressor.predict(x))
        return self.make_predictions(showers, score, energy)

    def get_state(self) -> dict[str, Any]:
        # scikit-learn estimators have no tensor form: they travel pickled, as bytes. The task's
        # absent estimator is left out: an empty b"" pickles as a call of bytes(), which
        # torch.load(weights_only=True) refuses (so `calogeo evaluate` could not read it).
        state: dict[str, Any] = {"feature_names": list(self.feature_names)}
        for key in ("classifier", "regressor"):
            if getattr(self, key) is not None:
                state[key] = pickle.dumps(getattr(self, key))
        if self.calibration is not None:
            state["calibration"] = self.calibration.tolist()
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        uses = (("classifier", self.classifies), ("regressor", self.regresses))
        missing = [key for key, used in uses if used and not state.get(key)]
        if missing:
            msg = f"model {self.name!r}: the checkpoint holds no trained {' or '.join(missing)}"
            raise CalogeoError(msg)
        self.feature_names = list(state.get("feature_names", []))
        if "calibration" in state:
            self.calibration = np.asarray(state["calibration"], dtype=np.float64)
        for key in ("classifier", "regressor"):
            blob = state.get(key)
            setattr(self, key, pickle.loads(blob) if blob else None)
