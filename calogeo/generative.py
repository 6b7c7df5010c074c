"""Generative models: networks that produce showers on any geometry, conditioned on the incident
energy (and, where a model takes them, the polar angle, the azimuth and the particle type).

A generative model works on an input view (:mod:`calogeo.views`): ``layers`` models generate
each layer block's own image (CaloGAN's per-layer streams), ``voxels`` models a regular grid per
layer group that :meth:`calogeo.views.InputView.to_cells` maps back onto the geometry's cells
with the energy-conserving transpose of the view's resampling. So one model class runs on a
grid, on ATLAS eta-phi strips, on CaloChallenge r-alpha cells or on a plugin's hexagons.

What a model class implements (the protocol the adversarial trainer drives,
:mod:`calogeo.adversarial`):

- ``build_networks() -> dict[str, nn.Module]``: every network, with at least ``"generator"``;
  built from ``self.input_view.shapes`` (per-event view shapes) and ``self.n_conditions``;
- ``sample(nets, cond, generator) -> list[Tensor]``: view arrays (N, *shape) in image units
  (GeV / ``image_unit_gev``), non-negative, for conditions ``cond`` (N, n_conditions); random
  numbers drawn with the given ``torch.Generator`` (None: the global one); keyword options
  named in ``generation_options`` come from ``generate`` (e.g. the BIB-AE's ``postprocess``);
- ``loss(phase, nets, batch) -> (loss, logs)`` for ``phase`` "critic" and "generator"
  (``phase_networks`` names the networks each phase updates; the generator phase runs every
  ``n_critic``-th step); ``batch`` is a :class:`GenBatch`;
- optionally ``optimiser(name, params)`` (default: Adam with ``lr_<name>`` and ``betas``),
  ``pretrain(nets, stream, device)`` (e.g. the WGAN's energy constrainer, trained on the
  reference before the GAN), ``on_epoch_start(nets, optimisers, epoch)`` (e.g. the BIB-AE's
  critic resets) and ``posttrain(nets, stream, device)`` (e.g. the BIB-AE's post-processor,
  trained on the frozen networks after the last adversarial epoch).

Units: images are cell energies on the visible scale (what the files store) divided by
``image_unit_gev`` (fitted on the training data: the median of the events' largest cell), so
networks see numbers of order one; conditions are E / ``energy_unit_gev`` (the largest
training energy), theta and phi in rad, then a one-hot particle class when the training data
hold several particles. Generated cells below the training data's readout threshold (per layer,
the smallest non-zero cell energy seen in training) are set to zero.

Response calibration: after training (and the ``posttrain`` stage) the model fits a
:class:`calogeo.response_map.ResponseMap` per particle on the training showers and showers it
generates at their energies, and ``generate`` applies it: each shower is scaled so that its
E_visible / E_incident sits at the training data's value of the same quantile at that energy.
It fixes the mean response and resolution, which a generator trained for minutes gets wrong by
tens of percent, and leaves the shapes to the network. Hyper-parameter ``calibrate_response``
(default true) turns it off; ``generate(..., calibrated=False)`` shows the network's own output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from calogeo.errors import CalogeoError
from calogeo.geometry import Geometry
from calogeo.incident import energy_array
from calogeo.model import Model
from calogeo.particles import particle_pdg
from calogeo.response_map import ResponseMap, visible_fraction
from calogeo.showers import Showers

if TYPE_CHECKING:
    import torch
    from torch import nn

    from calogeo.adversarial import AdversarialOptions

__all__ = ["CALIBRATION_SHOWERS", "CONDITIONS", "GenBatch", "GenerativeModel"]

CONDITIONS = ("energy", "theta", "phi")
"""Continuous conditions a model may take, in the order of the condition columns."""
CALIBRATION_SHOWERS = 20000
"""Most training showers the response calibration is fitted on."""
PRECISIONS = ("fp32", "bf16")
"""Arithmetic of :meth:`GenerativeModel.generate`'s networks: float32 or bfloat16."""


@dataclass
class GenBatch:
    """A training batch as tensors: ``real`` view arrays in image units, ``cond`` (N,
    n_conditions) conditions, ``energy_gev`` (N,) incident energies."""

    real: list[torch.Tensor]
    cond: torch.Tensor
    energy_gev: torch.Tensor


