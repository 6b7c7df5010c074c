"""Many native shower files read as one dataset, and datasets as Dask arrays.

A dataset is named by a directory (every ``*.h5`` in it), a glob (``runs/part-*.h5``) or a list
of files (each of which may itself be a directory or a glob). Files are taken in a stable order:
a directory's and a glob's matches sorted by name, a list in the order given. Every file is
opened when the dataset is (headers only: nothing but the event counts is read) and must hold
native showers on the same geometry and in the same format version as the first; a mismatch is
a one-line :class:`~calogeo.errors.ShowerFileError` naming the file. Events are then read
lazily, file by file, through the same ``read`` / ``iter_batches`` as one file.

:func:`to_dask` exposes a dataset (or one file) as a Dask array of flat cell energies (N, cells)
in GeV, chunked like the files (one chunk per file, cut at the file's own event chunks), with its
incident energies and labels as Dask arrays chunked the same way. Workers open the files
themselves, so only file names travel.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calogeo.errors import MissingDependencyError, ShowerFileError
from calogeo.native import CHUNK_EVENTS, ShowerFile, ShowerReader, is_native
from calogeo.showers import Showers
from calogeo.sparse import SparseShowers

__all__ = ["ShowerDataset", "expand_paths", "is_dataset", "open_dataset", "to_dask"]

GLOB_CHARS = frozenset("*?[")
SUFFIX = "*.h5"


def _is_glob(text: str) -> bool:
    return any(c in text for c in GLOB_CHARS)


def is_dataset(spec: Any) -> bool:
    """True if ``spec`` names several files: a list (of more than one item), a directory or a
    glob pattern that is not an existing file."""
    if isinstance(spec, (list, tuple)):
        return len(spec) != 1 or is_dataset(spec[0])
    path = Path(spec)
    return path.is_dir() or (not path.exists() and _is_glob(str(spec)))


def expand_paths(spec: str | Path | Sequence[str | Path]) -> list[Path]:
    """The files ``spec`` names, in the dataset's order (see the module docstring)."""
    if not isinstance(spec, (str, Path)):
        return [p for item in spec for p in expand_paths(item)]
    path = Path(spec)
    if path.is_dir():
        found = sorted(p for p in path.glob(SUFFIX) if p.is_file())
        what = f"directory {path} holds no {SUFFIX} file"
    elif not path.exists() and _is_glob(str(spec)):
        # an absolute pattern: Path.glob takes relative ones only
        found = sorted(Path(p) for p in glob.glob(str(spec)) if Path(p).is_file())  # noqa: PTH207
        what = f"pattern {spec!r} matches no file"
    else:
        return [path]
    if not found:
        raise ShowerFileError(what)
    return found


def open_dataset(spec: str | Path | Sequence[str | Path]) -> ShowerReader:
    """A lazily read dataset of the native files ``spec`` names; a single file is opened as
    itself (a :class:`~calogeo.io.ShowerFile`)."""
    paths = expand_paths(spec)
    if len(paths) == 1:
        return ShowerFile(paths[0])
    return ShowerDataset(paths)


class ShowerDataset(ShowerReader):
    """Native shower files read as one sequence of events (see the module docstring)."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        if not paths:
            msg = "a shower dataset needs at least one file"
            raise ShowerFileError(msg)
        self.paths = [Path(p) for p in paths]
        self.path = self.paths[0].parent
        self.files: list[ShowerFile] = []
        try:
            for path in self.paths:
                self.files.append(self._open(path))
        except BaseException:
            self.close()
            raise
        first = self.files[0]
        self.geometry = first.geometry
        self.format_version = first.format_version
        self.ends = np.cumsum([len(f) for f in self.files])

    def _open(self, path: Path) -> ShowerFile:
        if path.exists() and not is_native(path):
            msg = f"{path}: not a native calogeo shower file (a dataset of many files reads only native ones; convert it first)"
            raise ShowerFileError(msg)
        file = ShowerFile(path)
        if self.files:
            first = self.files[0]
            if file.geometry != first.geometry:
                file.close()
                msg = (
                    f"{path}: showers on geometry {file.geometry.name!r}, but {first.path} "
                    f"(the dataset's first file) holds {first.geometry.name!r}"
                )
                raise ShowerFileError(msg)
            if file.format_version != first.format_version:
                file.close()
                msg = (
                    f"{path}: format version {file.format_version}, but {first.path} (the "
                    f"dataset's first file) has version {first.format_version}; convert it "
                    f"with calogeo convert --to-format native"
                )
                raise ShowerFileError(msg)
        return file

    def __len__(self) -> int:
        return int(self.ends[-1])

    @property
    def stores_sparse(self) -> bool:
        return self.files[0].stores_sparse

    @property
    def label_names(self) -> list[str]:
        """Names of the label datasets (those of the first file)."""
        return self.files[0].label_names

    @property
    def metadata(self) -> dict[str, Any]:
        """The first file's provenance."""
        return self.files[0].metadata

    def close(self) -> None:
        for file in self.files:
            file.close()

    def spans(self, start: int, stop: int) -> list[tuple[int, int, int]]:
        """(file number, first, last) event ranges inside the files covering ``start:stop``."""
        out = []
        begins = np.concatenate([[0], self.ends[:-1]])
        for k, (begin, end) in enumerate(zip(begins.tolist(), self.ends.tolist(), strict=True)):
            a, b = max(start, begin), min(stop, end)
            if a < b:
                out.append((k, a - begin, b - begin))
        return out

    def _read(self, start: int, stop: int) -> Showers:
        parts = [self.files[k].read(a, b) for k, a, b in self.spans(start, stop)]
        if not parts:
            return self.files[0].read(0, 0)
        return parts[0] if len(parts) == 1 else Showers.concatenate(parts)

    def _read_sparse(self, start: int, stop: int) -> SparseShowers:
        parts = [self.files[k].read_sparse(a, b) for k, a, b in self.spans(start, stop)]
        if not parts:
            return self.files[0].read_sparse(0, 0)
        return parts[0] if len(parts) == 1 else concatenate_sparse(parts)


