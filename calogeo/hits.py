"""Hits from a full simulation: the batches readers hand out and the reader plugin interface.

A hit is a point (x, y, z) with an energy, in the detector's global frame (what GEANT4 /
key4hep write: EDM4hep ``SimCalorimeterHit``, per-event hit tables, point clouds). Readers
are plugins (hook ``calogeo_register_hit_readers``): each turns its files into
:class:`HitBatch` objects of whole events, read lazily in chunks of about ``chunk_hits``
hits, so a file of any size is read in bounded memory. :func:`open_hits` expands globs, picks
the reader (by name, or the first registered one whose :meth:`HitReader.detect` accepts the
first file) and opens every file as one input. :mod:`calogeo.voxelize` bins the hits into a
geometry's cells.
"""

from __future__ import annotations

import glob
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from calogeo.errors import CalogeoError, GeometryMismatchError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "EVENT_COLUMNS",
    "HitBatch",
    "HitReader",
    "expand_inputs",
    "open_hits",
]

EVENT_COLUMNS: dict[str, str] = {
    "incident_energy": "(N,) energy of the incident particle, GeV (NaN: unknown)",
    "pdg": "(N,) PDG id of the incident particle",
    "multiplicity": "(N,) number of incident particles",
    "vertex_mm": "(N, 3) where the incident particle starts, mm (the truth axis' origin)",
    "direction": "(N, 3) the incident particle's momentum direction, any length (the truth axis)",
    "event_id": "(N,) the event's number in the input (tables with an event-id column)",
}
"""Per-event columns a reader may fill (name -> shape, meaning, unit): ``vertex_mm`` and
``direction`` are the MC truth the voxelizer places the window on with ``axis="truth"``; every
column but those and ``incident_energy`` becomes a label of the output."""


@dataclass(frozen=True)
class HitBatch:
    """Whole events as their hits, in CSR form: event i's hits are rows
    ``offsets[i]:offsets[i + 1]`` of ``position`` ((M, 3) float, the reader's length unit,
    mm for EDM4hep) and ``energy`` ((M,) float, the reader's energy unit, GeV for EDM4hep).
    ``events`` holds per-event columns, see :data:`EVENT_COLUMNS`."""

    offsets: np.ndarray
    position: np.ndarray
    energy: np.ndarray
    events: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, m = len(self.offsets) - 1, len(self.energy)
        if (
            n < 0
            or self.position.shape != (m, 3)
            or int(self.offsets[0]) != 0
            or int(self.offsets[-1]) != m
        ):
            msg = (
                f"hit batch: offsets {self.offsets.shape} running {self.offsets[:1]}.."
                f"{self.offsets[-1:]}, positions {self.position.shape} and energies "
                f"{self.energy.shape} do not describe whole events"
            )
            raise GeometryMismatchError(msg)
        for name, values in self.events.items():
            if len(values) != n:
                msg = f"hit batch: event column {name!r} has {len(values)} entries for {n} events"
                raise GeometryMismatchError(msg)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_hits(self) -> int:
        """Number of hits in the batch."""
        return len(self.energy)

    @property
    def counts(self) -> np.ndarray:
        """(N,) hits per event."""
        return np.diff(self.offsets)

    @property
    def has_truth(self) -> bool:
        """Whether every event carries the incident particle's vertex and direction."""
        return "vertex_mm" in self.events and "direction" in self.events


class HitReader(ABC):
    """A kind of hit file. Subclasses set ``name``, ``description`` and ``suffixes`` (or
    override :meth:`detect`) and implement :meth:`iter_batches`; they are registered through
    ``calogeo_register_hit_readers`` like formats."""

    name: ClassVar[str]
    description: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[tuple[str, ...]] = ()
    """Names of the reader options (see :func:`open_hits`) this reader understands."""

    def __init__(self, paths: Sequence[Path], **options: Any) -> None:
        unknown = sorted(k for k, v in options.items() if v is not None and k not in self.options)
        if unknown:
            msg = f"the {self.name} hit reader takes no option {', '.join(unknown)}"
            raise CalogeoError(msg)
        self.paths = [Path(p) for p in paths]
        self.settings = {k: options.get(k) for k in self.options}

    @classmethod
    def detect(cls, path: Path) -> bool:
        """True if ``path`` is a file of this kind (default: its suffix)."""
        return path.suffix.lower() in cls.suffixes

    @abstractmethod
    def iter_batches(self, chunk_hits: int) -> Iterator[HitBatch]:
        """Whole events of every file in order, about ``chunk_hits`` hits per batch (one event
        may exceed it), read lazily."""

    def count_events(self) -> int | None:
        """Number of events of all files if known cheaply (for progress), else None."""
        return None

    def close(self) -> None:  # noqa: B027 - optional, not abstract
        """Release open files (readers that keep none need not override)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def expand_inputs(inputs: str | Path | Sequence[str | Path]) -> list[Path]:
    """Files named by ``inputs`` (paths, folders' files are not listed; globs are expanded
    and sorted), in order; a pattern matching nothing or a missing file is an error."""
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    paths: list[Path] = []
    for item in items:
        text = str(item)
        if glob.has_magic(text):
            matches = sorted(glob.glob(text))  # noqa: PTH207 - any pattern, absolute or not
            if not matches:
                msg = f"{text}: no file matches"
                raise CalogeoError(msg)
            paths.extend(Path(m) for m in matches)
        elif not Path(text).is_file():
            msg = f"{text}: no such file"
            raise CalogeoError(msg)
        else:
            paths.append(Path(text))
    if not paths:
        msg = "no hit file given"
        raise CalogeoError(msg)
    return paths


def open_hits(
    inputs: str | Path | Sequence[str | Path], reader: str | None = None, **options: Any
) -> HitReader:
    """Open hit files (paths or globs) as one input with the reader called ``reader``, or the
    first registered one that detects the first file. ``options`` (None: not given) are the
    readers' settings: ``collections`` (EDM4hep collection names), ``dataset`` (HDF5 group or
    dataset of a table or point cloud)."""
    from calogeo.registry import get_hit_reader, list_hit_readers

    paths = expand_inputs(inputs)
    if reader is not None:
        cls = get_hit_reader(reader)
    else:
        found = [e.load() for e in list_hit_readers()]
        matching = [c for c in found if c.detect(paths[0])]
        if not matching:
            names = ", ".join(c.name for c in found) or "none registered"
            msg = f"{paths[0]}: no hit reader recognises this file (readers: {names}); name one"
            raise CalogeoError(msg)
        cls = matching[0]
    return cls(paths, **options)
