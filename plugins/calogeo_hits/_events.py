"""Grouping a stream of hit rows with an ascending event-id column into whole events."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from calogeo.errors import CalogeoError
from calogeo.hits import HitBatch

__all__ = ["batches_from_rows"]


def batches_from_rows(
    chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], where: str
) -> Iterator[HitBatch]:
    """Whole events from consecutive chunks of rows ``(event id (m,), position (m, 3),
    energy (m,))`` of one file: the last event of a chunk may continue in the next, so it is
    held back until an id changes (the events of a batch are the distinct ids, in order).
    ``events["event_id"]`` keeps each event's id. ``where`` names the file in errors."""
    held: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    last = None
    for ids, position, energy in chunks:
        if not len(ids):
            continue
        ids = np.asarray(ids, dtype=np.int64)
        if np.any(ids[1:] < ids[:-1]) or (last is not None and ids[0] < last):
            msg = f"{where}: the event-id column must be ascending (hits grouped by event)"
            raise CalogeoError(msg)
        last = int(ids[-1])
        cut = int(np.searchsorted(ids, ids[-1], side="left"))  # the last event may go on
        if cut:
            held.append((ids[:cut], position[:cut], energy[:cut]))
            yield _batch(held)
            held = []
        held.append((ids[cut:], position[cut:], energy[cut:]))
    if held:
        yield _batch(held)


def _batch(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> HitBatch:
    ids = np.concatenate([p[0] for p in parts])
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    offsets = np.append(first, len(ids)).astype(np.int64)
    return HitBatch(
        offsets,
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        {"event_id": ids[first]},
    )
