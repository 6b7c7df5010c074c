"""Streaming a shower source through a Resampler: reading, resampling and writing overlap.

Three stages run at once, joined by bounded queues (at most ``depth`` batches wait between two
stages, so memory stays bounded): a reader thread turns each input batch into one dense float32
(N, cells) array, the calling thread resamples it (the Numba kernel releases the GIL and uses
every core) and a writer thread hands the result to the sink (HDF5 compression and writing).
h5py serialises its own calls, so reading and writing share one lock, but both overlap with
the resampling.

Buffers are reused (a free list per stage): a fresh 64 MB array per batch costs more in page
faults than copying into a warm one. A sparse source (a version-2 native file read with
``iter_batches(..., sparse=True)``) skips the dense buffer: the reader hands over each batch's
non-zero cells and :meth:`Resampler.apply_sparse` lays out one event at a time in a row that
stays in cache.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from calogeo.interrupts import check_interrupted
from calogeo.resample.resampler import Resampler
from calogeo.showers import Showers
from calogeo.sparse import SparseShowers

if TYPE_CHECKING:
    from calogeo.resample.groups import GroupResampler

__all__ = ["pipeline", "resample_stream"]

_DONE = object()


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
        except BaseException as exc:  # noqa: BLE001 - re-raised by pipeline() in the caller
            self.error = exc
            self._stop_event.set()


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` unless the pipeline is stopping; False if it stopped (a lost stop signal
    is raised while waiting, as in :func:`_get`)."""
    while not stop.is_set():
        check_interrupted()
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    """The next item of ``q``, or _DONE once the pipeline stops. Waiting, a stop signal whose
    KeyboardInterrupt was lost (see :mod:`calogeo.interrupts`) is raised (in a stage thread,
    it stops the pipeline and is raised by :func:`pipeline`)."""
    while True:
        check_interrupted()
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

    The first exception of any stage stops the others and is raised here; so does a stop
    signal (Ctrl-C, SIGTERM, SIGHUP) under :func:`calogeo.interrupts.handle_signals`, even
    one whose first KeyboardInterrupt Python swallowed.
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
        while writer.is_alive():  # a timed join: signals reach this thread meanwhile
            writer.join(0.1)
            check_interrupted()
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


class _Buffers:
    """A free list of (rows, cols) float32 arrays; ``take(n)`` hands out the first n rows of
    one (allocating when none is free), ``give`` returns it."""

    def __init__(self, cols: int) -> None:
        self.cols = cols
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, n: int) -> np.ndarray:
        with self._lock:
            for k, base in enumerate(self._free):
                if len(base) >= n:
                    return self._free.pop(k)[:n]
        return np.empty((n, self.cols), dtype=np.float32)

    def give(self, view: np.ndarray) -> None:
        base = view if view.base is None else view.base
        with self._lock:
            self._free.append(base)


def resample_stream(
    resampler: Resampler | GroupResampler,
    batches: Iterable[Showers] | Iterable[SparseShowers],
    sink: Callable[[Showers, dict[str, np.ndarray]], None],
    *,
    device: str = "cpu",
    depth: int = 2,
) -> None:
    """Resample every batch of ``batches`` (iterated, i.e. read, in a reader thread, which also
    gathers each Showers batch into a dense buffer; a SparseShowers batch, CPU only, is
    resampled from its non-zero cells) and call ``sink(resampled, bookkeeping)`` in a writer
    thread, in order; ``bookkeeping`` is :meth:`Resampler.bookkeeping` of the batch, and the
    resampled showers carry it as labels (``resampler.label_map``)."""
    inputs = _Buffers(resampler.source.n_cells)
    outputs = _Buffers(resampler.output_geometry.n_cells)

    def read() -> Iterator[tuple[Showers | SparseShowers, np.ndarray | None]]:
        for batch in batches:
            if isinstance(batch, SparseShowers):
                yield batch, None
            else:
                yield batch, batch.flat(out=inputs.take(len(batch)))

    def process(
        item: tuple[Showers | SparseShowers, np.ndarray | None],
    ) -> tuple[Showers, Any, np.ndarray]:
        batch, cells = item
        if cells is None:
            if not isinstance(resampler, Resampler) or not isinstance(batch, SparseShowers):
                msg = "sparse batches are resampled by a whole-geometry Resampler only"
                raise TypeError(msg)
            books = resampler.bookkeeping_sparse(batch)
            out = resampler.apply_sparse(batch, out=outputs.take(len(batch)))
        else:
            books = resampler.bookkeeping_dense(cells)
            out = resampler.apply_dense(cells, out=outputs.take(len(batch)), device=device)
            inputs.give(cells)
        labels = resampler.label_map.apply(batch.labels, books)
        resampled = Showers.from_flat(resampler.output_geometry, out, batch.incident_energy, labels)
        return resampled, books, out

    def write(item: tuple[Showers, Any, np.ndarray]) -> None:
        resampled, books, out = item
        sink(resampled, books)
        outputs.give(out)

    pipeline(read(), process, write, depth=depth)
