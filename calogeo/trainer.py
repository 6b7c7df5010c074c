"""The supervised trainer of the torch reconstruction models, and their dense head.

Training data come as :mod:`calogeo.streams` (blocks of events from memory or files, shuffled by
a seeded generator, a seeded validation split). Loss = binary cross entropy (the two-class
softmax cross entropy of Belayneh et al.) + ``mse_weight`` x MSE of the energy regressed on a log
scale relative to a linear calibration: the network predicts r and E = E_ref exp(r), where
E_ref = sum_g a_g E_g + b is the linear regression on the layer-group energies (Belayneh et al.
Eq. 2) fitted on the training sample; this is the "skip connection of the total energies to the
last layer" of Belayneh et al. App. G, written so that r = 0 is the linear baseline (and charged
pions that leave little energy in the window still get the baseline's intercept rather than a
multiple of nothing). Adam, learning rate halved when the validation loss stalls, early stopping,
the best epoch's weights kept; each improvement is checkpointed atomically, so Ctrl-C leaves the
last good one. Mixed precision, progress and options common to every loop:
:mod:`calogeo.training`.

The trainer knows its model only through :class:`SupervisedModel` (what it calls), so it does
not import the model classes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from calogeo import ddp
from calogeo.device import resolve_device, torch_owns_the_cores, torch_threads
from calogeo.geometry import Geometry
from calogeo.showers import Showers
from calogeo.streams import ShowerStream
from calogeo.symmetry import apply_symmetries, transverse_symmetries
from calogeo.training import (
    LoopOptions,
    autocast,
    channels_last,
    check_number,
    progress_bar,
    rank_auc,
    report_epoch,
)

__all__ = ["Batch", "Network", "SupervisedModel", "TrainOptions", "Trainer"]

LOG_RATIO_CLIP = 3.0  # |log(E_true / E_ref)| beyond this is an empty or broken event
MIN_DEPOSIT_GEV = 1e-3


# -- the network head ------------------------------------------------------------------------


class Network(nn.Module):
    """A backbone (view inputs -> features) and a dense head.

    The global features (group energies, estimated angles) enter the first dense layer and the
    output layer (the skip connections of Belayneh et al. App. G). Outputs (N, 2): the signal
    logit and the energy log ratio r; the output layer starts at zero, i.e. at the linear
    calibration.
    """

    def __init__(
        self,
        body: nn.Module,
        n_features: int,
        n_globals: int,
        *,
        layers: int,
        units: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.body = body
        dense: list[nn.Module] = []
        width = n_features + n_globals
        for _ in range(layers):
            dense += [nn.Linear(width, units), nn.ReLU(), nn.Dropout(dropout)]
            width = units
        self.dense = nn.Sequential(*dense)
        self.out = nn.Linear(width + n_globals, 2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        channels_last(self)

    def forward(self, inputs: list[torch.Tensor], globals_: torch.Tensor) -> torch.Tensor:
        features = self.body(inputs)
        hidden = self.dense(torch.cat([features, globals_.to(features.dtype)], dim=1))
        return self.out(torch.cat([hidden, globals_.to(hidden.dtype)], dim=1))


# -- training --------------------------------------------------------------------------------


@dataclass
class TrainOptions(LoopOptions):
    """The supervised loop's options (:class:`calogeo.training.LoopOptions`) and: ``lr`` (Adam
    learning rate), ``weight_decay``, ``patience`` (epochs without improvement before
    stopping), ``mse_weight`` (weight of the energy term), ``augment`` (show every training
    event as a random one of its transverse mirror images and rotations,
    :mod:`calogeo.symmetry`)."""

    lr: float = 4e-4
    weight_decay: float = 0.0
    patience: int = 4
    mse_weight: float = 1.0
    augment: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number("lr", self.lr, minimum=0.0, exclusive=True)
        check_number("weight_decay", self.weight_decay, minimum=0.0)
        check_number("patience", self.patience, minimum=1, integer=True)
        check_number("mse_weight", self.mse_weight, minimum=0.0)


@dataclass
class Batch:
    """A batch as tensors: view inputs, normalised global features, the energy reference
    E_ref (the linear calibration, GeV), class labels (None without), target log ratio log(E_true / E_ref)."""

    inputs: list[torch.Tensor]
    globals: torch.Tensor
    e_ref: torch.Tensor
    label: torch.Tensor | None
    log_ratio: torch.Tensor


class SupervisedModel(Protocol):
    """What the supervised trainer uses of a model (:class:`calogeo.reconstruction.TorchModel`)."""

    geometry: Geometry
    history: list[dict[str, float]]

    @property
    def network(self) -> nn.Module: ...

    @property
    def classifies(self) -> bool: ...

    @property
    def regresses(self) -> bool: ...

    def encode(self, showers: Showers, device: Any, with_targets: bool) -> Batch: ...

    def save(self, path: Any) -> Any: ...


class Trainer:
    """Trains one supervised model with ``options``; the model's ``history`` gets one row per epoch
    (train_loss, val_loss, lr and, as the task allows, val_auc and val_resolution)."""

    def __init__(self, model: SupervisedModel, options: TrainOptions) -> None:
        self.model = model
        self.options = options
        self.device = ddp.setup(resolve_device(options.device))  # torchrun: this rank's
        self.gathers: np.ndarray | None = None
        if options.augment:
            self.gathers = np.stack(list(transverse_symmetries(model.geometry).values()))

    def loss(self, out: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Cross entropy on the logit + mse_weight x MSE on the energy log ratio."""
        total = out.new_zeros(())
        if self.model.classifies and batch.label is not None:
            total = total + F.binary_cross_entropy_with_logits(out[:, 0], batch.label)
        if self.model.regresses:
            total = total + self.options.mse_weight * F.mse_loss(out[:, 1], batch.log_ratio)
        return total

    def run(self, train: ShowerStream, val: ShowerStream) -> None:
        """Train until ``epochs``, early stopping or ``max_steps``; keep the best epoch's weights.

        The best weights are restored even when interrupted (Ctrl-C); the checkpoint file, if
        any, always holds the last improvement.
        """
        with torch_owns_the_cores(self.options.threads):
            self._train(train, val)

    def _train(self, train: ShowerStream, val: ShowerStream) -> None:
        opts, model = self.options, self.model
        torch.manual_seed(opts.seed)
        rng = np.random.default_rng(opts.seed)
        train, val = ddp.shard(train), ddp.shard(val)  # this rank's events under torchrun
        net = model.network.to(self.device)
        trained = ddp.wrap(net, self.device)  # gradients synchronised under torchrun
        optimiser = torch.optim.Adam(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
        schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimiser, factor=0.5, patience=max(1, opts.patience // 2)
        )
        best_loss, best_state, stale, steps = float("inf"), None, 0, 0
        try:
            for epoch in range(1, opts.epochs + 1):
                if epoch > 1:  # the cores free now: another job may have started or ended
                    torch.set_num_threads(torch_threads(opts.threads))
                train_loss = self._epoch(
                    trained, optimiser, train, rng, f"epoch {epoch}/{opts.epochs}"
                )
                steps += train_loss[1]
                record = {
                    "epoch": epoch,
                    "train_loss": train_loss[0],
                    "lr": optimiser.param_groups[0]["lr"],
                    **self.validate(net, val),
                }
                model.history.append(record)
                report_epoch(record, opts.progress and ddp.is_main())
                schedule.step(record["val_loss"])
                if record["val_loss"] < best_loss:
                    best_loss, stale = record["val_loss"], 0
                    best_state = copy.deepcopy(net.state_dict())
                    if opts.checkpoint is not None and ddp.is_main():
                        model.save(opts.checkpoint)
                else:
                    stale += 1
                if stale > opts.patience or (opts.max_steps and steps >= opts.max_steps):
                    break
        finally:
            if best_state is not None:
                net.load_state_dict(best_state)
            net.eval()

    def _epoch(
        self,
        net: nn.Module,
        optimiser: torch.optim.Optimizer,
        train: ShowerStream,
        rng: np.random.Generator,
        desc: str,
    ) -> tuple[float, int]:
        """One pass over the training stream: (mean loss, optimiser steps)."""
        net.train()
        total, count, steps = 0.0, 0.0, 0
        batches = (  # batch normalisation needs two events
            s for s in train.batches(self.options.batch_size, rng) if len(s) >= 2
        )
        with progress_bar(len(train), desc, self.options.progress and ddp.is_main()) as bar:
            for showers in ddp.in_step(batches, self.device):
                if self.gathers is not None:
                    choice = rng.integers(len(self.gathers), size=len(showers))
                    showers = apply_symmetries(showers, self.gathers, choice)
                batch = self.model.encode(showers, self.device, with_targets=True)
                optimiser.zero_grad(set_to_none=True)
                with autocast(self.device):
                    out = net(batch.inputs, batch.globals)
                loss = self.loss(out.float(), batch)
                loss.backward()
                optimiser.step()
                total += loss.item() * len(showers)
                count += len(showers)
                steps += 1
                bar.update(len(showers))
                bar.set_postfix(loss=f"{total / count:.4f}")
                if self.options.max_steps and steps >= self.options.max_steps:
                    break
        total, count = ddp.all_sum([total, count], self.device)
        return (total / count if count else float("nan")), steps

    def validate(self, net: nn.Module, val: ShowerStream) -> dict[str, float]:
        """Validation loss and metrics: AUC (classification), relative RMS of E_pred/E_true - 1."""
        net.eval()
        total, count = 0.0, 0.0
        logits, labels, errors = [], [], []
        with torch.no_grad():
            for showers in val.batches(4 * self.options.batch_size):
                batch = self.model.encode(showers, self.device, with_targets=True)
                with autocast(self.device):
                    out = net(batch.inputs, batch.globals).float()
                total += float(self.loss(out, batch)) * len(showers)
                count += len(showers)
                if batch.label is not None:
                    logits.append(out[:, 0].cpu().numpy())
                    labels.append(batch.label.cpu().numpy())
                errors.append(torch.exp(out[:, 1] - batch.log_ratio).cpu().numpy() - 1.0)
        total, count = ddp.all_sum([total, count], self.device)  # over the ranks' shards
        record = {"val_loss": total / max(count, 1)}
        if self.model.classifies:
            logit = ddp.all_concat(np.concatenate(logits) if logits else np.zeros(0, np.float32))
            label = ddp.all_concat(np.concatenate(labels) if labels else np.zeros(0, np.float32))
            if len(label):
                record["val_auc"] = rank_auc(logit, label)
        if self.model.regresses:
            error = ddp.all_concat(np.concatenate(errors) if errors else np.zeros(0, np.float32))
            record["val_resolution"] = float(np.sqrt(np.mean(error**2)))
        return record
