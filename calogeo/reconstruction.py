"""Reconstruction models: classify showers (signal vs background) and/or regress their energy.

:class:`ReconstructionModel` holds what every such model shares (task, signal/background
classes, the regressed quantity, predictions with their baselines); :class:`TorchModel` is the
base of the torch networks, trained by the supervised :class:`calogeo.trainer.Trainer`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from calogeo.errors import CalogeoError
from calogeo.geometry import Geometry
from calogeo.model import Model
from calogeo.particles import class_labels, particle_names
from calogeo.presets import TASKS
from calogeo.showers import Showers

if TYPE_CHECKING:
    from calogeo.energy_scale import EnergyScale
    from calogeo.predictions import Predictions

__all__ = [
    "INPUT_SCALE",
    "LINEAR_SCALE",
    "ReconstructionModel",
    "TorchModel",
    "group_design",
    "on_scale",
    "require_finite",
    "require_two_classes",
]

# energy scales of the linear calibration the networks refer to, and of what they see
LINEAR_SCALE: EnergyScale = "deposited"
INPUT_SCALE: EnergyScale = "deposited"


def require_finite(showers: Showers, what: str = "the data", *, incident: bool = True) -> None:
    """Raise a one-line CalogeoError if a cell energy (or, with ``incident``, an incident
    energy) of ``showers`` is NaN or infinite: models neither train on nor predict from them (a
    NaN would spread silently through the normalisation and the loss)."""
    n = len(showers)
    bad = ~np.isfinite(showers.incident_energy) if incident else np.zeros(n, dtype=bool)
    for layer in showers.layers if n else ():
        bad |= ~np.isfinite(layer.reshape(n, -1)).all(axis=1)
    if bad.any():
        msg = (
            f"{what} hold NaN or infinite energies ({int(bad.sum())} of the {n} events read "
            "here); models refuse them: drop or clean those events"
        )
        raise CalogeoError(msg)


def require_two_classes(label: np.ndarray, signal: list[str], background: list[str]) -> None:
    """Raise a one-line CalogeoError unless ``label`` (1 signal, 0 background) holds both: a
    classifier trained on one class learns nothing and validates to AUC NaN."""
    present = set(np.unique(label).tolist())
    if present != {0, 1}:
        only = ", ".join(signal if 1 in present else background) if present else "no events"
        msg = (
            f"the training data hold only one class ({only}): classifying needs signal "
            f"({', '.join(signal)}) and background ({', '.join(background)}) events; "
            "add the other particle's files or use --task regress"
        )
        raise CalogeoError(msg)


class ReconstructionModel(Model):
    """A model that classifies showers (signal vs background) and/or regresses their energy.

    Hyper-parameters common to all of them: ``task`` ("classify", "regress" or "both"),
    ``signal`` and ``background`` (lists of particle names, see :data:`PARTICLE_PDG`) and
    ``target``, what is regressed: ``"energy"`` (the incident energy in GeV, the default) or
    the name of a positive per-event label of the showers, e.g. ``"multiplicity"`` (the number
    of particles in a LUXE bunch) or ``"energy_mean_gev"``.
    """

    kind: ClassVar[tuple[str, ...]] = ("classify", "regress")

    @classmethod
    def extra_hparams(cls) -> tuple[str, ...]:
        return ("task", "signal", "background", "seed", "target")

    def __init__(self, geometry: Geometry, hparams: Mapping[str, Any]) -> None:
        hparams = {
            "task": "both",
            "signal": ["gamma"],
            "background": ["pi0"],
            "target": "energy",
            **hparams,
        }
        hparams["signal"] = particle_names(hparams["signal"])
        hparams["background"] = particle_names(hparams["background"])
        super().__init__(geometry, hparams)
        task = self.task
        if task not in TASKS:
            msg = f"--task {task!r}: expected one of {', '.join(TASKS)}"
            raise CalogeoError(msg)
        needed = {
            "classify": ("classify",),
            "regress": ("regress",),
            "both": ("classify", "regress"),
        }
        missing = [t for t in needed[task] if t not in self.kind]
        if missing:
            msg = f"model {self.name!r} cannot {missing[0]} (--task {task}); it does {', '.join(self.kind)}"
            raise CalogeoError(msg)

    @property
    def task(self) -> str:
        """ "classify", "regress" or "both"."""
        return str(self.hparams["task"])

    @property
    def classifies(self) -> bool:
        """True if the model outputs a signal score."""
        return self.task in ("classify", "both")

    @property
    def regresses(self) -> bool:
        """True if the model outputs an energy."""
        return self.task in ("regress", "both")

    @property
    def target(self) -> str:
        """The regressed quantity: "energy" or the name of a per-event label."""
        return str(self.hparams["target"])

    def regression_target(self, showers: Showers) -> np.ndarray:
        """(N,) float64: the true value of the regressed quantity, the incident energy (GeV) or
        the ``target`` label. Raises a CalogeoError if the showers lack that label."""
        if self.target == "energy":
            return showers.incident_energy.astype(np.float64)
        if self.target not in showers.labels:
            known = ", ".join(sorted(showers.labels)) or "none"
            msg = (
                f"--target {self.target!r}: showers on {showers.geometry.name!r} have no such "
                f"label (labels: {known})"
            )
            raise CalogeoError(msg)
        return showers.labels[self.target].astype(np.float64).reshape(len(showers))

    def targets(self, showers: Showers) -> tuple[np.ndarray | None, np.ndarray]:
        """(class labels or None, true regressed quantity) of ``showers`` for this task."""
        label = (
            class_labels(showers, self.hparams["signal"], self.hparams["background"])
            if self.classifies
            else None
        )
        return label, self.regression_target(showers)

    def read_data(self, data: Any) -> Showers:
        """All events of ``data`` (Showers, shower files or sources) in memory, after checking
        that every source is on the model's geometry."""
        from calogeo.streams import as_sources, read_all

        sources = as_sources(data, self.geometry)
        for source in sources:
            self.check_geometry(source.geometry, str(source.path))
        showers = read_all(sources)
        require_finite(showers, ", ".join(str(getattr(s, "path", "the data")) for s in sources))
        return showers

    def linear_calibration(self) -> np.ndarray | None:
        """Coefficients (a_g..., c) of the linear calibration E = sum_g a_g E_g + c of the
        deposited group energies (:func:`group_design`) fitted on the training data, carried
        into the predictions as a baseline; None if the model has none."""
        return None

    def make_predictions(
        self, showers: Showers, score: np.ndarray | None, energy: np.ndarray | None
    ) -> Predictions:
        """Wrap per-event outputs (signal probability, regressed quantity: energy in GeV or the
        ``target`` label; None where the task has none) as Predictions, with the true labels
        when the showers carry them."""
        from calogeo.predictions import Predictions

        try:
            label = class_labels(showers, self.hparams["signal"], self.hparams["background"])
        except CalogeoError:
            label = None
        truth = showers.incident_energy.astype(np.float64)
        if self.regresses and self.target != "energy":  # unknown (NaN) where unlabelled
            known = self.target in showers.labels
            truth = self.regression_target(showers) if known else np.full(len(showers), np.nan)
        baselines: dict[str, np.ndarray | None] = {}
        if self.regresses and self.target == "energy":
            from calogeo.energy_scale import calibrated_sum

            coefficients = self.linear_calibration()
            baselines["calibrated_sum"] = calibrated_sum(showers)
            baselines["linear_calibration"] = (
                None if coefficients is None else group_design(showers) @ coefficients
            )
        return Predictions(
            **baselines,
            incident_energy=truth,
            energy=energy,
            label=label,
            score=score,
            theta=showers.labels.get("theta"),
            model=self.name,
            geometry=self.geometry.name,
            signal=",".join(self.hparams["signal"]),
            background=",".join(self.hparams["background"]),
            task=self.task,
            quantity=self.target if self.regresses else "energy",
        )


