"""The native shower file: HDF5, self-describing, events stored as their non-zero cells.

Layout (format version 2, the default)::

    /                     attrs: format="calogeo-showers", format_version=2,
                                 calogeo_version, geometry_name, geometry_spec (TOML text),
                                 n_events (written when the writer closes),
                                 metadata (JSON object of free-form provenance, optional)
    /incident_energy      (N,) float32, GeV
    /cells/end            (N,) int64: event i's cells are entries end[i-1]:end[i] (end[-1] = 0)
    /cells/index          (M,) uint16 (geometries of at most 65,536 cells) or uint32: the flat
                          cell index in the geometry's cell order (layers in depth order, each
                          row-major), ascending within an event
    /cells/energy         (M,) float32, GeV, non-zero
    /labels/<label>       (N, ...) one per label (see calogeo.showers.STANDARD_LABELS)

Format version 1 (still read, and written with ``format_version=1`` for older calogeo) stores
dense images instead of ``/cells``: ``/layers/<layer name>`` (N, rows, cols) float32 GeV, one
per geometry layer in depth order, chunked by event (about 1 MiB of the largest layer).

Per-event datasets are chunked by event (the same number of events per chunk, 8,192 in
version 2); ``cells/index`` and ``cells/energy`` by cell (65,536 per chunk, 256 KiB of float32).
Every dataset is compressed (default LZF, with byte shuffling for all but ``cells/energy``). Files are read lazily in batches
(memory is bounded by the batch and a 2 MiB chunk cache per dataset, not by the file), as
:class:`~calogeo.showers.Showers` or, without densifying, as
:class:`~calogeo.sparse.SparseShowers` (``iter_batches(..., sparse=True)``); they are written
atomically (:mod:`calogeo.outputs`): a writer fills ``<name>.partial-<pid>``, stages appended
events into whole chunks, and renames the file only when it closes cleanly; an exception, a full
disk, Ctrl-C, SIGTERM or SIGHUP removes the partial file, and one left by a killed process is
removed by the next writer of the same file. An older calogeo refuses a version-2 file with its "newer format version" error.

The default was chosen by ``benchmarks/io_write.py`` on simulated CLIC, ATLAS, ILD and LUXE
showers (1.8-15% of cells non-zero): against LZF on dense images (version 1), version 2 with LZF
made files 1.2-1.8x smaller and wrote 1.1-7x and read 2.7-20x faster (as images; faster still
as SparseShowers), writing in under 15% of the simulation's time. Shuffling the bytes of the
cell indices makes them 23-54% smaller; shuffling the energies saves 7% and makes reading them
5-9x slower, so they are not. gzip (level 1, ``compression="gzip"``, for tools without h5py's
LZF filter) is 5-10% smaller and writes up to 2x slower; uint32 cell indices gain nothing;
chunks of 2^20 cells, larger than the read cache, read 2-10x slower.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from calogeo._version import __version__
from calogeo.errors import ShowerFileError
from calogeo.geometry import Geometry
from calogeo.native import (
    CHUNK_BYTES,
    CHUNK_CELLS,
    CHUNK_EVENTS,
    COMPRESSION_CHOICES,
    FORMAT_NAME,
    FORMAT_VERSION,
    FORMAT_VERSIONS,
    ShowerFile,
    ShowerReader,
    ShowerSource,
    h5_open_error,
    is_native,
)
from calogeo.outputs import AtomicOutput, os_error_reason, partial_path
from calogeo.showers import Showers
from calogeo.sparse import SparseShowers, index_dtype

if TYPE_CHECKING:
    from typing_extensions import Self

    from calogeo.formats import ShowerFormat

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "AtomicH5File",
    "ShowerFile",
    "ShowerReader",
    "ShowerSource",
    "ShowerWriter",
    "SparseShowers",
    "atomic_path",
    "check_path_name",
    "detect_format",
    "h5_open_error",
    "is_native",
    "open_showers",
    "read_showers",
    "to_dask",
    "write_error",
    "write_showers",
]


def detect_format(path: str | Path) -> type[ShowerFormat]:
    """The registered public layout (a formats plugin's :class:`~calogeo.formats.ShowerFormat`)
    that recognises ``path``. Formats are looked up in the plugin registry, so this module does
    not import :mod:`calogeo.formats` (which builds on it)."""
    from calogeo.plugins import plugin_manager

    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            for entry in plugin_manager().formats:
                fmt: Any = entry.load()
                if fmt.detect(h5):
                    return fmt
            keys = ", ".join(sorted(h5.keys())[:8])
    except OSError as exc:
        raise h5_open_error(path, exc) from exc
    msg = f"{path}: no known shower layout matches its datasets ({keys or 'none'})"
    raise ShowerFileError(msg)


def open_showers(path: str | Path | list[Any], geometry: Geometry | None = None) -> ShowerReader:
    """Open a shower file lazily: native, or any public format a formats plugin can detect.

    ``geometry`` is needed only for formats that do not carry their geometry; for a native file
    it must be the file's own geometry if given. A directory, a glob or a list of native
    files opens as one dataset (:mod:`calogeo.dataset`).
    """
    from calogeo.dataset import is_dataset, open_dataset

    if isinstance(path, list) or is_dataset(path):
        dataset = open_dataset(path)
        if geometry is not None and geometry != dataset.geometry:
            dataset.close()
            msg = (
                f"{path}: the dataset's showers are on geometry {dataset.geometry.name!r}, "
                f"not on {geometry.name!r}"
            )
            raise ShowerFileError(msg)
        return dataset
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            native = h5.attrs.get("format") == FORMAT_NAME
    except OSError as exc:
        raise h5_open_error(path, exc) from exc
    if native:
        source = ShowerFile(path)
        if geometry is not None and geometry != source.geometry:
            source.close()
            msg = (
                f"{path}: the file's showers are on geometry {source.geometry.name!r}, not on "
                f"{geometry.name!r} (native files carry their geometry; drop --from)"
            )
            raise ShowerFileError(msg)
        return source
    return detect_format(path).open(path, geometry)


def to_dask(spec: Any, chunk_events: int = CHUNK_EVENTS) -> tuple[Any, dict[str, Any]]:
    """A file or dataset as Dask arrays (cells, labels); see :func:`calogeo.dataset.to_dask`."""
    from calogeo.dataset import to_dask as dataset_to_dask

    return dataset_to_dask(spec, chunk_events)


def read_showers(
    path: str | Path, start: int = 0, stop: int | None = None, geometry: Geometry | None = None
) -> Showers:
    """Read events ``start:stop`` of a shower file (native or public) into memory."""
    with open_showers(path, geometry) as source:
        return source.read(start, stop)


def write_showers(path: str | Path, showers: Showers, **options: Any) -> None:
    """Write ``showers`` to a native file atomically (options: see ShowerWriter)."""
    with ShowerWriter(path, showers.geometry, **options) as writer:
        writer.append(showers)


def atomic_path(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    return partial_path(path)


def write_error(path: Path, exc: BaseException) -> ShowerFileError:
    """A one-line error for a failed write (a full disk, a file-size limit...)."""
    if isinstance(exc, ShowerFileError):
        return exc
    msg = f"{path}: cannot write: {os_error_reason(exc)}"
    error = ShowerFileError(msg)
    error.__cause__ = exc
    return error


def check_path_name(name: str, what: str) -> None:
    """Refuse a layer or label name that cannot be one HDF5 path component (empty, ``.``,
    ``..``, or holding ``/`` or a NUL character)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        msg = (
            f"{what} {name!r}: not usable as a dataset name (it must be non-empty, not '.' or "
            "'..', without '/')"
        )
        raise ShowerFileError(msg)


class AtomicH5File:
    """An HDF5 file written under ``<name>.partial-<pid>`` (see :mod:`calogeo.outputs`) and
    renamed onto ``path`` by ``close(complete=True)``; any failure removes it.

    The file is opened without a chunk cache: writers here write whole chunks, and a write
    that fails (a full disk) then fails at once, with no dirty chunk left for HDF5 to retry
    (and crash on) when the file or the interpreter closes.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._output = AtomicOutput(self.path)
        self.h5: h5py.File | None = None

    def open(self) -> h5py.File:
        """Create the partial file for writing (making parent folders)."""
        tmp = self._output.open()
        try:
            self.h5 = h5py.File(tmp, "w", rdcc_nbytes=0)
        except OSError as exc:
            self._output.discard()
            msg = f"{self.path}: cannot create file: {os_error_reason(exc)}"
            raise ShowerFileError(msg) from exc
        return self.h5

    def close(self, *, complete: bool) -> None:
        """Close the file; rename it onto ``path`` if ``complete``, else remove it."""
        h5, self.h5 = self.h5, None
        if h5 is None:
            return
        try:
            h5.close()
        except Exception as exc:
            self._output.discard()
            if complete:
                raise write_error(self.path, exc) from exc
            return
        if complete:
            self._output.commit()
        else:
            self._output.discard()


class _Column:
    """One extendable dataset written along axis 0 a whole chunk at a time: appended values
    are gathered into one reused chunk-sized buffer, or, when nothing is staged and they are
    contiguous, whole chunks are written straight from them (no copy)."""

    def __init__(
        self,
        h5: h5py.File,
        name: str,
        shape: tuple[int, ...],
        dtype: Any,
        chunk: int,
        filters: Mapping[str, Any],
    ) -> None:
        self.dataset = h5.create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=dtype,
            chunks=(chunk, *shape),
            **filters,
        )
        self.stage = np.empty((chunk, *shape), dtype=dtype)
        self.staged = 0
        self.written = 0

    def append(self, values: np.ndarray) -> None:
        chunk, first, n = len(self.stage), 0, len(values)
        if not self.staged and n >= chunk:
            whole = n - n % chunk
            if values.dtype == self.stage.dtype and values[:whole].flags.c_contiguous:
                self._write(values[:whole])
                first = whole
        while first < n:
            count = min(n - first, chunk - self.staged)
            self.stage[self.staged : self.staged + count] = values[first : first + count]
            self.staged += count
            first += count
            if self.staged == chunk:
                self.flush()

    def flush(self) -> None:
        """Write the staged values (a whole chunk, or the tail when closing)."""
        if self.staged:
            self._write(self.stage[: self.staged])
            self.staged = 0

    def _write(self, values: np.ndarray) -> None:
        end = self.written + len(values)
        self.dataset.resize(end, axis=0)
        self.dataset[self.written : end] = values
        self.written = end


class ShowerWriter:
    """Write a native file in appended batches; the file appears only when the writer closes
    without error (an exception or Ctrl-C removes the partial file).

    ``format_version`` 2 (default) stores each event's non-zero cells, 1 dense images (for an
    older calogeo). ``compression`` is ``"lzf"`` (default), ``"gzip"`` (``level`` 0-9,
    default 1) or None; ``shuffle`` (byte shuffling before compression) True or False applies
    to every dataset; by default (None) version 2 shuffles all but ``cells/energy`` (whose
    float32 mantissas barely compress: shuffling them saved 7% and made reading them 5-9x
    slower) and version 1 none (it made files larger and writing slower);
    ``metadata`` is a JSON-serialisable mapping stored with the file; ``chunk_events``
    overrides the events per chunk (default: 8,192 in version 2, about 1 MiB of the largest
    layer in version 1) and ``chunk_cells`` the cells per chunk of version 2 (65,536).
    Batches (:class:`~calogeo.showers.Showers` or :class:`~calogeo.sparse.SparseShowers`)
    are staged into whole chunks, so batches of any size cost the same.
    """

    def __init__(
        self,
        path: str | Path,
        geometry: Geometry,
        *,
        format_version: int = FORMAT_VERSION,
        compression: str | None = "lzf",
        level: int | None = None,
        shuffle: bool | None = None,
        metadata: Mapping[str, Any] | None = None,
        chunk_events: int | None = None,
        chunk_cells: int = CHUNK_CELLS,
    ) -> None:
        self.path = Path(path)
        self.geometry = geometry
        if format_version not in FORMAT_VERSIONS:
            msg = f"format_version {format_version!r}: expected one of {FORMAT_VERSIONS}"
            raise ShowerFileError(msg)
        self.format_version = format_version
        if format_version == 1:
            for layer in geometry.layers:
                check_path_name(layer.name, f"{self.path}: layer")
        self._file = AtomicH5File(self.path)
        dense = format_version == 1
        self._filters = _filters(compression, level, (not dense) if shuffle is None else shuffle)
        self._energy_filters = _filters(compression, level, bool(shuffle))
        try:
            self._metadata = json.dumps(dict(metadata or {}), sort_keys=True)
        except TypeError as exc:
            msg = f"{self.path}: metadata is not JSON-serialisable: {exc}"
            raise ShowerFileError(msg) from exc
        largest = max(layer.n_cells for layer in geometry.layers)
        default_events = max(1, CHUNK_BYTES // (4 * largest)) if dense else CHUNK_EVENTS
        self.chunk_events = chunk_events or default_events
        self.chunk_cells = chunk_cells
        self._h5: h5py.File | None = None
        self._label_names: list[str] | None = None
        self._columns: dict[str, _Column] = {}
        self.n_events = 0
        self._n_cells = 0  # version 2: cells written so far

    def __enter__(self) -> Self:
        self._h5 = self._file.open()
        try:
            attrs = self._h5.attrs
            attrs["format"] = FORMAT_NAME
            attrs["format_version"] = self.format_version
            attrs["calogeo_version"] = __version__
            attrs["geometry_name"] = self.geometry.name
            attrs["geometry_spec"] = self.geometry.spec_text
            attrs["metadata"] = self._metadata
            self._create("incident_energy", (), np.float32)
            if self.format_version == 1:
                for layer in self.geometry.layers:
                    self._create(f"layers/{layer.name}", layer.shape, np.float32)
            else:
                self._create("cells/end", (), np.int64)
                dtype = index_dtype(self.geometry.n_cells)
                self._create("cells/index", (), dtype, self.chunk_cells)
                self._create("cells/energy", (), np.float32, self.chunk_cells, self._energy_filters)
        except BaseException as exc:
            self._abandon()
            if isinstance(exc, (OSError, RuntimeError, ValueError, MemoryError)):
                raise write_error(self.path, exc) from exc
            raise
        return self

    def _abandon(self) -> None:
        """Close and remove the partial file (after a failure)."""
        self._h5 = None
        self._columns.clear()
        self._file.close(complete=False)

    def _create(
        self,
        name: str,
        shape: tuple[int, ...],
        dtype: Any,
        chunk: int = 0,
        filters: Mapping[str, Any] | None = None,
    ) -> None:
        assert self._h5 is not None
        self._columns[name] = _Column(
            self._h5,
            name,
            shape,
            dtype,
            chunk or self.chunk_events,
            self._filters if filters is None else filters,
        )

    def append(self, showers: Showers | SparseShowers) -> None:
        """Append a batch; its geometry must be the writer's and its labels (names, dtypes,
        shapes) those of the first batch."""
        if self._h5 is None:
            msg = "ShowerWriter.append called outside its 'with' block"
            raise RuntimeError(msg)
        if showers.geometry != self.geometry:
            msg = (
                f"{self.path}: cannot append showers on {showers.geometry.name!r} to a file on "
                f"{self.geometry.name!r}"
            )
            raise ShowerFileError(msg)
        if self._label_names is None:
            for name in showers.labels:
                check_path_name(name, f"{self.path}: label")
            self._label_names = sorted(showers.labels)
            try:
                self._h5.create_group("labels")
                for name in self._label_names:
                    values = showers.labels[name]
                    self._create(f"labels/{name}", values.shape[1:], values.dtype)
            except (OSError, RuntimeError, ValueError, TypeError) as exc:
                raise write_error(self.path, exc) from exc
        self._check_labels(showers)
        columns = {"incident_energy": showers.incident_energy}
        if self.format_version == 1:
            dense = showers.dense() if isinstance(showers, SparseShowers) else showers
            for layer, array in zip(self.geometry.layers, dense.layers, strict=True):
                columns[f"layers/{layer.name}"] = array
        else:
            sparse = (
                showers
                if isinstance(showers, SparseShowers)
                else SparseShowers.from_showers(showers)
            )
            columns["cells/end"] = sparse.offsets[1:] + self._n_cells
            columns["cells/index"] = sparse.index
            columns["cells/energy"] = sparse.energy
            self._n_cells += len(sparse.index)
        for name in self._label_names:
            columns[f"labels/{name}"] = showers.labels[name]
        try:
            for name, values in columns.items():
                self._columns[name].append(values)
        except (OSError, RuntimeError) as exc:  # h5py: a full disk, a file-size limit
            raise write_error(self.path, exc) from exc
        self.n_events += len(showers)

    def _check_labels(self, showers: Showers | SparseShowers) -> None:
        assert self._h5 is not None
        assert self._label_names is not None
        if sorted(showers.labels) != self._label_names:
            msg = f"{self.path}: labels {sorted(showers.labels)} differ from {self._label_names}"
            raise ShowerFileError(msg)
        for name in self._label_names:
            stage = self._columns[f"labels/{name}"].stage
            values = showers.labels[name]
            if values.shape[1:] != stage.shape[1:] or not np.can_cast(values.dtype, stage.dtype):
                msg = (
                    f"{self.path}: label {name!r} of dtype {values.dtype} and shape "
                    f"{values.shape[1:]} per event does not fit dataset 'labels/{name}' "
                    f"({stage.dtype}, {stage.shape[1:]})"
                )
                raise ShowerFileError(msg)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._h5 is None:
            return
        if exc_type is not None:
            self._abandon()
            return
        try:
            for column in self._columns.values():
                column.flush()
            self._h5.attrs["n_events"] = self.n_events
        except BaseException as error:
            self._abandon()
            if isinstance(error, (OSError, RuntimeError)):
                raise write_error(self.path, error) from error
            raise
        self._h5 = None
        self._columns.clear()
        self._file.close(complete=True)


def _filters(compression: str | None, level: int | None, shuffle: bool) -> dict[str, Any]:
    """h5py dataset filter options for a compression choice."""
    if compression in (None, "none"):
        options: dict[str, Any] = {}
    elif compression == "lzf":
        options = {"compression": "lzf"}
    elif compression == "gzip":
        options = {"compression": "gzip", "compression_opts": 1 if level is None else level}
    else:
        msg = f"compression {compression!r}: expected one of {', '.join(COMPRESSION_CHOICES)}"
        raise ShowerFileError(msg)
    return options | ({"shuffle": True} if shuffle else {})
