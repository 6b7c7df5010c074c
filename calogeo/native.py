"""Reading native shower files: the reader interface every shower source follows
(:class:`ShowerReader`) and the reader of one native file (:class:`ShowerFile`). The file layout
and the writer are described in :mod:`calogeo.io`, which builds on this module and is where
files are opened (one file, a public layout or a multi-file dataset)."""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, overload

import h5py
import numpy as np

from calogeo._version import __version__
from calogeo.errors import CalogeoError, ShowerDataError, ShowerFileError
from calogeo.geometry import Geometry
from calogeo.showers import Showers
from calogeo.sparse import SparseShowers

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "CHUNK_EVENTS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ShowerFile",
    "ShowerReader",
    "ShowerSource",
    "h5_open_error",
    "is_native",
    "non_finite_error",
]

FORMAT_NAME = "calogeo-showers"
FORMAT_VERSION = 2  # the version written by default and the newest one read
FORMAT_VERSIONS = (1, 2)  # 1: dense images per layer; 2: non-zero cells per event
CHUNK_BYTES = 1 << 20  # version 1: target size of one chunk of the largest layer dataset
CHUNK_EVENTS = 1 << 13  # version 2: events per chunk of the per-event datasets
CHUNK_CELLS = 1 << 16  # version 2: entries per chunk of cells/index and cells/energy (256 KiB
# of float32; chunks of 2^20, larger than the read cache, read 2-10x slower in batches of 100)
READ_CACHE_BYTES = 2 * CHUNK_BYTES  # per-dataset chunk cache: a chunk is decompressed once even
# when read in batches smaller than a chunk (HDF5's default of 1 MiB is just below one chunk)
COMPRESSION_CHOICES = ("lzf", "gzip", "none")


class ShowerSource(Protocol):
    """What every readable shower file offers (native or a public format)."""

    path: Path
    geometry: Geometry

    def __len__(self) -> int: ...
    def read(self, start: int = 0, stop: int | None = None) -> Showers: ...
    def iter_batches(self, batch_size: int) -> Iterator[Showers]: ...
    def close(self) -> None: ...


