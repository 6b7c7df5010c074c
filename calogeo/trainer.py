"""The one trainer shared by every torch model, with the data streams and the dense head.

Training data are Showers in memory or shower files (native or public formats), streamed in
blocks of events, shuffled by a seeded generator. Without a validation set, a seeded random
``val_fraction`` of the pieces of every source is held out (every source, so a gamma file and a
pi0 file both contribute). Loss = binary cross entropy (the two-class softmax cross entropy of Belayneh et al.)
+ ``mse_weight`` x MSE of the energy regressed on a log scale relative to a linear calibration:
the network predicts r and E = E_ref exp(r), where E_ref = sum_g a_g E_g + b is the linear
regression on the layer-group energies (Belayneh et al. Eq. 2) fitted on the training sample;
this is the "skip connection of the total energies to the last layer" of Belayneh et al. App. G,
written so that r = 0 is the linear baseline (and charged pions that leave little energy in the
window still get the baseline's intercept rather than a multiple of nothing).
Adam, learning rate halved when the validation loss stalls, early stopping, the best epoch's
weights kept; each improvement is checkpointed atomically, so Ctrl-C leaves the last good one.
On CUDA the forward pass runs under bfloat16 autocast (mixed precision); on the CPU in float32.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from calogeo.device import resolve_device, torch_owns_the_cores, torch_threads
from calogeo.errors import CalogeoError
from calogeo.geometry import Geometry
from calogeo.io import ShowerSource, open_showers
from calogeo.showers import Showers
from calogeo.symmetry import apply_symmetries, transverse_symmetries

if TYPE_CHECKING:
    from calogeo.model import TorchModel

__all__ = [
    "Batch",
    "Network",
    "Part",
    "ShowerStream",
    "TrainOptions",
    "Trainer",
    "as_sources",
    "autocast",
    "channels_last",
    "rank_auc",
    "read_all",
    "split_source",
    "train_val_streams",
]

LOG_RATIO_CLIP = 3.0  # |log(E_true / E_ref)| beyond this is an empty or broken event
MIN_DEPOSIT_GEV = 1e-3


# -- data ------------------------------------------------------------------------------------


class _MemorySource:
    """Showers in memory, read like a shower file."""

    def __init__(self, showers: Showers) -> None:
        self.showers = showers
        self.geometry = showers.geometry
        self.path = Path(f"<{len(showers)} showers in memory>")

    def __len__(self) -> int:
        return len(self.showers)

    def read(self, start: int = 0, stop: int | None = None) -> Showers:
        return self.showers[start:stop]

    def iter_batches(self, batch_size: int) -> Iterator[Showers]:
        return self.showers.batches(batch_size)

    def close(self) -> None:
        pass


def as_sources(data: Any, geometry: Geometry | None = None) -> list[ShowerSource]:
    """Shower sources from Showers, a shower source, a file path or a list of them."""
    items = data if isinstance(data, (list, tuple)) else [data]
    sources: list[ShowerSource] = []
    for item in items:
        if isinstance(item, Showers):
            sources.append(_MemorySource(item))
        elif isinstance(item, (str, Path)):
            sources.append(open_showers(item, geometry))
        else:
            sources.append(item)
    if not sources:
        msg = "no training data given"
        raise CalogeoError(msg)
    return sources


Pieces = list[tuple[int, int]]


@dataclass(frozen=True)
class Part:
    """Events of one source: the ``pieces`` [start, stop) in file order."""

    source: ShowerSource
    pieces: Pieces

    def __len__(self) -> int:
        return sum(stop - start for start, stop in self.pieces)

    def read(self, pieces: Pieces) -> Showers:
        """The events of ``pieces`` (a sub-list of this part's pieces) in memory."""
        parts = [self.source.read(a, b) for a, b in pieces]
        return parts[0] if len(parts) == 1 else Showers.concatenate(parts)

    def blocks(self, block_size: int) -> list[Pieces]:
        """The pieces cut into blocks of at most ``block_size`` events."""
        blocks: list[Pieces] = [[]]
        room = block_size
        for start, stop in self.pieces:
            while start < stop:
                if room == 0:
                    blocks.append([])
                    room = block_size
                end = min(stop, start + room)
                blocks[-1].append((start, end))
                room -= end - start
                start = end
        return [b for b in blocks if b]


class ShowerStream:
    """Events of several sources, read in blocks and served in batches.

    Each epoch takes every source's blocks in a shuffled order, pools the i-th block of every
    source together and shuffles events inside the pool, so batches mix sources (a gamma file
    and a pi0 file give mixed batches) while memory holds one block per source.
    """

    def __init__(self, parts: Sequence[Part], block_size: int = 8192) -> None:
        self.parts = [p for p in parts if len(p)]
        self.block_size = block_size

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def sources(self) -> list[ShowerSource]:
        """The sources the stream reads."""
        return [p.source for p in self.parts]

    def batches(self, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[Showers]:
        """Batches of at most ``batch_size`` events; shuffled if ``rng`` is given."""
        per_part = []
        for part in self.parts:
            blocks = part.blocks(self.block_size)
            if rng is not None:
                blocks = [blocks[i] for i in rng.permutation(len(blocks))]
            per_part.append(blocks)
        for i in range(max((len(b) for b in per_part), default=0)):
            reads = [
                part.read(blocks[i])
                for part, blocks in zip(self.parts, per_part, strict=True)
                if i < len(blocks)
            ]
            pool = reads[0] if len(reads) == 1 else Showers.concatenate(reads)
            if rng is not None:
                pool = pool[rng.permutation(len(pool))]
            yield from pool.batches(batch_size)

    def read_all(self) -> Showers:
        """Every event of the stream at once."""
        reads = [part.read(part.pieces) for part in self.parts]
        return reads[0] if len(reads) == 1 else Showers.concatenate(reads)


def _merge(pieces: Pieces) -> Pieces:
    """Adjacent pieces joined."""
    out: Pieces = []
    for start, stop in sorted(pieces):
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


def split_source(source: ShowerSource, val_fraction: float, seed: int) -> tuple[Part, Part]:
    """(train, validation) parts of one source: it is cut into about 100 pieces (at most 256
    events each) and a seeded random ``val_fraction`` of them is held out, so files written
    class after class or in energy order still give a representative validation set."""
    n = len(source)
    chunk = max(1, min(256, n // 100))
    pieces = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    n_val = min(len(pieces) - 1, max(1, round(val_fraction * len(pieces))))
    chosen = set(np.random.default_rng(seed).permutation(len(pieces))[:n_val].tolist())
    val = [p for i, p in enumerate(pieces) if i in chosen]
    train = [p for i, p in enumerate(pieces) if i not in chosen]
    return Part(source, _merge(train)), Part(source, _merge(val))


def train_val_streams(
    train: Any,
    val: Any = None,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    geometry: Geometry | None = None,
) -> tuple[ShowerStream, ShowerStream]:
    """Training and validation streams; without ``val``, a random ``val_fraction`` of every
    training source is held out (see :func:`split_source`)."""
    sources = as_sources(train, geometry)
    if val is not None:
        return (
            ShowerStream([Part(s, [(0, len(s))]) for s in sources]),
            ShowerStream([Part(s, [(0, len(s))]) for s in as_sources(val, geometry)]),
        )
    if not 0.0 < val_fraction < 1.0:
        msg = f"val_fraction={val_fraction}: expected a number between 0 and 1"
        raise CalogeoError(msg)
    splits = [split_source(s, val_fraction, seed) for s in sources if len(s) > 1]
    return ShowerStream([t for t, _ in splits]), ShowerStream([v for _, v in splits])


def read_all(data: Any, geometry: Geometry | None = None) -> Showers:
    """All events of ``data`` (Showers, files or sources) in memory."""
    return ShowerStream([Part(s, [(0, len(s))]) for s in as_sources(data, geometry)]).read_all()


def rank_auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U over average ranks); NaN with one class."""
    from scipy.stats import rankdata

    pos = label == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# -- the network head ------------------------------------------------------------------------


def channels_last(module: nn.Module) -> nn.Module:
    """``module`` with its 3D convolution kernels in channels-last order, in place.

    oneDNN picks a convolution's memory order from its input and kernel. A one-channel input or
    kernel, or a 1^3 kernel, fits both orders, and without this it took the contiguous one: the
    GoogLeNet-3D stem and 1^3 convolutions ran contiguous, the other layers reordered their
    outputs, and its 3^3 max pools ran 5x slower (64 x 16 x 13^3, forward and backward, one
    thread: 109 -> 22 ms). ``Tensor.to`` (unlike ``contiguous``) re-strides ambiguous kernels.
    """
    for param in module.parameters():
        if param.dim() == 5:
            param.data = param.data.to(memory_format=torch.channels_last_3d)
    return module


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
class TrainOptions:
    """How to train: ``epochs``, ``batch_size`` (events), ``lr`` (Adam learning rate),
    ``weight_decay``, ``patience`` (epochs without improvement before stopping), ``mse_weight``
    (weight of the energy term), ``seed``, ``device`` ("auto", "cpu", "cuda"), ``val_fraction``,
    ``checkpoint`` (path written at each improvement), ``progress`` (tqdm bars on stderr),
    ``max_steps`` (stop after this many optimiser steps in all; None: no limit), ``augment``
    (show every training event as a random one of its transverse mirror images and rotations,
    :mod:`calogeo.symmetry`), ``threads`` (torch CPU threads; None: ``$CALOGEO_THREADS``, else
    the cores free at the start of each epoch, :func:`calogeo.device.available_cores`)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 4e-4
    weight_decay: float = 0.0
    patience: int = 4
    mse_weight: float = 1.0
    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.2
    checkpoint: str | Path | None = None
    progress: bool = True
    max_steps: int | None = None
    augment: bool = False
    threads: int | None = None


@dataclass
class Batch:
    """A batch as tensors: view inputs, normalised global features, the energy reference
    E_ref (the linear calibration, GeV), class labels (None without), target log ratio log(E_true / E_ref)."""

    inputs: list[torch.Tensor]
    globals: torch.Tensor
    e_ref: torch.Tensor
    label: torch.Tensor | None
    log_ratio: torch.Tensor


def autocast(device: torch.device) -> Any:
    """bfloat16 autocast on CUDA (mixed precision), a no-op elsewhere."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    """A tqdm bar on stderr (silent when disabled or when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="ev",
        file=sys.stderr,
        leave=False,
        disable=(not enabled) or not sys.stderr.isatty(),
        dynamic_ncols=True,
    )


def report_epoch(record: Mapping[str, float], enabled: bool) -> None:
    """One line per epoch on stderr (a terminal only, like the progress bars)."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        text = "  ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()
        )
        tqdm.write(text, file=sys.stderr)


class Trainer:
    """Trains one TorchModel with ``options``; the model's ``history`` gets one row per epoch
    (train_loss, val_loss, lr and, as the task allows, val_auc and val_resolution)."""

    def __init__(self, model: TorchModel, options: TrainOptions) -> None:
        self.model = model
        self.options = options
        self.device = resolve_device(options.device)
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
        net = model.network.to(self.device)
        optimiser = torch.optim.Adam(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
        schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimiser, factor=0.5, patience=max(1, opts.patience // 2)
        )
        best_loss, best_state, stale, steps = float("inf"), None, 0, 0
        try:
            for epoch in range(1, opts.epochs + 1):
                if epoch > 1:  # the cores free now: another job may have started or ended
                    torch.set_num_threads(torch_threads(opts.threads))
                train_loss = self._epoch(net, optimiser, train, rng, f"epoch {epoch}/{opts.epochs}")
                steps += train_loss[1]
                record = {
                    "epoch": epoch,
                    "train_loss": train_loss[0],
                    "lr": optimiser.param_groups[0]["lr"],
                    **self.validate(net, val),
                }
                model.history.append(record)
                report_epoch(record, opts.progress)
                schedule.step(record["val_loss"])
                if record["val_loss"] < best_loss:
                    best_loss, stale = record["val_loss"], 0
                    best_state = copy.deepcopy(net.state_dict())
                    if opts.checkpoint is not None:
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
        total, count, steps = 0.0, 0, 0
        with progress_bar(len(train), desc, self.options.progress) as bar:
            for showers in train.batches(self.options.batch_size, rng):
                if len(showers) < 2:  # batch normalisation needs two events
                    continue
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
        return (total / count if count else float("nan")), steps

    def validate(self, net: nn.Module, val: ShowerStream) -> dict[str, float]:
        """Validation loss and metrics: AUC (classification), relative RMS of E_pred/E_true - 1."""
        net.eval()
        total, count = 0.0, 0
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
        record = {"val_loss": total / max(count, 1)}
        if self.model.classifies and labels:
            record["val_auc"] = rank_auc(np.concatenate(logits), np.concatenate(labels))
        if self.model.regresses:
            record["val_resolution"] = float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))
        return record