def group_design(showers: Showers, scale: EnergyScale = "deposited") -> np.ndarray:
    """(N, n_groups + 1) float64: the energy of every layer group (GeV) on ``scale`` (see
    :func:`calogeo.energy_scale.group_energies`), then ones: the design matrix of the linear
    energy calibration E = sum_g a_g E_g + b. Deposited energy by default: a group whose layers
    have different sampling fractions (the CLIC ECAL's thick back layers) is only linear in
    the incident energy on that scale."""
    from calogeo.energy_scale import group_energies

    sums = group_energies(showers, scale)
    return np.concatenate([sums, np.ones((len(showers), 1))], axis=1)


def on_scale(showers: Showers, scale: EnergyScale) -> Showers:
    """``showers`` with their cells on energy ``scale`` (``"visible"``: as stored, the same
    object; ``"deposited"``: each layer divided by its sampling fraction)."""
    from calogeo.energy_scale import convert_layers

    if scale == "visible":
        return showers
    layers = convert_layers(showers.geometry, showers.layers, "visible", scale)
    return Showers(showers.geometry, layers, showers.incident_energy, showers.labels)


def _channels_last(tensor: Any) -> Any:
    """A voxel batch (N, C, D, H, W) in channels-last order, which the CPU (oneDNN) and GPU
    convolutions run faster on (small 3D CNN training step on 2 CPU cores, 64 CLIC showers:
    46 -> 27 ms); other inputs as given."""
    import torch

    if tensor.dim() == 5:
        return tensor.to(memory_format=torch.channels_last_3d)
    return tensor


