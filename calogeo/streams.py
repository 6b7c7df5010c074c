"""Training data as streams: Showers in memory or shower files (native or public formats),
read in blocks of events and served in shuffled batches, with a seeded train/validation split.

Shared by the supervised and the adversarial trainers; numpy only (no torch).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calogeo.errors import CalogeoError
from calogeo.geometry import Geometry
from calogeo.io import ShowerSource, open_showers
from calogeo.showers import Showers

__all__ = ["Part", "ShowerStream", "as_sources", "read_all", "split_source", "train_val_streams"]


class _MemorySource:
    """Showers in memory, read like a shower file."""

    def __init__(self, showers: Showers) -> None:
        self.showers = showers
        self.geometry = showers.geometry
        self.path = Path(f"<{len(showers)} showers in memory>")

    def __len__(self) -> int:
        return len(self.showers)

    def read(self, start: int = 0, stop: int | None = None) -> Showers:
        return self.showers[start:stop]

    def iter_batches(self, batch_size: int) -> Iterator[Showers]:
        return self.showers.batches(batch_size)

    def close(self) -> None:
        pass


def as_sources(data: Any, geometry: Geometry | None = None) -> list[ShowerSource]:
    """Shower sources from Showers, a shower source, a file path or a list of them."""
    items = data if isinstance(data, (list, tuple)) else [data]
    sources: list[ShowerSource] = []
    for item in items:
        if isinstance(item, Showers):
            sources.append(_MemorySource(item))
        elif isinstance(item, (str, Path)):
            sources.append(open_showers(item, geometry))
        else:
            sources.append(item)
    if not sources:
        msg = "no training data given"
        raise CalogeoError(msg)
    return sources


Pieces = list[tuple[int, int]]


@dataclass(frozen=True)
class Part:
    """Events of one source: the ``pieces`` [start, stop) in file order."""

    source: ShowerSource
    pieces: Pieces

    def __len__(self) -> int:
        return sum(stop - start for start, stop in self.pieces)

    def read(self, pieces: Pieces) -> Showers:
        """The events of ``pieces`` (a sub-list of this part's pieces) in memory."""
        parts = [self.source.read(a, b) for a, b in pieces]
        return parts[0] if len(parts) == 1 else Showers.concatenate(parts)

    def blocks(self, block_size: int) -> list[Pieces]:
        """The pieces cut into blocks of at most ``block_size`` events."""
        blocks: list[Pieces] = [[]]
        room = block_size
        for start, stop in self.pieces:
            while start < stop:
                if room == 0:
                    blocks.append([])
                    room = block_size
                end = min(stop, start + room)
                blocks[-1].append((start, end))
                room -= end - start
                start = end
        return [b for b in blocks if b]


class ShowerStream:
    """Events of several sources, read in blocks and served in batches.

    Each epoch takes every source's blocks in a shuffled order, pools the i-th block of every
    source together and shuffles events inside the pool, so batches mix sources (a gamma file
    and a pi0 file give mixed batches) while memory holds one block per source.
    """

    def __init__(self, parts: Sequence[Part], block_size: int = 8192) -> None:
        self.parts = [p for p in parts if len(p)]
        self.block_size = block_size

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def sources(self) -> list[ShowerSource]:
        """The sources the stream reads."""
        return [p.source for p in self.parts]

    def batches(self, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[Showers]:
        """Batches of at most ``batch_size`` events; shuffled if ``rng`` is given."""
        per_part = []
        for part in self.parts:
            blocks = part.blocks(self.block_size)
            if rng is not None:
                blocks = [blocks[i] for i in rng.permutation(len(blocks))]
            per_part.append(blocks)
        for i in range(max((len(b) for b in per_part), default=0)):
            reads = [
                part.read(blocks[i])
                for part, blocks in zip(self.parts, per_part, strict=True)
                if i < len(blocks)
            ]
            pool = reads[0] if len(reads) == 1 else Showers.concatenate(reads)
            if rng is not None:
                pool = pool[rng.permutation(len(pool))]
            yield from pool.batches(batch_size)

    def read_all(self) -> Showers:
        """Every event of the stream at once."""
        reads = [part.read(part.pieces) for part in self.parts]
        return reads[0] if len(reads) == 1 else Showers.concatenate(reads)


def _merge(pieces: Pieces) -> Pieces:
    """Adjacent pieces joined."""
    out: Pieces = []
    for start, stop in sorted(pieces):
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


def split_source(source: ShowerSource, val_fraction: float, seed: int) -> tuple[Part, Part]:
    """(train, validation) parts of one source: it is cut into about 100 pieces (at most 256
    events each) and a seeded random ``val_fraction`` of them is held out, so files written
    class after class or in energy order still give a representative validation set."""
    n = len(source)
    chunk = max(1, min(256, n // 100))
    pieces = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
    n_val = min(len(pieces) - 1, max(1, round(val_fraction * len(pieces))))
    chosen = set(np.random.default_rng(seed).permutation(len(pieces))[:n_val].tolist())
    val = [p for i, p in enumerate(pieces) if i in chosen]
    train = [p for i, p in enumerate(pieces) if i not in chosen]
    return Part(source, _merge(train)), Part(source, _merge(val))


def train_val_streams(
    train: Any,
    val: Any = None,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    geometry: Geometry | None = None,
) -> tuple[ShowerStream, ShowerStream]:
    """Training and validation streams; without ``val``, a random ``val_fraction`` of every
    training source is held out (see :func:`split_source`)."""
    sources = as_sources(train, geometry)
    if val is not None:
        return (
            ShowerStream([Part(s, [(0, len(s))]) for s in sources]),
            ShowerStream([Part(s, [(0, len(s))]) for s in as_sources(val, geometry)]),
        )
    if not 0.0 < val_fraction < 1.0:
        msg = f"val_fraction={val_fraction}: expected a number between 0 and 1"
        raise CalogeoError(msg)
    splits = [split_source(s, val_fraction, seed) for s in sources if len(s) > 1]
    return ShowerStream([t for t, _ in splits]), ShowerStream([v for _, v in splits])


def read_all(data: Any, geometry: Geometry | None = None) -> Showers:
    """All events of ``data`` (Showers, files or sources) in memory."""
    return ShowerStream([Part(s, [(0, len(s))]) for s in as_sources(data, geometry)]).read_all()