def concatenate_sparse(parts: Sequence[SparseShowers]) -> SparseShowers:
    """Sparse batches on one geometry joined (labels kept where every part has them)."""
    shifts = np.cumsum([0] + [len(p.index) for p in parts[:-1]])
    offsets = np.concatenate(
        [np.zeros(1, np.int64)] + [p.offsets[1:] + s for p, s in zip(parts, shifts, strict=True)]
    )
    common = set(parts[0].labels).intersection(*(p.labels for p in parts[1:]))
    return SparseShowers(
        parts[0].geometry,
        offsets,
        np.concatenate([p.index for p in parts]),
        np.concatenate([p.energy for p in parts]),
        np.concatenate([p.incident_energy for p in parts]),
        {k: np.concatenate([p.labels[k] for p in parts]) for k in sorted(common)},
    )


# -- Dask ---------------------------------------------------------------------------------------


def import_dask() -> Any:
    """``dask.array``, or a one-line error naming the extra to install."""
    try:
        import dask.array as da
    except ImportError as exc:
        msg = "this needs Dask: pip install 'calogeo[dask]'"
        raise MissingDependencyError(msg) from exc
    return da


def file_chunks(
    paths: Sequence[Path], chunk_events: int = CHUNK_EVENTS
) -> list[tuple[Path, int, int]]:
    """(file, first, last) event ranges: each file cut at every ``chunk_events`` events."""
    out: list[tuple[Path, int, int]] = []
    for path in paths:
        with ShowerFile(path) as file:
            n = len(file)
        out.extend((path, a, min(a + chunk_events, n)) for a in range(0, n, chunk_events))
    return out


def _read_block(path: str, start: int, stop: int, what: str) -> np.ndarray:
    """Events ``start:stop`` of one file: flat cells (``what == "cells"``), incident energies
    (``"incident_energy"``) or a label."""
    with ShowerFile(path) as file:
        if what == "cells":
            return file.read_sparse(start, stop).flat()
        if what == "incident_energy":
            return file.read_sparse(start, stop).incident_energy
        return file._get(f"labels/{what}", start, stop)


def to_dask(
    spec: str | Path | Sequence[str | Path] | ShowerReader, chunk_events: int = CHUNK_EVENTS
) -> tuple[Any, dict[str, Any]]:
    """(cells, labels): the dataset's flat cell energies as a Dask array (N, n_cells) float32
    GeV, and a dict of Dask arrays: ``incident_energy`` (N,) GeV and every label, all chunked
    like the files (one chunk per file and per ``chunk_events`` events of it)."""
    da = import_dask()
    from dask import delayed

    if isinstance(spec, ShowerDataset):
        paths = spec.paths
    elif isinstance(spec, ShowerFile):
        paths = [spec.path]
    else:
        paths = expand_paths(spec)  # type: ignore[arg-type]
    with open_dataset(paths) as dataset:
        n_cells = dataset.geometry.n_cells
        head = dataset.read(0, 1)
        kinds = {"incident_energy": head.incident_energy} | dict(head.labels)
    pieces = file_chunks(paths, chunk_events)

    def column(what: str, shape: tuple[int, ...], dtype: Any) -> Any:
        blocks = [
            da.from_delayed(
                delayed(_read_block, pure=True)(str(p), a, b, what), (b - a, *shape), dtype
            )
            for p, a, b in pieces
        ]
        return da.concatenate(blocks, axis=0)

    cells = column("cells", (n_cells,), np.float32)
    labels = {name: column(name, v.shape[1:], v.dtype) for name, v in kinds.items()}
    return cells, labels
