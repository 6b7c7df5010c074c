"""Training machinery shared by the supervised and the adversarial trainers: the options every
training loop has, mixed precision, progress bars and epoch lines, and small torch helpers.

On CUDA forward passes run under bfloat16 autocast (mixed precision); on the CPU in float32.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from calogeo.errors import CalogeoError

__all__ = [
    "LoopOptions",
    "autocast",
    "channels_last",
    "check_number",
    "progress_bar",
    "rank_auc",
    "report_epoch",
]


@dataclass
class LoopOptions:
    """What every training loop takes: ``epochs``, ``batch_size`` (events), ``seed``,
    ``device`` ("auto", "cpu", "cuda"), ``val_fraction`` (held out when no validation data are
    given), ``checkpoint`` (path written atomically as training goes), ``progress`` (tqdm bars
    and epoch lines on stderr), ``max_steps`` (stop after this many optimiser steps in all;
    None: no limit), ``threads`` (torch CPU threads; None: ``$CALOGEO_THREADS``, else the cores
    free at the start of each epoch, :func:`calogeo.device.available_cores`)."""

    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    val_fraction: float = 0.2
    checkpoint: str | Path | None = None
    progress: bool = True
    max_steps: int | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        """Refuse options no training can run with (one-line errors, before any work)."""
        check_number("epochs", self.epochs, minimum=1, integer=True)
        check_number("batch_size", self.batch_size, minimum=1, integer=True)
        check_number("val_fraction", self.val_fraction, minimum=0.0, maximum=1.0)
        if self.max_steps is not None:
            check_number("max_steps", self.max_steps, minimum=1, integer=True)


def check_number(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    integer: bool = False,
    exclusive: bool = False,
) -> None:
    """Raise a one-line CalogeoError unless ``value`` is a finite number (an integer if
    ``integer``) within [minimum, maximum] (or above ``minimum`` if ``exclusive``); ``name``
    is the hyper-parameter (``--batch-size`` on the command line is ``batch_size``)."""
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (float(value).is_integer() if integer else math.isfinite(value))
    if ok and minimum is not None:
        ok = value > minimum if exclusive else value >= minimum
    if ok and maximum is not None:
        ok = value <= maximum
    if not ok:
        bounds = []
        if minimum is not None:
            bounds.append(f"{'>' if exclusive else '>='} {minimum:g}")
        if maximum is not None:
            bounds.append(f"<= {maximum:g}")
        where = f" {' and '.join(bounds)}" if bounds else ""
        msg = f"{name} must be {kind}{where}, got {value!r}"
        raise CalogeoError(msg)


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
