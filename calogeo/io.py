"""The native shower file: HDF5, one dataset per layer, self-describing.

Layout (format version 1)::

    /                     attrs: format="calogeo-showers", format_version=1,
                                 calogeo_version, geometry_name, geometry_spec (TOML text)
    /incident_energy      (N,) float32, GeV
    /layers/<layer name>  (N, rows, cols) float32, GeV, one per geometry layer in depth order
    /labels/<label>       (N, ...) one per label (see calogeo.showers.STANDARD_LABELS)

Datasets are chunked by event and compressed; files are read lazily in batches and written
atomically: a writer fills ``<name>.partial-<pid>`` and renames it only when it closes cleanly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import h5py
import numpy as np

from calogeo._version import __version__
from calogeo.errors import CalogeoError, ShowerFileError
from calogeo.geometry import Geometry
from calogeo.showers import Showers

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "ShowerFile",
    "ShowerSource",
    "ShowerWriter",
    "atomic_path",
    "is_native",
    "open_showers",
    "read_showers",
    "write_showers",
]

FORMAT_NAME = "calogeo-showers"
FORMAT_VERSION = 1
CHUNK_BYTES = 1 << 20  # target size of one chunk of a layer dataset


class ShowerSource(Protocol):
    """What every readable shower file offers (native or a public format)."""

    path: Path
    geometry: Geometry

    def __len__(self) -> int: ...
    def read(self, start: int = 0, stop: int | None = None) -> Showers: ...
    def iter_batches(self, batch_size: int) -> Iterator[Showers]: ...
    def close(self) -> None: ...


def is_native(path: str | Path) -> bool:
    """True if ``path`` is an HDF5 file in the native calogeo layout."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == FORMAT_NAME
    except OSError:
        return False


def open_showers(path: str | Path, geometry: Geometry | None = None) -> ShowerSource:
    """Open a shower file lazily: native, or any public format a formats plugin can detect.

    ``geometry`` is needed only for formats that do not carry their geometry.
    """
    path = Path(path)
    if not path.exists():
        msg = f"{path}: no such file"
        raise ShowerFileError(msg)
    if is_native(path):
        return ShowerFile(path)
    from calogeo.formats import open_foreign

    return open_foreign(path, geometry)


def read_showers(path: str | Path, start: int = 0, stop: int | None = None) -> Showers:
    """Read events ``start:stop`` of a shower file into memory."""
    with open_showers(path) as source:  # type: ignore[attr-defined]
        return source.read(start, stop)  # type: ignore[no-any-return]


def write_showers(path: str | Path, showers: Showers, **options: Any) -> None:
    """Write ``showers`` to a native file atomically (options: see ShowerWriter)."""
    with ShowerWriter(path, showers.geometry, **options) as writer:
        writer.append(showers)


class ShowerFile:
    """A native shower file opened for lazy reading."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            msg = f"{self.path}: not a readable HDF5 file (missing, truncated or corrupt): {exc}"
            raise ShowerFileError(msg) from exc
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
                f"{self.path}: format version {version} is newer than this calogeo reads "
                f"({FORMAT_VERSION}); upgrade calogeo"
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
        try:
            return self._h5[name]
        except KeyError:
            msg = f"{self.path}: dataset {name!r} is missing"
            raise ShowerFileError(msg) from None

    def _check_datasets(self) -> int:
        energy = self._dataset("incident_energy")
        n = len(energy)
        for layer in self.geometry.layers:
            ds = self._dataset(f"layers/{layer.name}")
            if ds.shape != (n, *layer.shape):
                msg = (
                    f"{self.path}: dataset 'layers/{layer.name}' has shape {ds.shape}, but "
                    f"geometry {self.geometry.name!r} needs ({n}, {layer.shape[0]}, {layer.shape[1]})"
                )
                raise ShowerFileError(msg)
        for name in self.label_names:
            if len(self._h5[f"labels/{name}"]) != n:
                msg = f"{self.path}: dataset 'labels/{name}' does not have {n} entries"
                raise ShowerFileError(msg)
        return n

    @property
    def label_names(self) -> list[str]:
        """Names of the label datasets."""
        return sorted(self._h5["labels"]) if "labels" in self._h5 else []

    def __len__(self) -> int:
        return self._n

    def __enter__(self) -> ShowerFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HDF5 file."""
        self._h5.close()

    def read(self, start: int = 0, stop: int | None = None) -> Showers:
        """Events ``start:stop`` as an in-memory Showers."""
        stop = self._n if stop is None else min(stop, self._n)
        name = "incident_energy"
        try:
            energy = self._h5[name][start:stop]
            layers = []
            for layer in self.geometry.layers:
                name = f"layers/{layer.name}"
                layers.append(self._h5[name][start:stop])
            labels = {}
            for label in self.label_names:
                name = f"labels/{label}"
                labels[label] = self._h5[name][start:stop]
        except OSError as exc:
            msg = f"{self.path}: cannot read dataset {name!r} (truncated or corrupt file?): {exc}"
            raise ShowerFileError(msg) from exc
        return Showers(self.geometry, layers, energy, labels)

    def iter_batches(self, batch_size: int) -> Iterator[Showers]:
        """Consecutive batches of at most ``batch_size`` events, read lazily."""
        for start in range(0, self._n, batch_size):
            yield self.read(start, start + batch_size)


