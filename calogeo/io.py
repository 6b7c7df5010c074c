"""The native shower file: HDF5, one dataset per layer, self-describing.

Layout (format version 1)::

    /                     attrs: format="calogeo-showers", format_version=1,
                                 calogeo_version, geometry_name, geometry_spec (TOML text),
                                 n_events (written when the writer closes),
                                 metadata (JSON object of free-form provenance, optional)
    /incident_energy      (N,) float32, GeV
    /layers/<layer name>  (N, rows, cols) float32, GeV, one per geometry layer in depth order
    /labels/<label>       (N, ...) one per label (see calogeo.showers.STANDARD_LABELS)

Every dataset is chunked by event (all with the same number of events per chunk, about 1 MiB
for the largest layer) and compressed. Files are read lazily in batches (memory is bounded by
the batch and a 2 MiB chunk cache per dataset, not by the file) and written atomically: a writer fills ``<name>.partial-<pid>``,
stages appended events into whole chunks, and renames the file only when it closes cleanly;
an exception or Ctrl-C removes the partial file.

The default filter is LZF: on simulated 50 GeV photons in the 25x25x25 CLIC window (3% of
cells non-zero) it wrote about 7,300 events/s against 3,500 for gzip level 1 with byte shuffling
(``benchmarks/io_write.py``), the only filter within the simulator's write budget of 20% of
1 ms per shower. ``compression="gzip"`` (level 1, no shuffling: on such sparse data shuffling
made files larger and writing slower) is for tools without h5py's LZF filter.
"""

from __future__ import annotations

import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import h5py
import numpy as np

from calogeo._version import __version__
from calogeo.errors import CalogeoError, ShowerFileError
from calogeo.geometry import Geometry
from calogeo.showers import Showers

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ShowerFile",
    "ShowerReader",
    "ShowerSource",
    "ShowerWriter",
    "atomic_path",
    "create_partial",
    "h5_open_error",
    "is_native",
    "open_showers",
    "read_showers",
    "write_showers",
]

FORMAT_NAME = "calogeo-showers"
FORMAT_VERSION = 1
CHUNK_BYTES = 1 << 20  # target size of one chunk of the largest layer dataset
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

    def read(self, start: int = 0, stop: int | None = None) -> Showers:
        """Events ``start:stop`` (clipped to the file) as an in-memory Showers in GeV."""
        n = len(self)
        stop = n if stop is None else min(stop, n)
        start = min(max(start, 0), stop)
        return self._read(start, stop)

    def iter_batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[Showers]:
        """Consecutive batches of at most ``batch_size`` events of ``start:stop``, each read
        from disk only when it is reached (memory stays bounded by one batch)."""
        if batch_size < 1:
            msg = f"batch_size must be positive, got {batch_size}"
            raise ValueError(msg)
        stop = len(self) if stop is None else min(stop, len(self))
        for first in range(max(start, 0), stop, batch_size):
            yield self._read(first, min(first + batch_size, stop))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def open_showers(path: str | Path, geometry: Geometry | None = None) -> ShowerReader:
    """Open a shower file lazily: native, or any public format a formats plugin can detect.

    ``geometry`` is needed only for formats that do not carry their geometry; for a native file
    it must be the file's own geometry if given.
    """
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
    from calogeo.formats import open_foreign

    return open_foreign(path, geometry)


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


class ShowerFile(ShowerReader):
    """A native shower file opened for lazy reading.

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
            self._n = self._check_datasets()
        except BaseException:
            self._h5.close()
            raise

    def _check_header(self) -> Geometry:
        from calogeo.spec import geometry_from_spec

        attrs = self._h5.attrs
        if attrs.get("format") != FORMAT_NAME:
            msg = f"{self.path}: not a calogeo shower file (attribute 'format' is {attrs.get('format')!r})"
            raise ShowerFileError(msg)
        version = int(attrs.get("format_version", -1))
        if version > FORMAT_VERSION:
            msg = (
                f"{self.path}: format version {version} is newer than this calogeo "
                f"{__version__} reads ({FORMAT_VERSION}); upgrade calogeo"
            )
            raise ShowerFileError(msg)
        if version < 1:
            msg = f"{self.path}: attribute 'format_version' is missing or invalid"
            raise ShowerFileError(msg)
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

    def _check_datasets(self) -> int:
        energy = self._dataset("incident_energy")
        if energy.ndim != 1:
            msg = f"{self.path}: dataset 'incident_energy' has shape {energy.shape}, expected (N,)"
            raise ShowerFileError(msg)
        n = len(energy)
        recorded = self._h5.attrs.get("n_events")
        if recorded is not None and int(recorded) != n:
            msg = (
                f"{self.path}: dataset 'incident_energy' has {n} events but the file recorded "
                f"{int(recorded)} when it was written (truncated or modified?)"
            )
            raise ShowerFileError(msg)
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
            if ds.shape != (n, *layer.shape):
                msg = (
                    f"{self.path}: dataset {name!r} has shape {ds.shape}, but geometry "
                    f"{self.geometry.name!r} and {n} events need ({n}, {layer.shape[0]}, "
                    f"{layer.shape[1]})"
                )
                raise ShowerFileError(msg)
        for label in self.label_names:
            name = f"labels/{label}"
            count = len(self._dataset(name))
            if count != n:
                msg = f"{self.path}: dataset {name!r} has {count} entries for {n} events"
                raise ShowerFileError(msg)
        return n

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

    def _read(self, start: int, stop: int) -> Showers:
        name = "incident_energy"
        try:
            energy = self._dataset(name)[start:stop]
            layers = []
            for layer in self.geometry.layers:
                name = f"layers/{layer.name}"
                layers.append(self._dataset(name)[start:stop])
            labels = {}
            for label in self.label_names:
                name = f"labels/{label}"
                labels[label] = self._dataset(name)[start:stop]
        except OSError as exc:
            msg = f"{self.path}: cannot read dataset {name!r} (truncated or corrupt file?): {exc}"
            raise ShowerFileError(msg) from exc
        return Showers(self.geometry, layers, energy, labels)


def atomic_path(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    return path.with_name(f"{path.name}.partial-{os.getpid()}")


def create_partial(path: Path) -> h5py.File:
    """Create (for writing) the HDF5 file at ``atomic_path(path)``, making parent folders."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return h5py.File(atomic_path(path), "w")
    except OSError as exc:
        msg = f"{path}: cannot create file: {exc}"
        raise ShowerFileError(msg) from exc