class TorchModel(ReconstructionModel):
    """Base of the torch reconstruction models: subclasses set ``view`` and define
    :meth:`backbone`; training is done by the shared :class:`calogeo.trainer.Trainer`.

    The network is input normalisation -> backbone (view inputs -> features) -> dense head that
    sees the features and the global features (group energies, estimated angles) at its first
    and last layer -> signal logit and energy log ratio (see :mod:`calogeo.trainer`). Head
    hyper-parameters: ``dense_layers``, ``dense_units``, ``dropout``; training ones: ``epochs``,
    ``batch_size``, ``lr``, ``weight_decay``, ``patience``, ``mse_weight`` (of the energy MSE in
    units of the variance of its target, see :meth:`log_ratio_variance`), ``seed``.
    Cells enter as log(1 + E / s) of their deposited energy (visible over the layer's sampling
    fraction, so a change of sampling fraction is no step in the input), s the median non-zero
    cell energy of the training set; group energies as standardised logs, angles standardised.
    """

    def __init__(self, geometry: Geometry, hparams: Mapping[str, Any]) -> None:
        super().__init__(geometry, hparams)
        from calogeo.views import InputView

        self.input_view = InputView(geometry, self.view)
        self._norm: dict[str, Any] = {}
        self._net: Any = None
        self.options()  # bad training hyper-parameters (lr, batch_size...) fail here, at build

    @classmethod
    def extra_hparams(cls) -> tuple[str, ...]:
        return (*super().extra_hparams(), "weight_decay", "augment")

    def backbone(self, shapes: list[tuple[int, ...]]) -> tuple[Any, int]:
        """A torch module mapping the list of view inputs, each (N, *shape), to features
        (N, F), and F. ``shapes`` are the per-event shapes of the view's inputs."""
        raise NotImplementedError

    # -- the network -------------------------------------------------------------------------

    @property
    def network(self) -> Any:
        """The torch module, built on first use deterministically from the ``seed`` hparam."""
        if self._net is None:
            import torch

            from calogeo.trainer import Network

            try:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(self.hparams.get("seed", 0)))
                    body, n_features = self.backbone(self.input_view.shapes)
                    self._net = Network(
                        body,
                        n_features,
                        self.input_view.n_globals,
                        layers=int(self.hparams.get("dense_layers", 2)),
                        units=int(self.hparams.get("dense_units", 128)),
                        dropout=float(self.hparams.get("dropout", 0.0)),
                    )
            except (RuntimeError, ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                msg = (
                    f"model {self.name!r} cannot build its network on {self.geometry.name!r} "
                    f"with these hyper-parameters ({_hparam_text(self.hparams)}): "
                    f"{type(exc).__name__}: {detail}"
                )
                raise CalogeoError(msg) from exc
        return self._net

    def get_state(self) -> dict[str, Any]:
        return {k: v.detach().cpu() for k, v in self.network.state_dict().items()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Load the network weights; a checkpoint without them (or with others) is refused
        rather than left to predict with untrained weights."""
        if not state:
            msg = f"model {self.name!r}: the checkpoint holds no network weights (empty state)"
            raise CalogeoError(msg)
        try:
            self.network.load_state_dict(dict(state))
        except (RuntimeError, KeyError, TypeError) as exc:
            detail = " ".join(str(exc).split())[:300]
            msg = f"model {self.name!r}: the checkpoint's weights do not fit the network: {detail}"
            raise CalogeoError(msg) from exc

    def normalisation(self) -> dict[str, Any]:
        return dict(self._norm)

    def set_normalisation(self, values: Mapping[str, Any]) -> None:
        self._norm = dict(values)

    def fit_normalisation(self, showers: Showers) -> None:
        """Input scales from a sample of the training set: median non-zero cell energy (GeV),
        mean and spread of the log group energies and of the angles; and the reference of the
        regressed quantity T: the least-squares T = sum_g a_g E_g + b over the deposited
        energies E_g of the layer groups (Belayneh et al. Eq. 2 for T = E), floored at 5% of
        the median true T."""
        seen = on_scale(showers, INPUT_SCALE)
        g = self._log_globals(seen)
        flat = seen.flat()
        nonzero = flat[flat > 0]
        e_true = self.regression_target(showers)
        linear, *_ = np.linalg.lstsq(group_design(showers, LINEAR_SCALE), e_true, rcond=None)
        self._norm = {
            "input_scale": INPUT_SCALE,
            "linear_scale": LINEAR_SCALE,
            "cell_scale_gev": float(np.median(nonzero)) if len(nonzero) else 1e-3,
            "global_mean": g.mean(axis=0).tolist(),
            "global_std": np.maximum(g.std(axis=0), 1e-6).tolist(),
            "linear": linear.tolist(),
            "e_ref_floor_gev": float(0.05 * np.median(e_true)),
        }

    def reference_energy(self, showers: Showers) -> np.ndarray:
        """(N,) the linear calibration of the group energies, floored (GeV): E = E_ref exp(r)."""
        # checkpoints from before the deposited scale hold a fit of the visible energies
        scale = self._norm.get("linear_scale", "visible")
        e_lin = group_design(showers, scale) @ np.asarray(self._norm["linear"])
        return np.maximum(e_lin, self._norm["e_ref_floor_gev"])

    def linear_calibration(self) -> np.ndarray | None:
        if self.target != "energy" or self._norm.get("linear_scale") != LINEAR_SCALE:
            return None
        return np.asarray(self._norm["linear"], dtype=np.float64)

    def _log_globals(self, showers: Showers) -> np.ndarray:
        from calogeo.trainer import MIN_DEPOSIT_GEV
        from calogeo.views import global_features

        g = global_features(showers).astype(np.float64)
        n_groups = len(self.geometry.groups)
        g[:, :n_groups] = np.log(g[:, :n_groups] + MIN_DEPOSIT_GEV)
        return g

    def encode(self, showers: Showers, device: Any, with_targets: bool) -> Any:
        """A :class:`calogeo.trainer.Batch` of tensors on ``device`` for ``showers``."""
        import torch

        from calogeo.trainer import LOG_RATIO_CLIP, Batch

        require_finite(showers, incident=with_targets)  # every batch, trained on or predicted
        norm = self._norm
        scale = np.float32(norm["cell_scale_gev"])
        # checkpoints from before the deposited scale saw visible energies
        seen = on_scale(showers, norm.get("input_scale", "visible"))
        inputs = [
            _channels_last(torch.from_numpy(np.log1p(np.maximum(a, 0.0) / scale)).to(device))
            for a in self.input_view(seen)
        ]
        g = (self._log_globals(seen) - np.asarray(norm["global_mean"])) / np.asarray(
            norm["global_std"]
        )
        e_ref = self.reference_energy(showers)
        log_ratio = np.zeros(len(showers))
        label = None
        if with_targets:
            e_true = np.maximum(self.regression_target(showers), 1e-9)
            log_ratio = np.clip(np.log(e_true / e_ref), -LOG_RATIO_CLIP, LOG_RATIO_CLIP)
        if with_targets and self.classifies:
            classes = class_labels(showers, self.hparams["signal"], self.hparams["background"])
            label = torch.from_numpy(classes.astype(np.float32)).to(device)
        return Batch(
            inputs=inputs,
            globals=torch.from_numpy(g.astype(np.float32)).to(device),
            e_ref=torch.from_numpy(e_ref).to(device),
            label=label,
            log_ratio=torch.from_numpy(log_ratio.astype(np.float32)).to(device),
        )

    # -- training and prediction -------------------------------------------------------------

    def options(self, **overrides: Any) -> Any:
        """:class:`calogeo.trainer.TrainOptions` from the hyper-parameters, then ``overrides``
        (None values keep the hyper-parameter)."""
        from calogeo.trainer import TrainOptions

        names = (
            "epochs",
            "batch_size",
            "lr",
            "weight_decay",
            "patience",
            "mse_weight",
            "seed",
            "augment",
        )
        base = {k: self.hparams[k] for k in names if k in self.hparams}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return TrainOptions(**base)

    def fit(self, train: Any, val: Any = None, **options: Any) -> list[dict[str, float]]:
        """Train with the shared trainer on Showers or shower files; ``options`` override
        :class:`calogeo.trainer.TrainOptions`. Returns the per-epoch history."""
        from calogeo.trainer import Trainer

        opts = self.options(**options)
        train_stream, val_stream = self.training_streams(train, val, opts.val_fraction, opts.seed)
        sample = next(train_stream.batches(4096, np.random.default_rng(opts.seed)))
        require_finite(sample, "the training data")
        label, _ = self.targets(sample)  # a bad pdg label fails here, before any training
        if label is not None:
            require_two_classes(label, self.hparams["signal"], self.hparams["background"])
        self.network  # noqa: B018 - impossible hyper-parameters fail before any training
        self.fit_normalisation(sample)
        if self.regresses:  # the energy MSE in units of the reference's own spread
            opts = replace(opts, mse_weight=opts.mse_weight / self.log_ratio_variance(sample))
        Trainer(self, opts).run(train_stream, val_stream)
        return self.history

    def log_ratio_variance(self, showers: Showers) -> float:
        """Variance of the regression target log(T / T_ref) on ``showers`` (floored at 1e-4,
        a 1% spread, so a reference exact on its sample does not swamp the classification).

        The trainer weights the energy MSE by ``mse_weight`` over this variance, so the
        regression counts as much as the classification whatever the reference's accuracy:
        unweighted, the MSE of a 2.4% reference (6e-4) is invisible beside a cross entropy of
        ~0.1 and the energy output stays at the reference."""
        from calogeo.trainer import LOG_RATIO_CLIP

        truth = np.maximum(self.regression_target(showers), 1e-9)
        log_ratio = np.log(truth / self.reference_energy(showers))
        return max(float(np.var(np.clip(log_ratio, -LOG_RATIO_CLIP, LOG_RATIO_CLIP))), 1e-4)

    def predict(self, showers: Showers, **options: Any) -> Predictions:
        """Scores and energies for ``showers``; options ``batch_size`` (256), ``device``."""
        import torch

        from calogeo.device import resolve_device, torch_owns_the_cores
        from calogeo.training import autocast

        self.check_geometry(showers.geometry)
        if not self._norm:
            msg = f"model {self.name!r} is not trained yet (fit it or load a checkpoint)"
            raise CalogeoError(msg)
        device = resolve_device(options.get("device", "auto"))
        net = self.network.to(device).eval()
        logits, energies = [], []
        with torch.no_grad(), torch_owns_the_cores():
            for part in showers.batches(int(options.get("batch_size", 256))):
                batch = self.encode(part, device, with_targets=False)
                with autocast(device):
                    out = net(batch.inputs, batch.globals).float()
                logits.append(out[:, 0].double().cpu().numpy())
                energies.append((batch.e_ref * torch.exp(out[:, 1].double())).cpu().numpy())
        score = 1.0 / (1.0 + np.exp(-np.concatenate([np.empty(0), *logits])))
        energy = np.concatenate([np.empty(0), *energies])
        return self.make_predictions(
            showers, score if self.classifies else None, energy if self.regresses else None
        )


def _hparam_text(hparams: Mapping[str, Any]) -> str:
    """The hyper-parameters that size a network, as ``name=value`` (numbers and lists; not
    the training options such as ``lr``)."""
    from calogeo.trainer import TrainOptions

    training = set(TrainOptions.__dataclass_fields__)
    numeric = {k: v for k, v in sorted(hparams.items()) if k not in training and _numeric(v)}
    return ", ".join(f"{k}={v}" for k, v in numeric.items())


def _numeric(value: Any) -> bool:
    if isinstance(value, list):
        return all(_numeric(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)
