"""Streaming a shower source through a Resampler: reading, resampling and writing overlap.

Three stages run at once, joined by bounded queues (at most ``depth`` batches wait between two
stages, so memory stays bounded): a reader thread turns each input batch into one dense float32
(N, cells) array, the calling thread resamples it (the Numba kernel releases the GIL and uses
every core) and a writer thread hands the result to the sink (HDF5 compression and writing).
h5py serialises its own calls, so reading and writing share one lock, but both overlap with
the resampling.

A stage works on :class:`Batch` objects: dense cells plus the per-event columns. A sparse
input only needs a reader stage that yields its batches (see the module notes in
``Resampler.apply_batch``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Batch", "pipeline"]

_DONE = object()


@dataclass
class Batch:
    """``cells`` (N, cells) float32 GeV, ``incident_energy`` (N,) GeV and ``labels``."""

    cells: np.ndarray
    incident_energy: np.ndarray
    labels: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.cells)


class _Stage(threading.Thread):
    """A daemon thread that runs ``work``; an exception is kept and stops the pipeline."""

    def __init__(self, work: Callable[[], None], name: str, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self._work = work
        self._stop_event = stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # handed to the caller by pipeline()
            self.error = exc
            self._stop_event.set()


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` unless the pipeline is stopping; False if it stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return _DONE


def pipeline(
    source: Iterable[Any],
    process: Callable[[Any], Any],
    sink: Callable[[Any], None],
    *,
    depth: int = 2,
) -> None:
    """For each item of ``source`` (iterated in a reader thread), ``sink(process(item))``:
    ``process`` runs in the calling thread, ``sink`` in a writer thread, in order.

    The first exception of any stage stops the others and is raised here.
    """
    stop = threading.Event()
    inbox: queue.Queue[Any] = queue.Queue(maxsize=depth)
    outbox: queue.Queue[Any] = queue.Queue(maxsize=depth)

    def read() -> None:
        try:
            for item in source:
                if not _put(inbox, item, stop):
                    return
        finally:
            _put(inbox, _DONE, stop)

    def write() -> None:
        while (item := _get(outbox, stop)) is not _DONE:
            sink(item)

    reader = _Stage(read, "calogeo-read", stop)
    writer = _Stage(write, "calogeo-write", stop)
    reader.start()
    writer.start()
    try:
        while (item := _get(inbox, stop)) is not _DONE:
            if reader.error or writer.error:
                break
            if not _put(outbox, process(item), stop):
                break
        _put(outbox, _DONE, stop)
        writer.join()
    except BaseException:
        stop.set()
        raise
    finally:
        stop.set()
        reader.join()
        writer.join()
    for stage in (reader, writer):
        if stage.error is not None:
            raise stage.error