class ShowerWriter:
    """Write a native file in appended batches; the file appears only when the writer closes
    without error (an exception or Ctrl-C removes the partial file).

    ``compression`` is ``"lzf"`` (default), ``"gzip"`` (``level`` 0-9, default 1; byte
    shuffling only if ``shuffle``) or None; ``metadata`` is a JSON-serialisable mapping stored with the file;
    ``chunk_events`` overrides the events per chunk (default: about 1 MiB of the largest layer).
    Appended events are copied into one reused chunk-sized buffer per dataset and written a
    whole chunk at a time, so batches of any size cost the same and strided inputs (e.g.
    ``Showers.from_flat`` views) are gathered once into warm memory.
    """

    def __init__(
        self,
        path: str | Path,
        geometry: Geometry,
        *,
        compression: str | None = "lzf",
        level: int | None = None,
        shuffle: bool = False,
        metadata: Mapping[str, Any] | None = None,
        chunk_events: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.geometry = geometry
        self._tmp = atomic_path(self.path)
        self._filters = _filters(compression, level, shuffle)
        try:
            self._metadata = json.dumps(dict(metadata or {}), sort_keys=True)
        except TypeError as exc:
            msg = f"{self.path}: metadata is not JSON-serialisable: {exc}"
            raise ShowerFileError(msg) from exc
        largest = max(layer.n_cells for layer in geometry.layers)
        self.chunk_events = chunk_events or max(1, CHUNK_BYTES // (4 * largest))
        self._h5: h5py.File | None = None
        self._label_names: list[str] | None = None
        self._stage: dict[str, np.ndarray] = {}  # dataset name -> one chunk of pending events
        self._staged = 0
        self.n_events = 0

    def __enter__(self) -> Self:
        self._h5 = create_partial(self.path)
        attrs = self._h5.attrs
        attrs["format"] = FORMAT_NAME
        attrs["format_version"] = FORMAT_VERSION
        attrs["calogeo_version"] = __version__
        attrs["geometry_name"] = self.geometry.name
        attrs["geometry_spec"] = self.geometry.spec_text
        attrs["metadata"] = self._metadata
        self._create("incident_energy", (), np.float32)
        for layer in self.geometry.layers:
            self._create(f"layers/{layer.name}", layer.shape, np.float32)
        return self

    def _create(self, name: str, shape: tuple[int, ...], dtype: Any) -> None:
        assert self._h5 is not None
        self._h5.create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=dtype,
            chunks=(self.chunk_events, *shape),
            **self._filters,
        )
        self._stage[name] = np.empty((self.chunk_events, *shape), dtype=dtype)

    def append(self, showers: Showers) -> None:
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
            self._label_names = sorted(showers.labels)
            self._h5.create_group("labels")
            for name in self._label_names:
                values = showers.labels[name]
                self._create(f"labels/{name}", values.shape[1:], values.dtype)
        self._check_labels(showers)
        columns = {"incident_energy": showers.incident_energy}
        for layer, array in zip(self.geometry.layers, showers.layers, strict=True):
            columns[f"layers/{layer.name}"] = array
        for name in self._label_names:
            columns[f"labels/{name}"] = showers.labels[name]
        first = 0
        while first < len(showers):
            count = min(len(showers) - first, self.chunk_events - self._staged)
            for name, values in columns.items():
                self._stage[name][self._staged : self._staged + count] = values[
                    first : first + count
                ]
            self._staged += count
            first += count
            if self._staged == self.chunk_events:
                self._write_stage()

    def _check_labels(self, showers: Showers) -> None:
        assert self._h5 is not None
        assert self._label_names is not None
        if sorted(showers.labels) != self._label_names:
            msg = f"{self.path}: labels {sorted(showers.labels)} differ from {self._label_names}"
            raise ShowerFileError(msg)
        for name in self._label_names:
            stage = self._stage[f"labels/{name}"]
            values = showers.labels[name]
            if values.shape[1:] != stage.shape[1:] or not np.can_cast(values.dtype, stage.dtype):
                msg = (
                    f"{self.path}: label {name!r} of dtype {values.dtype} and shape "
                    f"{values.shape[1:]} per event does not fit dataset 'labels/{name}' "
                    f"({stage.dtype}, {stage.shape[1:]})"
                )
                raise ShowerFileError(msg)

    def _write_stage(self) -> None:
        """Write the staged events (a whole chunk, or the tail when closing)."""
        assert self._h5 is not None
        n0, n1 = self.n_events, self.n_events + self._staged
        for name, stage in self._stage.items():
            ds = self._h5[name]
            ds.resize(n1, axis=0)
            ds[n0:n1] = stage[: self._staged]
        self.n_events = n1
        self._staged = 0

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._h5 is not None
        complete = False
        try:
            if exc_type is None:
                if self._staged:
                    self._write_stage()
                self._h5.attrs["n_events"] = self.n_events
                complete = True
        finally:
            self._h5.close()
            self._h5 = None
            if complete:
                self._tmp.replace(self.path)
            else:
                self._tmp.unlink(missing_ok=True)


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