def atomic_path(path: Path) -> Path:
    """The temporary name a file is written under before it is renamed to ``path``."""
    return path.with_name(f"{path.name}.partial-{os.getpid()}")


class ShowerWriter:
    """Write a native file in appended chunks; the file appears only when the writer closes
    without error (an exception or Ctrl-C removes the partial file).

    ``compression`` is an h5py filter name (``"gzip"``, ``"lzf"`` or None), ``level`` its level.
    """

    def __init__(
        self,
        path: str | Path,
        geometry: Geometry,
        *,
        compression: str | None = "gzip",
        level: int | None = 1,
    ) -> None:
        self.path = Path(path)
        self.geometry = geometry
        self._tmp = atomic_path(self.path)
        self._compression = {"compression": compression}
        if compression == "gzip":
            self._compression |= {"compression_opts": level, "shuffle": True}
        self._h5: h5py.File | None = None
        self._label_names: list[str] | None = None
        self.n_events = 0

    def __enter__(self) -> ShowerWriter:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._h5 = h5py.File(self._tmp, "w")
        except OSError as exc:
            msg = f"{self.path}: cannot create file: {exc}"
            raise ShowerFileError(msg) from exc
        attrs = self._h5.attrs
        attrs["format"] = FORMAT_NAME
        attrs["format_version"] = FORMAT_VERSION
        attrs["calogeo_version"] = __version__
        attrs["geometry_name"] = self.geometry.name
        attrs["geometry_spec"] = self.geometry.spec_text
        self._dataset("incident_energy", (), np.float32, 1 << 16)
        layers = self._h5.create_group("layers")
        for layer in self.geometry.layers:
            events = max(1, CHUNK_BYTES // (4 * layer.n_cells))
            self._dataset(layer.name, layer.shape, np.float32, events, group=layers)
        return self

    def _dataset(
        self, name: str, shape: tuple[int, ...], dtype: Any, chunk_events: int, group: Any = None
    ) -> None:
        group = self._h5 if group is None else group
        group.create_dataset(
            name,
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=dtype,
            chunks=(chunk_events, *shape),
            **self._compression,
        )

    def append(self, showers: Showers) -> None:
        """Append a batch; its geometry must be the writer's and labels those of the first."""
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
            labels = self._h5.create_group("labels")
            for name in self._label_names:
                values = showers.labels[name]
                self._dataset(name, values.shape[1:], values.dtype, 1 << 14, group=labels)
        elif sorted(showers.labels) != self._label_names:
            msg = f"{self.path}: labels {sorted(showers.labels)} differ from {self._label_names}"
            raise ShowerFileError(msg)
        n0, n1 = self.n_events, self.n_events + len(showers)
        self._extend("incident_energy", showers.incident_energy, n0, n1)
        for layer, array in zip(self.geometry.layers, showers.layers):
            self._extend(f"layers/{layer.name}", array, n0, n1)
        for name in self._label_names:
            self._extend(f"labels/{name}", showers.labels[name], n0, n1)
        self.n_events = n1

    def _extend(self, name: str, values: np.ndarray, n0: int, n1: int) -> None:
        ds = self._h5[name]  # type: ignore[index]
        ds.resize(n1, axis=0)
        ds[n0:n1] = values

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._h5 is not None
        self._h5.close()
        if exc_type is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)