class ShowerReader(ABC):
    """Base of lazily read shower files: batching and ``with`` support on top of ``read``."""

    path: Path
    geometry: Geometry

    @abstractmethod
    def __len__(self) -> int:
        """Number of events in the file."""

    @abstractmethod
    def _read(self, start: int, stop: int) -> Showers:
        """Events ``start:stop`` (already clipped to the file) in GeV."""

    @abstractmethod
    def close(self) -> None:
        """Close the underlying file."""

    @property
    def stores_sparse(self) -> bool:
        """Whether the file holds each event's non-zero cells, so that sparse reads
        (``iter_batches(..., sparse=True)``) cost less than dense ones."""
        return False

    def _read_sparse(self, start: int, stop: int) -> SparseShowers:
        """Events ``start:stop`` (already clipped) as their non-zero cells; files that store
        images override this to skip them."""
        return SparseShowers.from_showers(self._read(start, stop))

    def _clip(self, start: int, stop: int | None) -> tuple[int, int]:
        n = len(self)
        stop = n if stop is None else min(max(stop, 0), n)
        return min(max(start, 0), stop), stop

    def _checked(self, batch: Any, start: int) -> Any:
        """``batch`` (events from ``start``) if every energy in it is finite; a NaN or an
        infinity is refused with a one-line error naming the file and the event."""
        energies = [batch.energy] if isinstance(batch, SparseShowers) else batch.layers
        if all(np.isfinite(np.sum(a, dtype=np.float64)) for a in energies) and np.isfinite(
            np.sum(batch.incident_energy, dtype=np.float64)
        ):
            return batch
        raise non_finite_error(self.path, batch, start)

    def read(self, start: int = 0, stop: int | None = None) -> Showers:
        """Events ``start:stop`` (clipped to the file) as an in-memory Showers in GeV."""
        start, stop = self._clip(start, stop)
        return self._checked(self._read(start, stop), start)

    def read_sparse(self, start: int = 0, stop: int | None = None) -> SparseShowers:
        """Events ``start:stop`` (clipped to the file) as their non-zero cells (GeV)."""
        start, stop = self._clip(start, stop)
        return self._checked(self._read_sparse(start, stop), start)

    @overload
    def iter_batches(
        self,
        batch_size: int,
        start: int = 0,
        stop: int | None = None,
        *,
        sparse: Literal[False] = False,
    ) -> Iterator[Showers]: ...
    @overload
    def iter_batches(
        self, batch_size: int, start: int = 0, stop: int | None = None, *, sparse: Literal[True]
    ) -> Iterator[SparseShowers]: ...
    @overload
    def iter_batches(
        self, batch_size: int, start: int = 0, stop: int | None = None, *, sparse: bool
    ) -> Iterator[Showers] | Iterator[SparseShowers]: ...
    def iter_batches(
        self, batch_size: int, start: int = 0, stop: int | None = None, *, sparse: bool = False
    ) -> Iterator[Showers] | Iterator[SparseShowers]:
        """Consecutive batches of at most ``batch_size`` events of ``start:stop``, each read
        from disk only when it is reached (memory stays bounded by one batch): Showers, or
        with ``sparse`` :class:`~calogeo.sparse.SparseShowers` (each event's non-zero cells,
        read from a version-2 native file without building images)."""
        if batch_size < 1:
            msg = f"batch_size must be positive, got {batch_size}"
            raise ValueError(msg)
        read = self._read_sparse if sparse else self._read
        start, stop = self._clip(start, stop)
        for first in range(start, stop, batch_size):
            yield self._checked(read(first, min(first + batch_size, stop)), first)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def non_finite_error(path: Path, batch: Showers | SparseShowers, start: int) -> ShowerDataError:
    """The error for a batch holding NaN or infinite energies: calogeo refuses them on
    reading (see README, "Non-finite and negative energies"), naming the first event."""
    incident = ~np.isfinite(batch.incident_energy)
    if isinstance(batch, SparseShowers):
        bad = ~np.isfinite(batch.energy)
        events = np.repeat(np.arange(len(batch)), batch.counts)[bad]
        values = batch.energy[bad]
    else:
        flat = batch.flat()
        rows, _ = np.nonzero(~np.isfinite(flat))
        events, values = rows, flat[~np.isfinite(flat)]
    if len(events) and (not incident.any() or events[0] <= np.flatnonzero(incident)[0]):
        first = int(events[0])
        what = (
            f"non-finite cell energy {values[0]} ({len(values)} such cells in events "
            f"{start}:{start + len(batch)})"
        )
    else:
        first = int(np.flatnonzero(incident)[0])
        what = f"incident energy {batch.incident_energy[first]}"
    msg = (
        f"{path}: event {start + first}: {what}; calogeo refuses NaN and infinite energies "
        "(repair or drop those events)"
    )
    return ShowerDataError(msg)


def h5_open_error(path: Path, exc: OSError) -> ShowerFileError:
    """A one-line error for an HDF5 file that cannot be opened; truncation is spelled out."""
    text = str(exc)
    cut = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", text)
    if cut:
        have, need = int(cut.group(1)), int(cut.group(2))
        msg = (
            f"{path}: truncated file: {have} of {need} bytes present (an interrupted copy or "
            f"download?); none of its datasets can be read"
        )
    elif not path.exists():
        msg = f"{path}: no such file"
    elif path.is_dir():
        msg = f"{path}: is a directory, not a shower file"
    else:
        msg = f"{path}: not a readable HDF5 file ({text})"
    return ShowerFileError(msg)


