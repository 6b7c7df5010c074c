"""Public shower-file layouts (CaloGAN, CLIC/LCD, ILD, CaloChallenge...) as plugins.

A format plugin registers a :class:`ShowerFormat` subclass; :func:`open_foreign` asks every
registered format whether it recognises a file from its HDF5 keys and opens it with the first
that does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import h5py

from calogeo.errors import ShowerFileError
from calogeo.geometry import Geometry
from calogeo.showers import Showers

__all__ = ["ForeignShowerFile", "ShowerFormat", "detect_format", "open_foreign"]


class ShowerFormat(ABC):
    """One public file layout: how to recognise it, read it and (optionally) write it."""

    name: ClassVar[str]
    description: ClassVar[str]

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
    def write(cls, path: Path, showers: Showers) -> None:
        """Write ``showers`` in this layout (formats that cannot be written raise)."""
        msg = f"format {cls.name!r} cannot be written"
        raise ShowerFileError(msg)


class ForeignShowerFile:
    """A file in a public layout opened for lazy reading (same interface as ShowerFile)."""

    def __init__(self, path: Path, fmt: type[ShowerFormat], geometry: Geometry | None) -> None:
        self.path = path
        self.format = fmt
        self._h5 = h5py.File(path, "r")
        try:
            resolved = geometry or fmt.default_geometry(self._h5)
            if resolved is None:
                msg = f"{path}: format {fmt.name!r} does not record its geometry; pass --from GEOMETRY"
                raise ShowerFileError(msg)
            self.geometry = resolved
            self._n = fmt.count(self._h5)
        except BaseException:
            self._h5.close()
            raise

    def __len__(self) -> int:
        return self._n

    def __enter__(self) -> ForeignShowerFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HDF5 file."""
        self._h5.close()

    def read(self, start: int = 0, stop: int | None = None) -> Showers:
        """Events ``start:stop`` as an in-memory Showers in GeV."""
        stop = self._n if stop is None else min(stop, self._n)
        return self.format.read(self._h5, self.geometry, start, stop)

    def iter_batches(self, batch_size: int) -> Iterator[Showers]:
        """Consecutive batches of at most ``batch_size`` events, read lazily."""
        for start in range(0, self._n, batch_size):
            yield self.read(start, start + batch_size)


def detect_format(path: Path) -> type[ShowerFormat]:
    """The registered format that recognises ``path``."""
    from calogeo.plugins import plugin_manager

    try:
        with h5py.File(path, "r") as h5:
            for entry in plugin_manager().formats:
                fmt = entry.load()
                if fmt.detect(h5):
                    return fmt  # type: ignore[no-any-return]
            keys = ", ".join(sorted(h5.keys())[:8])
    except OSError as exc:
        msg = f"{path}: not a readable HDF5 file (truncated or corrupt?): {exc}"
        raise ShowerFileError(msg) from exc
    msg = f"{path}: no known shower layout matches its datasets ({keys})"
    raise ShowerFileError(msg)


def open_foreign(path: Path, geometry: Geometry | None = None) -> ForeignShowerFile:
    """Open a file in any registered public layout."""
    return ForeignShowerFile(path, detect_format(path), geometry)
