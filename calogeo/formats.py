"""Public shower-file layouts (CaloGAN, CLIC/LCD, ILD, CaloChallenge...) as plugins.

A format plugin registers a :class:`ShowerFormat` subclass; :func:`calogeo.io.detect_format`
(used by :func:`calogeo.io.open_showers`) asks every registered format whether it recognises a
file from its HDF5 keys and shapes, and :meth:`ShowerFormat.open` opens it. A format that can also be written implements :meth:`ShowerFormat.to_arrays`
(showers in GeV -> the layout's datasets in its own units); :class:`FormatWriter` then writes it
in appended batches, atomically. :func:`read_dataset` and the unit helpers are for plugins.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

import h5py
import numpy as np

from calogeo.errors import GeometryMismatchError, ShowerFileError
from calogeo.geometry import Geometry
from calogeo.io import (
    AtomicH5File,
    ShowerReader,
    detect_format,
    h5_open_error,
    write_error,
)
from calogeo.showers import Showers

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "MEV_PER_GEV",
    "ForeignShowerFile",
    "FormatWriter",
    "ShowerFormat",
    "detect_format",
    "formats_for",
    "from_mev",
    "read_dataset",
    "to_mev",
]

MEV_PER_GEV = 1000.0


class ShowerFormat(ABC):
    """One public file layout: how to recognise it, read it and (optionally) write it."""

    name: ClassVar[str]
    description: ClassVar[str]
    geometry_names: ClassVar[tuple[str, ...]] = ()
    """Registered geometries this layout's files are on (``calogeo convert`` writes native
    files on these back to this layout without ``--to-format``)."""

    @classmethod
    @abstractmethod
    def detect(cls, h5: h5py.File) -> bool:
        """True if the open file has this layout (decided from its keys and shapes)."""

    @classmethod
    @abstractmethod
    def default_geometry(cls, h5: h5py.File) -> Geometry | None:
        """The geometry the file's arrays are on, or None if the user must say (--from)."""

    @classmethod
    @abstractmethod
    def count(cls, h5: h5py.File) -> int:
        """Number of events in the file."""

    @classmethod
    @abstractmethod
    def read(cls, h5: h5py.File, geometry: Geometry, start: int, stop: int) -> Showers:
        """Events ``start:stop`` converted to calogeo units (GeV) on ``geometry``."""

    @classmethod
    def to_arrays(cls, showers: Showers) -> dict[str, np.ndarray]:
        """The layout's datasets (key -> (N, ...) array in the layout's units) for ``showers``.

        Formats that cannot be written keep this default, which raises.
        """
        msg = f"format {cls.name!r} cannot be written"
        raise ShowerFileError(msg)

    @classmethod
    def writable(cls) -> bool:
        """True if this layout can be written (it implements ``to_arrays``)."""
        return cls.to_arrays.__func__ is not ShowerFormat.to_arrays.__func__  # type: ignore[attr-defined]

    @classmethod
    def open(cls, path: str | Path, geometry: Geometry | None = None) -> ForeignShowerFile:
        """Open a file in this layout for lazy reading (``geometry``: see ForeignShowerFile)."""
        return ForeignShowerFile(Path(path), cls, geometry)

    @classmethod
    def write(cls, path: Path, showers: Showers) -> None:
        """Write ``showers`` in this layout, atomically."""
        with FormatWriter(path, cls) as writer:
            writer.append(showers)