def is_native(path: str | Path) -> bool:
    """True if ``path`` is an HDF5 file in the native calogeo layout."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT_NAME
    except OSError:
        return False


class ShowerFile(ShowerReader):
    """A native shower file (format version 1 or 2) opened for lazy reading.

    Opening checks the format version, the embedded geometry and that every dataset has the
    shape that geometry and the event count need; each problem is a one-line ShowerFileError
    naming the file and the dataset.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._h5 = h5py.File(self.path, "r", rdcc_nbytes=READ_CACHE_BYTES)
        except OSError as exc:
            raise h5_open_error(self.path, exc) from exc
        self._datasets: dict[str, h5py.Dataset] = {}
        try:
            self.geometry = self._check_header()
            self._n = self._check_events()
            if self.format_version == 1:
                self._check_layers()
            else:
                self._check_cells()
        except BaseException:
            self._h5.close()
            raise

    def _check_header(self) -> Geometry:
        from calogeo.spec import geometry_from_spec

        attrs = self._h5.attrs
        if attrs.get("format") != FORMAT_NAME:
            msg = f"{self.path}: not a calogeo shower file (attribute 'format' is {attrs.get('format')!r})"
            raise ShowerFileError(msg)
        raw = attrs.get("format_version", -1)
        version = int(raw) if isinstance(raw, (int, np.integer)) else -1
        if version > FORMAT_VERSION:
            msg = (
                f"{self.path}: format version {version} is newer than this calogeo "
                f"{__version__} reads ({FORMAT_VERSION}); upgrade calogeo"
            )
            raise ShowerFileError(msg)
        if version < 1:
            msg = (
                f"{self.path}: attribute 'format_version' is missing or invalid ({raw!r}; "
                "expected a whole number)"
            )
            raise ShowerFileError(msg)
        self.format_version = version
        text = attrs.get("geometry_spec")
        if not isinstance(text, str):
            msg = f"{self.path}: attribute 'geometry_spec' is missing"
            raise ShowerFileError(msg)
        try:
            return geometry_from_spec(text, source=f"{self.path}:geometry_spec")
        except CalogeoError as exc:
            raise ShowerFileError(str(exc)) from exc

    def _dataset(self, name: str) -> h5py.Dataset:
        """Dataset ``name``, kept open so its chunk cache lives as long as the file."""
        if name not in self._datasets:
            item = self._h5.get(name)
            if not isinstance(item, h5py.Dataset):
                msg = f"{self.path}: dataset {name!r} is missing"
                raise ShowerFileError(msg)
            self._datasets[name] = item
        return self._datasets[name]

    def _check_events(self) -> int:
        """The event count, checked against the recorded one and every label dataset."""
        energy = self._dataset("incident_energy")
        if energy.ndim != 1 or energy.dtype.kind not in "iuf":
            msg = (
                f"{self.path}: dataset 'incident_energy' is {energy.dtype} {energy.shape}, "
                "expected real numbers (N,) in GeV"
            )
            raise ShowerFileError(msg)
        n = len(energy)
        recorded = self._h5.attrs.get("n_events")
        if recorded is not None and int(recorded) != n:
            msg = (
                f"{self.path}: dataset 'incident_energy' has {n} events but the file recorded "
                f"{int(recorded)} when it was written (truncated or modified?)"
            )
            raise ShowerFileError(msg)
        for label in self.label_names:
            name = f"labels/{label}"
            dataset = self._dataset(name)
            if dataset.dtype.kind not in "biuf":
                msg = (
                    f"{self.path}: dataset {name!r} holds {dataset.dtype} values; labels must "
                    "be numbers (bool, int, float)"
                )
                raise ShowerFileError(msg)
            count = len(dataset) if dataset.ndim else -1
            if count != n:
                msg = f"{self.path}: dataset {name!r} has {count} entries for {n} events"
                raise ShowerFileError(msg)
        return n

    def _check_layers(self) -> None:
        """Version 1: one (N, rows, cols) dataset per layer of the embedded geometry."""
        n = self._n
        expected = {layer.name for layer in self.geometry.layers}
        extra = sorted(set(self._h5.get("layers", {})) - expected)
        if extra:
            msg = (
                f"{self.path}: dataset 'layers/{extra[0]}' is not a layer of the embedded "
                f"geometry {self.geometry.name!r}"
            )
            raise ShowerFileError(msg)
        for layer in self.geometry.layers:
            name = f"layers/{layer.name}"
            ds = self._dataset(name)
            if ds.dtype.kind != "f":
                msg = (
                    f"{self.path}: dataset {name!r} holds {ds.dtype} values; cell energies "
                    "must be floating-point GeV"
                )
                raise ShowerFileError(msg)
            if ds.shape != (n, *layer.shape):
                msg = (
                    f"{self.path}: dataset {name!r} has shape {ds.shape}, but geometry "
                    f"{self.geometry.name!r} and {n} events need ({n}, {layer.shape[0]}, "
                    f"{layer.shape[1]})"
                )
                raise ShowerFileError(msg)

    def _check_cells(self) -> None:
        """Version 2: per-event ends, and as many cell indices (unsigned) as energies."""
        end = self._dataset("cells/end")
        if end.shape != (self._n,) or end.dtype.kind not in "iu":
            msg = (
                f"{self.path}: dataset 'cells/end' is {end.dtype} {end.shape}, expected "
                f"integers ({self._n},)"
            )
            raise ShowerFileError(msg)
        total = int(end[-1]) if self._n else 0
        for name, kinds in (("cells/index", "u"), ("cells/energy", "f")):
            ds = self._dataset(name)
            if ds.shape != (total,) or ds.dtype.kind not in kinds:
                what = "unsigned integers" if kinds == "u" else "floats"
                msg = (
                    f"{self.path}: dataset {name!r} is {ds.dtype} {ds.shape}, but 'cells/end' "
                    f"needs {what} ({total},)"
                )
                raise ShowerFileError(msg)

    @property
    def label_names(self) -> list[str]:
        """Names of the label datasets."""
        return sorted(self._h5["labels"]) if "labels" in self._h5 else []

    @property
    def metadata(self) -> dict[str, Any]:
        """Free-form provenance the writer recorded (e.g. simulation settings)."""
        text = self._h5.attrs.get("metadata")
        return dict(json.loads(text)) if isinstance(text, str) else {}

    def __len__(self) -> int:
        return self._n

    def close(self) -> None:
        """Close the underlying HDF5 file."""
        self._h5.close()

    def _get(self, name: str, start: int, stop: int) -> np.ndarray:
        """Entries ``start:stop`` of dataset ``name``; a read error names the dataset."""
        try:
            return self._dataset(name)[start:stop]
        except OSError as exc:
            msg = f"{self.path}: cannot read dataset {name!r} (truncated or corrupt file?): {exc}"
            raise ShowerFileError(msg) from exc

    def _labels(self, start: int, stop: int) -> dict[str, np.ndarray]:
        return {label: self._get(f"labels/{label}", start, stop) for label in self.label_names}

    def _read(self, start: int, stop: int) -> Showers:
        if self.format_version > 1:
            return self._read_sparse(start, stop).dense()
        energy = self._get("incident_energy", start, stop)
        layers = [self._get(f"layers/{layer.name}", start, stop) for layer in self.geometry.layers]
        return Showers(self.geometry, layers, energy, self._labels(start, stop))

    @property
    def stores_sparse(self) -> bool:
        """Version-2 files hold the non-zero cells themselves."""
        return self.format_version >= 2

    def _read_sparse(self, start: int, stop: int) -> SparseShowers:
        if self.format_version == 1:
            return super()._read_sparse(start, stop)
        ends = self._get("cells/end", max(start - 1, 0), stop)  # with the previous event's
        offsets = np.concatenate([np.zeros(1 if start == 0 else 0, np.int64), ends]).astype(
            np.int64, copy=False
        )
        first, last = int(offsets[0]), int(offsets[-1])
        index = self._get("cells/index", first, last)
        if (
            len(index) != last - first
            or np.any(offsets[1:] < offsets[:-1])
            or (len(index) and int(index.max()) >= self.geometry.n_cells)
        ):
            msg = (
                f"{self.path}: datasets 'cells/end' and 'cells/index' of events {start}:{stop} "
                f"point outside the {self.geometry.n_cells} cells of {self.geometry.name!r} "
                "(corrupt file?)"
            )
            raise ShowerFileError(msg)
        offsets -= first
        return SparseShowers(
            self.geometry,
            offsets,
            index,
            self._get("cells/energy", first, last),
            self._get("incident_energy", start, stop),
            self._labels(start, stop),
        )