class GenerativeModel(Model):
    """Base of the generative models (kind ``generate``); see the module docstring for what a
    subclass implements. Hyper-parameters every one takes: ``epochs``, ``batch_size``,
    ``n_critic``, ``ema`` (decay of the generator's exponential moving average, 0: off),
    ``label_switch`` (probability of swapping real/fake targets in BCE losses), ``lr_<network>``
    (learning rates), ``seed``."""

    kind: ClassVar[tuple[str, ...]] = ("generate",)
    view: ClassVar[str] = "voxels"
    conditions: ClassVar[tuple[str, ...]] = ("energy",)
    phase_networks: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "critic": ("critic",),
        "generator": ("generator",),
    }
    generation_options: ClassVar[tuple[str, ...]] = ()
    """Keyword options of ``generate`` that this model's ``sample`` takes."""

    def __init__(self, geometry: Geometry, hparams: Mapping[str, Any]) -> None:
        super().__init__(geometry, hparams)
        from calogeo.views import InputView

        unknown = [c for c in self.conditions if c not in CONDITIONS]
        if unknown:
            msg = f"model {self.name!r}: unknown conditions {unknown} (known: {CONDITIONS})"
            raise CalogeoError(msg)
        self.input_view = InputView(geometry, self.view)
        self._norm: dict[str, Any] = {}
        self._nets: dict[str, nn.Module] | None = None
        self.training_state: dict[str, Any] = {}
        """Optimiser states, epoch and random state of an interrupted or finished run: what
        ``fit(resume=True)`` continues from (kept in the checkpoint)."""
        self.label_switch = 0.0  # set by the trainer while training

    @classmethod
    def extra_hparams(cls) -> tuple[str, ...]:
        return (
            "seed",
            "epochs",
            "batch_size",
            "n_critic",
            "ema",
            "label_switch",
            "calibrate_response",
        )

    # -- what a subclass implements ----------------------------------------------------------

    def build_networks(self) -> dict[str, nn.Module]:
        """Every network of the model, with at least ``"generator"``."""
        raise NotImplementedError

    def sample(
        self, nets: Mapping[str, nn.Module], cond: torch.Tensor, generator: Any = None
    ) -> list[torch.Tensor]:
        """View arrays (N, *shape) in image units, non-negative, for conditions ``cond``."""
        raise NotImplementedError

    def loss(
        self, phase: str, nets: Mapping[str, nn.Module], batch: GenBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of ``phase`` ("critic" or "generator") on ``batch``, and numbers to log."""
        raise NotImplementedError

    def optimiser(self, name: str, params: Any) -> torch.optim.Optimizer:
        """The optimiser of network ``name``: Adam with ``lr_<name>`` (default 1e-4) and
        ``betas`` (default (0.5, 0.999))."""
        import torch

        lr = float(self.hparams.get(f"lr_{name}", 1e-4))
        betas = tuple(self.hparams.get("betas", (0.5, 0.999)))
        return torch.optim.Adam(params, lr=lr, betas=(float(betas[0]), float(betas[1])))

    def pretrain(self, nets: Mapping[str, nn.Module], stream: Any, device: Any) -> None:
        """Anything trained before the adversarial loop (nothing by default)."""

    def on_epoch_start(
        self, nets: Mapping[str, nn.Module], optimisers: Mapping[str, Any], epoch: int
    ) -> None:
        """Called by the trainer before each epoch (nothing by default)."""

    def posttrain(self, nets: Mapping[str, nn.Module], stream: Any, device: Any) -> None:
        """Anything trained after the last adversarial epoch, on the training stream (nothing
        by default); runs again when a resumed run finishes."""

    # -- networks, conditions and units ------------------------------------------------------

    @property
    def nets(self) -> dict[str, nn.Module]:
        """The networks, built on first use deterministically from the ``seed`` hparam."""
        if self._nets is None:
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.hparams.get("seed", 0)))
                self._nets = dict(self.build_networks())
            if "generator" not in self._nets:
                msg = f"model {self.name!r}: build_networks() returned no 'generator'"
                raise CalogeoError(msg)
        return self._nets

    @property
    def particles(self) -> list[int]:
        """PDG ids of the particle classes (sorted); one-hot columns of the conditions when
        there are several."""
        return [int(p) for p in self._norm.get("particles", [])]

    @property
    def n_conditions(self) -> int:
        """Number of condition columns."""
        n_particles = len(self._norm.get("particles", []))
        return len(self.conditions) + (n_particles if n_particles > 1 else 0)

    @property
    def image_unit_gev(self) -> float:
        """GeV per image unit."""
        return float(self._norm["image_unit_gev"])

    @property
    def energy_unit_gev(self) -> float:
        """GeV per unit of the energy condition."""
        return float(self._norm["energy_unit_gev"])

    def normalisation(self) -> dict[str, Any]:
        return dict(self._norm)

    def set_normalisation(self, values: Mapping[str, Any]) -> None:
        self._norm = dict(values)

    def fit_normalisation(self, showers: Showers) -> None:
        """Units, particle classes and readout thresholds from a sample of the training set."""
        flat = showers.flat()
        largest = flat.max(axis=1)
        pdg = showers.labels.get("pdg")
        offsets = self.geometry.layer_offsets
        thresholds = []
        for i in range(self.geometry.n_layers):
            layer = flat[:, offsets[i] : offsets[i + 1]]
            positive = layer[layer > 0]
            thresholds.append(float(positive.min()) if positive.size else 0.0)
        self._norm = {
            "image_unit_gev": float(np.median(largest[largest > 0]))
            if np.any(largest > 0)
            else 1.0,
            "energy_unit_gev": float(showers.incident_energy.max()),
            "particles": sorted({int(p) for p in np.asarray(pdg).ravel()})
            if pdg is not None
            else [],
            "threshold_gev": thresholds,
        }

    def condition_array(
        self,
        energy_gev: np.ndarray,
        theta: np.ndarray | None = None,
        phi: np.ndarray | None = None,
        pdg: np.ndarray | None = None,
    ) -> np.ndarray:
        """(N, n_conditions) float32 condition columns (see the module docstring)."""
        n = len(energy_gev)
        columns = {
            "energy": np.asarray(energy_gev, dtype=np.float64) / self.energy_unit_gev,
            "theta": np.zeros(n) if theta is None else np.asarray(theta, dtype=np.float64),
            "phi": np.zeros(n) if phi is None else np.asarray(phi, dtype=np.float64),
        }
        parts = [columns[c].reshape(n, 1) for c in self.conditions]
        classes = self.particles
        if len(classes) > 1:
            codes = np.full(n, classes[0]) if pdg is None else np.asarray(pdg).reshape(n)
            index = np.searchsorted(classes, codes)
            bad = (index >= len(classes)) | (
                np.asarray(classes)[np.minimum(index, len(classes) - 1)] != codes
            )
            if np.any(bad):
                msg = f"particle PDG id {codes[bad][0]} is not one the model was trained on ({classes})"
                raise CalogeoError(msg)
            parts.append(np.eye(len(classes))[index])
        return np.concatenate(parts, axis=1).astype(np.float32)

    def encode(self, showers: Showers, device: Any) -> GenBatch:
        """A :class:`GenBatch` on ``device`` for training showers."""
        import torch

        def label(name: str) -> np.ndarray | None:
            value = showers.labels.get(name)
            return None if value is None else np.asarray(value).reshape(len(showers))

        cond = self.condition_array(
            showers.incident_energy, label("theta"), label("phi"), label("pdg")
        )
        unit = np.float32(1.0 / self.image_unit_gev)
        real = [
            torch.from_numpy(np.maximum(a, 0.0) * unit).to(device) for a in self.input_view(showers)
        ]
        return GenBatch(
            real=real,
            cond=torch.from_numpy(cond).to(device),
            energy_gev=torch.from_numpy(showers.incident_energy.astype(np.float32)).to(device),
        )

    # -- generation --------------------------------------------------------------------------

    def generation_networks(self) -> dict[str, nn.Module]:
        """The networks used to generate: the generator's moving average where kept."""
        nets = dict(self.nets)
        if "generator_ema" in nets:
            nets["generator"] = nets["generator_ema"]
        return nets

    def generate(
        self,
        energies: float | Sequence[float] | np.ndarray,
        particle: str | None = None,
        n: int | None = None,
        *,
        theta: float | np.ndarray | None = None,
        phi: float | np.ndarray | None = None,
        batch_size: int = 1024,
        device: str = "auto",
        seed: int | None = 0,
        threshold_gev: float | np.ndarray | None = None,
        calibrated: bool = True,
        precision: str = "fp32",
        **options: Any,
    ) -> Showers:
        """Showers at incident ``energies`` (GeV; a scalar with ``n`` gives ``n`` showers) on
        the model's geometry: non-negative, cells below the readout threshold of the training
        data (or ``threshold_gev``, per layer or one number, GeV visible) set to zero.

        ``theta``, ``phi`` (rad) where the model is conditioned on them; ``particle`` (a name
        or PDG number) where it was trained on several; ``seed`` makes the output reproducible
        on one device (None: not seeded); ``calibrated`` applies the response calibration where
        the model has one (module docstring); ``precision`` "bf16" runs the networks' products
        in bfloat16 (autocast; faster where the CPU has bfloat16 instructions; shower totals
        and largest cells ~0.1-2% off), "fp32" (default) in float32; cells and thresholds are
        float32 either way; ``options``: the model's ``generation_options``.
        Labels stored: ``pdg`` and the angles given.
        """
        import torch

        from calogeo.device import resolve_device, torch_owns_the_cores

        unknown = sorted(set(options) - set(self.generation_options))
        if unknown:
            msg = f"generate: unknown options {', '.join(unknown)} for model {self.name!r}"
            raise CalogeoError(msg)
        if precision not in PRECISIONS:
            msg = f"generate: precision {precision!r}: one of {', '.join(PRECISIONS)}"
            raise CalogeoError(msg)
        if not self._norm:
            msg = f"model {self.name!r} is not trained yet (fit it or load a checkpoint)"
            raise CalogeoError(msg)
        energy = energy_array(energies, n)
        if not np.all(np.isfinite(energy) & (energy > 0)):
            msg = "generate: energies must be positive (GeV)"
            raise CalogeoError(msg)
        count = len(energy)
        angles = {"theta": theta, "phi": phi}
        for name, value in angles.items():
            if value is not None and name not in self.conditions:
                msg = f"model {self.name!r} is not conditioned on {name}"
                raise CalogeoError(msg)
        theta_a = None if theta is None else np.broadcast_to(np.asarray(theta, float), (count,))
        phi_a = None if phi is None else np.broadcast_to(np.asarray(phi, float), (count,))
        pdg = self._particle_code(particle)
        cond = self.condition_array(energy, theta_a, phi_a, np.full(count, pdg))
        thresholds = self._thresholds(threshold_gev)
        response_map = self._response_map(pdg) if calibrated else None
        dev = resolve_device(device)
        nets = {k: v.to(dev).eval() for k, v in self.generation_networks().items()}
        rng = None
        if seed is not None:
            rng = torch.Generator(device=dev)
            rng.manual_seed(int(seed))
        cells = np.empty((count, self.geometry.n_cells), dtype=np.float32)
        step = max(1, int(batch_size))
        low = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")
        with torch.inference_mode(), torch_owns_the_cores():
            for first in range(0, count, step):
                part = torch.from_numpy(cond[first : first + step]).to(dev)
                with low:
                    sampled = self.sample(nets, part, rng, **options)
                arrays = [a.float() * self.image_unit_gev for a in sampled]
                flat = self.input_view.to_cells(arrays).clamp_min_(0.0)
                flat = torch.where(flat < thresholds.to(dev), torch.zeros_like(flat), flat)
                cells[first : first + len(part)] = flat.cpu().numpy()
        if response_map is not None:
            _calibrate(cells, energy, response_map, thresholds.numpy())
        labels: dict[str, np.ndarray] = {"pdg": np.full(count, pdg, dtype=np.int32)}
        if theta_a is not None:
            labels["theta"] = theta_a.astype(np.float32)
        if phi_a is not None:
            labels["phi"] = phi_a.astype(np.float32)
        return Showers.from_flat(self.geometry, cells, energy, labels)

    def _response_map(self, pdg: int) -> ResponseMap | None:
        """The response map of particle ``pdg``, None where the model has none."""
        state = self._norm.get("response_map", {}).get(str(pdg))
        return None if state is None else ResponseMap.from_state(state)

    def calibrate_response(self, stream: Any, device: Any) -> None:
        """Fit the response calibration (module docstring) on up to
        :data:`CALIBRATION_SHOWERS` showers of the training ``stream`` and showers generated at
        their conditions, one map per particle; nothing when ``calibrate_response`` is false."""
        self._norm.pop("response_map", None)
        if not self.hparams.get("calibrate_response", True):
            return
        seed = int(self.hparams.get("seed", 0))
        sample = next(stream.batches(CALIBRATION_SHOWERS, np.random.default_rng(seed)), None)
        if sample is None:
            return
        labels = {k: np.asarray(v).reshape(len(sample)) for k, v in sample.labels.items()}
        codes = labels.get("pdg", np.zeros(len(sample), dtype=int))
        maps = {}
        for pdg in np.unique(codes):
            part = sample[np.flatnonzero(codes == pdg)]
            angles = {a: labels[a][codes == pdg] for a in ("theta", "phi") if a in labels}
            angles = {a: v for a, v in angles.items() if a in self.conditions}
            particle = str(int(pdg)) if len(self.particles) > 1 else None
            generated = self.generate(
                part.incident_energy,
                particle,
                device=str(device),
                seed=seed,
                calibrated=False,
                **angles,
            )
            maps[str(int(pdg))] = ResponseMap.fit(
                part.incident_energy, visible_fraction(part), visible_fraction(generated)
            ).state()
        self._norm["response_map"] = maps

    def _particle_code(self, particle: str | None) -> int:
        classes = self.particles
        if particle is None:
            if len(classes) > 1:
                names = ", ".join(str(c) for c in classes)
                msg = f"model {self.name!r} was trained on several particles ({names}): choose one"
                raise CalogeoError(msg)
            return classes[0] if classes else 0
        code = particle_pdg(particle)
        if classes and code not in classes:
            msg = f"model {self.name!r} was trained on PDG ids {classes}, not {particle!r}"
            raise CalogeoError(msg)
        return code

    def _thresholds(self, threshold_gev: float | np.ndarray | None) -> torch.Tensor:
        """(n_cells,) per-cell threshold (GeV)."""
        import torch

        if threshold_gev is None:
            per_layer = np.asarray(self._norm.get("threshold_gev", 0.0), dtype=np.float64)
        else:
            per_layer = np.asarray(threshold_gev, dtype=np.float64)
        per_layer = np.broadcast_to(per_layer, (self.geometry.n_layers,))
        per_cell = np.repeat(per_layer, np.diff(self.geometry.layer_offsets))
        return torch.from_numpy(per_cell.astype(np.float32))

    # -- training ----------------------------------------------------------------------------

    def options(self, **overrides: Any) -> AdversarialOptions:
        """:class:`calogeo.adversarial.AdversarialOptions` from the hyper-parameters, then
        ``overrides`` (None values keep the hyper-parameter)."""
        from calogeo.adversarial import AdversarialOptions

        names = ("epochs", "batch_size", "n_critic", "ema", "label_switch", "seed")
        base = {k: self.hparams[k] for k in names if k in self.hparams}
        base.update({k: v for k, v in overrides.items() if v is not None})
        return AdversarialOptions(**base)

    def fit(self, train: Any, val: Any = None, **options: Any) -> list[dict[str, float]]:
        """Train with the adversarial trainer on Showers or shower files; ``options`` override
        :class:`calogeo.adversarial.AdversarialOptions` (``resume=True`` continues the run
        this model was loaded from). Returns the per-epoch history."""
        from calogeo.adversarial import AdversarialTrainer

        opts = self.options(**options)
        train_stream, val_stream = self.training_streams(train, val, opts.val_fraction, opts.seed)
        if not (opts.resume and self._norm):
            self.fit_normalisation(
                next(train_stream.batches(4096, np.random.default_rng(opts.seed)))
            )
        self._norm.pop("response_map", None)  # refitted when the run ends
        AdversarialTrainer(self, opts).run(train_stream, val_stream)
        return self.history

    # -- checkpoints -------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        return {
            "networks": {
                name: {k: v.detach().cpu() for k, v in net.state_dict().items()}
                for name, net in self.nets.items()
            },
            "training": dict(self.training_state),
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        if not state:
            return
        saved = dict(state["networks"])
        if "generator_ema" in saved and "generator_ema" not in self.nets:
            import copy

            self.nets["generator_ema"] = copy.deepcopy(self.nets["generator"])
        missing = sorted(set(self.nets) - set(saved))
        if missing:
            msg = f"checkpoint of {self.name!r} lacks the networks {', '.join(missing)}"
            raise CalogeoError(msg)
        for name, net in self.nets.items():
            net.load_state_dict(dict(saved[name]))
        self.training_state = dict(state.get("training", {}))


def _calibrate(
    cells: np.ndarray, energy: np.ndarray, response_map: ResponseMap, thresholds: np.ndarray
) -> None:
    """Scale each shower of ``cells`` (N, n_cells; GeV, in place) to its mapped response, then
    apply the per-cell ``thresholds`` (GeV) again; empty showers stay empty."""
    for first in range(0, len(cells), 4096):
        part, e = cells[first : first + 4096], energy[first : first + 4096]
        total = part.sum(axis=1, dtype=np.float64)
        target = response_map(e, total / e) * e
        scale = np.divide(target, total, out=np.zeros_like(total), where=total > 0)
        part *= scale[:, None].astype(np.float32)
        part[part < thresholds] = 0.0
