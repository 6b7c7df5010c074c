"""The adversarial trainer of the generative models (:mod:`calogeo.generative`).

Each training step runs the ``critic`` phase; every ``n_critic``-th step also runs the
``generator`` phase (WGAN-GP: n_critic critic updates per generator update). A phase asks the
model for its loss (``model.loss(phase, nets, batch)``), back-propagates it and steps the
optimisers of the networks the phase owns (``model.phase_networks``), each network with its
own optimiser and learning rate. Options: ``ema`` keeps an exponential moving average of the
generator (``generator_ema``, used to generate); ``label_switch`` lets BCE losses swap real and
fake targets with that probability; on CUDA the forward passes run under bfloat16 autocast
(``amp``).

After every epoch the trainer logs the mean losses and one cheap fidelity number, the
Wasserstein-1 distance of E_visible / E_incident between the validation showers and showers
generated at their conditions (``w1_response``), so a diverging GAN shows at once; and writes
the checkpoint atomically with every network, optimiser and the random state, so Ctrl-C keeps
the last finished epoch and ``fit(resume=True)`` (``calogeo train --resume``) continues it.
After the last epoch the model's ``posttrain`` stage runs (e.g. a post-processor trained on the
frozen networks), then its response calibration is fitted (``calibrate_response``), and the
checkpoint is written once more.

The trainer knows its model only through :class:`AdversarialModel`; shared machinery (streams,
options, autocast, progress) comes from :mod:`calogeo.streams` and :mod:`calogeo.training`.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from calogeo import ddp
from calogeo.device import resolve_device, torch_owns_the_cores, torch_threads
from calogeo.errors import CalogeoError
from calogeo.geometry import Geometry
from calogeo.response_map import visible_fraction
from calogeo.showers import Showers
from calogeo.streams import ShowerStream
from calogeo.training import LoopOptions, autocast, progress_bar, report_epoch

__all__ = [
    "AdversarialModel",
    "AdversarialOptions",
    "AdversarialTrainer",
    "gradient_penalty",
    "real_fake_targets",
    "response_w1",
]

FIDELITY_EVENTS = 2000  # validation showers generated per epoch for the fidelity number


@dataclass
class AdversarialOptions(LoopOptions):
    """The adversarial loop's options (:class:`calogeo.training.LoopOptions`) and: ``n_critic``
    (critic steps per generator step), ``ema`` (decay of the generator's moving average; 0:
    off), ``label_switch`` (probability of swapped real/fake targets in BCE losses), ``amp``
    (bfloat16 autocast on CUDA), ``resume`` (continue from the model's training state)."""

    n_critic: int = 1
    ema: float = 0.0
    label_switch: float = 0.0
    amp: bool = True
    resume: bool = False


class AdversarialModel(Protocol):
    """What the adversarial trainer uses of a model (:class:`calogeo.generative.GenerativeModel`)."""

    geometry: Geometry
    history: list[dict[str, float]]
    training_state: dict[str, Any]
    label_switch: float

    @property
    def name(self) -> str: ...

    @property
    def phase_networks(self) -> Mapping[str, tuple[str, ...]]: ...

    @property
    def nets(self) -> dict[str, nn.Module]: ...

    def optimiser(self, name: str, params: Any) -> torch.optim.Optimizer: ...

    def encode(self, showers: Showers, device: Any) -> Any: ...

    def loss(
        self, phase: str, nets: Mapping[str, nn.Module], batch: Any
    ) -> tuple[torch.Tensor, dict[str, float]]: ...

    def pretrain(self, nets: Mapping[str, nn.Module], stream: Any, device: Any) -> None: ...

    def on_epoch_start(
        self, nets: Mapping[str, nn.Module], optimisers: Mapping[str, Any], epoch: int
    ) -> None: ...

    def posttrain(self, nets: Mapping[str, nn.Module], stream: Any, device: Any) -> None: ...

    def calibrate_response(self, stream: Any, device: Any) -> None: ...

    def generate(
        self, energies: Any, particle: Any = None, n: Any = None, **options: Any
    ) -> Showers: ...

    def save(self, path: Any) -> Any: ...


# -- loss helpers the models share -----------------------------------------------------------


def gradient_penalty(
    critic: Callable[[list[torch.Tensor]], torch.Tensor],
    real: list[torch.Tensor],
    fake: list[torch.Tensor],
    weight: float = 10.0,
) -> torch.Tensor:
    """WGAN-GP penalty ``weight x E[(|grad critic(x_hat)| - 1)^2]`` at random points x_hat on the
    lines between real and fake inputs (Gulrajani et al. 2017, Eq. 3); ``critic`` maps the list
    of view arrays (conditions bound by the caller) to (N,) scores."""
    n = real[0].shape[0]
    alpha = torch.rand(n, device=real[0].device)
    mixed = []
    for r, f in zip(real, fake, strict=True):
        a = alpha.view(n, *([1] * (r.dim() - 1)))
        mixed.append((a * r.detach() + (1 - a) * f.detach()).requires_grad_(True))
    score = critic(mixed)
    grads = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    squared = torch.stack([g.reshape(n, -1).pow(2).sum(dim=1) for g in grads]).sum(dim=0)
    norm = torch.sqrt(squared + 1e-12)
    return weight * ((norm - 1.0) ** 2).mean()


def real_fake_targets(n: int, real: bool, switch: float, device: Any) -> torch.Tensor:
    """(n,) BCE targets, 1 for real and 0 for fake, a random fraction ``switch`` of them swapped
    (label switching, which keeps a discriminator from growing too sure)."""
    target = torch.full((n,), 1.0 if real else 0.0, device=device)
    if switch > 0:
        flip = torch.rand(n, device=device) < switch
        target = torch.where(flip, 1.0 - target, target)
    return target


def response_w1(reference: Showers, generated: Showers) -> float:
    """Wasserstein-1 distance between the E_visible / E_incident distributions of two samples."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(visible_fraction(reference), visible_fraction(generated)))


# -- the trainer -----------------------------------------------------------------------------


class AdversarialTrainer:
    """Trains one generative model with ``options``; the model's ``history`` gets one row per
    epoch (mean loss of each phase, the model's logged numbers, ``w1_response``, seconds)."""

    def __init__(self, model: AdversarialModel, options: AdversarialOptions) -> None:
        if options.n_critic < 1:
            msg = f"n_critic={options.n_critic}: must be at least 1"
            raise CalogeoError(msg)
        if not 0.0 <= options.ema < 1.0:
            msg = f"ema={options.ema}: expected a decay in [0, 1)"
            raise CalogeoError(msg)
        self.model = model
        self.options = options
        self.device = ddp.setup(resolve_device(options.device))  # torchrun: this rank's

    def run(self, train: ShowerStream, val: ShowerStream) -> None:
        """Train for ``epochs`` (in all, counting a resumed run's) or ``max_steps``."""
        with torch_owns_the_cores(self.options.threads):
            self._train(train, val)

    def _train(self, train: ShowerStream, val: ShowerStream) -> None:
        opts, model = self.options, self.model
        state = model.training_state if opts.resume else {}
        train, val = ddp.shard(train), ddp.shard(val)  # this rank's events under torchrun
        nets = model.nets
        for net in nets.values():
            net.to(self.device)
        if opts.ema > 0 and "generator_ema" not in nets:
            nets["generator_ema"] = copy.deepcopy(nets["generator"]).requires_grad_(False)
        optimisers = {
            name: model.optimiser(name, nets[name].parameters())
            for names in model.phase_networks.values()
            for name in names
        }
        if state:
            for name, opt_state in state.get("optimisers", {}).items():
                optimisers[name].load_state_dict(opt_state)
            torch.set_rng_state(state["torch_rng"])
        else:
            torch.manual_seed(opts.seed)
            model.history.clear()
            model.pretrain(nets, train, self.device)
        first = int(state.get("epoch", 0)) + 1
        model.label_switch = opts.label_switch
        steps = int(state.get("steps", 0))
        try:
            for epoch in range(first, opts.epochs + 1):
                if epoch > first:
                    torch.set_num_threads(torch_threads(opts.threads))
                started = time.perf_counter()
                model.on_epoch_start(nets, optimisers, epoch)
                rng = np.random.default_rng([opts.seed, epoch])  # the same whether resumed or not
                losses, steps = self._epoch(nets, optimisers, train, rng, epoch, steps)
                record: dict[str, float] = {"epoch": epoch, **losses}
                record["w1_response"] = self.fidelity(val)
                record["seconds"] = time.perf_counter() - started
                model.history.append(record)
                report_epoch(record, opts.progress and ddp.is_main())
                model.training_state = {
                    "epoch": epoch,
                    "steps": steps,
                    "optimisers": {k: o.state_dict() for k, o in optimisers.items()},
                    "torch_rng": torch.get_rng_state(),
                }
                if opts.checkpoint is not None and ddp.is_main():
                    model.save(opts.checkpoint)
                if opts.max_steps and steps >= opts.max_steps:
                    break
            model.posttrain(nets, train, self.device)  # the stage after the adversarial one
            model.calibrate_response(train, self.device)
            if opts.checkpoint is not None:
                model.save(opts.checkpoint)
        finally:
            model.label_switch = 0.0
            for net in nets.values():
                net.eval()

    def _epoch(
        self,
        nets: dict[str, nn.Module],
        optimisers: dict[str, torch.optim.Optimizer],
        train: ShowerStream,
        rng: np.random.Generator,
        epoch: int,
        steps: int,
    ) -> tuple[dict[str, float], int]:
        """One pass over the training stream: (mean logged numbers, optimiser steps so far)."""
        opts, model = self.options, self.model
        for net in nets.values():
            net.train()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        desc = f"epoch {epoch}/{opts.epochs}"
        batches = (  # batch normalisation needs two events
            s for s in train.batches(opts.batch_size, rng) if len(s) >= 2
        )
        with progress_bar(len(train), desc, opts.progress and ddp.is_main()) as bar:
            for showers in ddp.in_step(batches, self.device):
                batch = model.encode(showers, self.device)
                phases = ["critic"]
                if steps % opts.n_critic == 0:
                    phases.append("generator")
                for phase in phases:
                    logs = self._phase(phase, nets, optimisers, batch)
                    for key, value in logs.items():
                        sums[key] = sums.get(key, 0.0) + value
                        counts[key] = counts.get(key, 0) + 1
                if "generator_ema" in nets and "generator" in phases:
                    _ema_update(nets["generator_ema"], nets["generator"], opts.ema)
                steps += 1
                bar.update(len(showers))
                if "loss_generator" in sums:
                    bar.set_postfix(
                        critic=f"{sums['loss_critic'] / counts['loss_critic']:.3g}",
                        generator=f"{sums['loss_generator'] / counts['loss_generator']:.3g}",
                    )
                if opts.max_steps and steps >= opts.max_steps:
                    break
        return {k: sums[k] / counts[k] for k in sums}, steps

    def _phase(
        self,
        phase: str,
        nets: dict[str, nn.Module],
        optimisers: dict[str, torch.optim.Optimizer],
        batch: Any,
    ) -> dict[str, float]:
        """One update of the networks of ``phase``; returns its logged numbers."""
        owned = self.model.phase_networks[phase]
        for name in {n for names in self.model.phase_networks.values() for n in names}:
            nets[name].requires_grad_(name in owned)  # no gradients for the other side
            nets[name].zero_grad(set_to_none=True)
        with autocast(self.device) if self.options.amp else contextlib.nullcontext():
            loss, logs = self.model.loss(phase, nets, batch)
        value = loss.detach().item()
        if not np.isfinite(value):
            msg = (
                f"{self.model.name}: the {phase} loss is {value}; training diverged "
                "(try a smaller learning rate)"
            )
            raise CalogeoError(msg)
        loss.float().backward()
        for name in owned:
            ddp.average_gradients(nets[name])  # synchronised over the ranks under torchrun
            optimisers[name].step()
        return {f"loss_{phase}": value, **logs}

    def fidelity(self, val: ShowerStream) -> float:
        """W1 of E_visible / E_incident: validation showers against generated ones."""
        reference = next(val.batches(FIDELITY_EVENTS), None)
        if reference is None:
            w1, ranks = ddp.all_sum([0.0, 0.0], self.device)
            return w1 / ranks if ranks else float("nan")
        labels = reference.labels
        options: dict[str, Any] = {}
        for angle in ("theta", "phi"):
            if angle in getattr(self.model, "conditions", ()) and angle in labels:
                options[angle] = np.asarray(labels[angle]).reshape(len(reference))
        particles = getattr(self.model, "particles", [])
        if len(particles) > 1:  # one particle at a time
            pdg = np.asarray(labels["pdg"]).reshape(len(reference))
            keep = pdg == pdg[0]
            reference = reference[np.flatnonzero(keep)]
            options = {k: v[keep] for k, v in options.items()}
            options["particle"] = str(int(pdg[0]))
        generated = self.model.generate(
            reference.incident_energy, device=str(self.device), seed=self.options.seed, **options
        )
        for net in self.model.nets.values():
            net.train()
        w1, ranks = ddp.all_sum([response_w1(reference, generated), 1.0], self.device)
        return w1 / ranks  # the ranks' mean under torchrun


def _ema_update(average: nn.Module, current: nn.Module, decay: float) -> None:
    """average <- decay x average + (1 - decay) x current (buffers copied)."""
    with torch.no_grad():
        for avg, cur in zip(average.parameters(), current.parameters(), strict=True):
            avg.lerp_(cur.detach(), 1.0 - decay)
        for buf, src in zip(average.buffers(), current.buffers(), strict=True):
            buf.copy_(src)
