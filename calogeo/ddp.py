"""Training on several processes under ``torchrun``: process group, shards, reductions.

``torchrun --nproc-per-node N -m calogeo train ...`` starts N copies of the command with
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` set. The trainers then call :func:`setup` (one
process group per run: NCCL when training on CUDA, each rank on GPU ``LOCAL_RANK``, gloo on the
CPU), read their own :func:`shard` of the training and validation streams, synchronise
gradients (the supervised trainer through torch's DistributedDataParallel, the adversarial one
by averaging each network's gradients, :func:`average_gradients`, since its phases update
different networks), step only while every rank has a batch (:func:`in_step`), and reduce the
validation metrics over all ranks (:func:`all_sum`, :func:`all_concat`). Rank 0 alone writes
checkpoints and prints (:func:`is_main`). The networks are never saved wrapped, so a checkpoint
written under torchrun loads in one process and vice versa.

Without ``WORLD_SIZE`` > 1 every helper is a no-op, and training runs as in one process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from calogeo.streams import Part, ShowerStream

__all__ = [
    "active",
    "all_concat",
    "all_sum",
    "average_gradients",
    "in_step",
    "is_main",
    "rank",
    "setup",
    "shard",
    "world_size",
    "wrap",
]

SHARD_EVENTS = 256  # events per piece dealt out to the ranks in turn
T = TypeVar("T")


def world_size() -> int:
    """Number of training processes (``$WORLD_SIZE``, 1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank (``$RANK``, 0 outside torchrun)."""
    return int(os.environ.get("RANK", "0"))


def active() -> bool:
    """Whether this process is one of several training together."""
    return world_size() > 1


def is_main() -> bool:
    """Whether this process writes checkpoints and prints (rank 0)."""
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join the process group (once) and return this rank's device: ``cuda:LOCAL_RANK`` with
    NCCL when ``device`` is CUDA, the CPU with gloo otherwise; ``device`` unchanged when not
    under torchrun."""
    if not active():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def shard(stream: ShowerStream) -> ShowerStream:
    """This rank's share of ``stream``: every part cut into blocks of 256 events, dealt out
    to the ranks in turn (the whole stream when not under torchrun)."""
    if not active():
        return stream
    size, me = world_size(), rank()
    parts = []
    for part in stream.parts:
        blocks = part.blocks(SHARD_EVENTS)
        parts.append(Part(part.source, [piece for block in blocks[me::size] for piece in block]))
    return ShowerStream(parts, stream.block_size)


def wrap(net: nn.Module, device: torch.device) -> nn.Module:
    """``net`` in DistributedDataParallel under torchrun (``net`` itself otherwise)."""
    if not active():
        return net
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids)


def in_step(items: Iterable[T], device: torch.device) -> Iterator[T]:
    """The items while every rank still has one (ranks with more stop with the others), so
    collective operations inside the loop never wait for a rank that has left it."""
    if not active():
        yield from items
        return
    iterator = iter(items)
    while True:
        item = next(iterator, None)
        flag = torch.tensor([0 if item is None else 1], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        if not int(flag.item()):
            return
        assert item is not None
        yield item


def average_gradients(module: nn.Module) -> None:
    """Average the gradients of ``module``'s parameters over the ranks (one flat all-reduce)."""
    if not active():
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def all_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sums of ``values`` over the ranks."""
    if not active():
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_concat(array: np.ndarray) -> np.ndarray:
    """The arrays of every rank, concatenated in rank order."""
    if not active():
        return array
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, array)
    return np.concatenate(gathered)