def read_dataset(h5: h5py.File, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Events ``start:stop`` of dataset ``key``; a missing or unreadable dataset raises a
    ShowerFileError naming the file and the dataset."""
    ds = h5.get(key)
    if not isinstance(ds, h5py.Dataset):
        msg = f"{h5.filename}: dataset {key!r} is missing"
        raise ShowerFileError(msg)
    try:
        return np.asarray(ds[start:stop])
    except (OSError, ValueError) as exc:
        msg = f"{h5.filename}: cannot read dataset {key!r} (truncated or corrupt file?): {exc}"
        raise ShowerFileError(msg) from exc


def from_mev(values: np.ndarray) -> np.ndarray:
    """MeV -> GeV as float32 (divided in float64)."""
    return (np.asarray(values, dtype=np.float64) / MEV_PER_GEV).astype(np.float32)


def to_mev(values: np.ndarray) -> np.ndarray:
    """GeV -> MeV as float32 (multiplied in float64)."""
    return (np.asarray(values, dtype=np.float64) * MEV_PER_GEV).astype(np.float32)


class ForeignShowerFile(ShowerReader):
    """A file in a public layout opened for lazy reading (same interface as ShowerFile).

    Opening checks that the file's arrays fit the geometry (the format's default or the one
    given), so a wrong ``--from`` fails at once with the file and layer named, and that every
    dataset reaches the last event.
    """

    def __init__(self, path: Path, fmt: type[ShowerFormat], geometry: Geometry | None) -> None:
        self.path = Path(path)
        self.format = fmt
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise h5_open_error(self.path, exc) from exc
        try:
            resolved = geometry or fmt.default_geometry(self._h5)
            if resolved is None:
                msg = f"{path}: format {fmt.name!r} does not record its geometry; pass --from GEOMETRY"
                raise ShowerFileError(msg)
            self.geometry = resolved
            self._n = fmt.count(self._h5)
            try:
                fmt.read(self._h5, resolved, 0, 0)
            except GeometryMismatchError as exc:
                msg = f"{path}: {fmt.name} arrays do not fit geometry {resolved.name!r}: {exc}"
                raise ShowerFileError(msg) from exc
            if self._n:
                self._check_last_event()
        except BaseException:
            self._h5.close()
            raise

    def _check_last_event(self) -> None:
        """Every dataset must reach the last event."""
        try:
            self.format.read(self._h5, self.geometry, self._n - 1, self._n)
        except (GeometryMismatchError, ValueError) as exc:
            msg = (
                f"{self.path}: {self.format.name} datasets hold different numbers of events: {exc}"
            )
            raise ShowerFileError(msg) from exc

    def __len__(self) -> int:
        return self._n

    def close(self) -> None:
        """Close the underlying HDF5 file."""
        self._h5.close()

    def _read(self, start: int, stop: int) -> Showers:
        return self.format.read(self._h5, self.geometry, start, stop)


class FormatWriter:
    """Write showers in a public layout in appended batches; the file appears only when the
    writer closes without error. Datasets are chunked by event and gzip-compressed (level 1,
    readable everywhere)."""

    def __init__(self, path: str | Path, fmt: type[ShowerFormat], *, chunk_events: int = 256):
        if not fmt.writable():
            msg = f"format {fmt.name!r} cannot be written"
            raise ShowerFileError(msg)
        self.path = Path(path)
        self.format = fmt
        self.chunk_events = chunk_events
        self._file = AtomicH5File(self.path)
        self._h5: h5py.File | None = None
        self.n_events = 0

    def __enter__(self) -> Self:
        self._h5 = self._file.open()
        return self

    def append(self, showers: Showers) -> None:
        """Append a batch (converted by the format's ``to_arrays``)."""
        if self._h5 is None:
            msg = "FormatWriter.append called outside its 'with' block"
            raise RuntimeError(msg)
        try:
            arrays = self.format.to_arrays(showers)
        except ShowerFileError as exc:
            msg = f"{self.path}: cannot write the {self.format.name!r} layout: {exc}"
            raise ShowerFileError(msg) from exc
        n0, n1 = self.n_events, self.n_events + len(showers)
        for key, values in arrays.items():
            ds = self._h5.get(key)
            if ds is None:
                ds = self._h5.create_dataset(
                    key,
                    shape=(0, *values.shape[1:]),
                    maxshape=(None, *values.shape[1:]),
                    dtype=values.dtype,
                    chunks=(min(self.chunk_events, max(1, len(values))), *values.shape[1:]),
                    compression="gzip",
                    compression_opts=1,
                )
            elif ds.shape[1:] != values.shape[1:]:
                msg = f"{self.path}: dataset {key!r} is {ds.shape[1:]} per event, got {values.shape[1:]}"
                raise ShowerFileError(msg)
            try:
                ds.resize(n1, axis=0)
                ds[n0:n1] = values
            except (OSError, RuntimeError) as exc:  # h5py: a full disk, a file-size limit
                raise write_error(self.path, exc) from exc
        self.n_events = n1

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._h5 = None
        self._file.close(complete=exc_type is None)


def formats_for(geometry: Geometry) -> list[type[ShowerFormat]]:
    """The registered writable layouts whose files are on ``geometry`` (by name)."""
    from calogeo.plugins import plugin_manager

    found = []
    for entry in plugin_manager().formats:
        fmt: Any = entry.load()
        if geometry.name in fmt.geometry_names and fmt.writable():
            found.append(fmt)
    return found
