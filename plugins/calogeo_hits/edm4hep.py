"""EDM4hep ROOT files (key4hep / podio) through uproot and awkward.

podio writes each event as one entry of the TTree ``events``; a collection ``C`` of
``edm4hep::SimCalorimeterHit`` is the branch ``C`` with one jagged sub-branch per member:
``C/C.energy`` (GeV), ``C/C.position.x``, ``.position.y``, ``.position.z`` (mm),
``C/C.cellID`` and the relation ranges ``C/C.contributions_begin`` / ``_end``. An
``edm4hep::MCParticle`` collection (``MCParticles``) has ``.PDG``, ``.generatorStatus``,
``.momentum.x/y/z`` (GeV), ``.vertex.x/y/z`` (mm) and ``.mass`` (GeV) among others.

Read: the ``SimCalorimeterHit`` collections named by the reader option ``collections``
(default: every collection with ``contributions_begin``, ``energy`` and ``position``, i.e.
every simulated calorimeter hit collection; a named collection needs only ``energy`` and
``position``, so reconstructed ``CalorimeterHit`` collections can be named too), their hits
joined event by event; and the truth from the ``MCParticle`` collection (``MCParticles`` if
present, else the first with the members above): the incident particle is the most energetic
one of generator status 1 (else the first particle), giving ``incident_energy``
(sqrt(p^2 + m^2), GeV), ``pdg``, ``vertex_mm`` and ``direction``; ``multiplicity`` counts the
particles of generator status 1. Files (and globs) are read as one input, lazily, in chunks
of entries of about ``chunk_hits`` hits.

Needs uproot and awkward: ``pip install 'calogeo[root]'``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from calogeo.errors import CalogeoError, MissingDependencyError, ShowerFileError
from calogeo.hits import HitBatch, HitReader

__all__ = ["EDM4hepReader"]

TREE = "events"
HIT_MEMBERS = ("energy", "position.x", "position.y", "position.z")
SIM_MARKER = "contributions_begin"
MC_MEMBERS = (
    "PDG",
    "generatorStatus",
    "momentum.x",
    "momentum.y",
    "momentum.z",
    "vertex.x",
    "vertex.y",
    "vertex.z",
)
MC_DEFAULT = "MCParticles"
BYTES_PER_HIT = 16  # four float32 members per hit


def _modules() -> tuple[Any, Any]:
    try:
        import awkward
        import uproot
    except ImportError as exc:
        msg = "reading EDM4hep ROOT files needs uproot and awkward: pip install 'calogeo[root]'"
        raise MissingDependencyError(msg) from exc
    return uproot, awkward


class EDM4hepReader(HitReader):
    """EDM4hep ROOT (key4hep): SimCalorimeterHit collections + MCParticle truth."""

    name = "edm4hep"
    description = "EDM4hep ROOT (key4hep): SimCalorimeterHit collections + MCParticle truth"
    suffixes = (".root",)
    options = ("collections",)

    def __init__(self, paths: Sequence[Path], **options: Any) -> None:
        super().__init__(paths, **options)
        uproot, _ = _modules()
        names = self.settings["collections"]
        if isinstance(names, str):
            names = [n for n in names.split(",") if n]
        try:
            with uproot.open(self.paths[0]) as file:
                if TREE not in file:
                    msg = f"{self.paths[0]}: no TTree {TREE!r} (not a podio / EDM4hep file?)"
                    raise ShowerFileError(msg)
                tree = file[TREE]
                members = _members(tree)
        except (OSError, ValueError) as exc:
            msg = f"{self.paths[0]}: not a readable ROOT file ({exc})"
            raise ShowerFileError(msg) from exc
        self.collections = _hit_collections(members, names, self.paths[0])
        self.hit_keys = {c: [members[c][m] for m in HIT_MEMBERS] for c in self.collections}
        mc = _mc_collection(members)
        self.mc_keys = None if mc is None else {m: members[mc][m] for m in MC_MEMBERS}
        if mc is not None and "mass" in members[mc]:
            self.mc_keys["mass"] = members[mc]["mass"]  # type: ignore[index]

    def count_events(self) -> int | None:
        uproot, _ = _modules()
        total = 0
        for path in self.paths:
            with uproot.open(path) as file:
                total += int(file[TREE].num_entries)
        return total

    def iter_batches(self, chunk_hits: int) -> Iterator[HitBatch]:
        uproot, ak = _modules()
        keys = [k for c in self.collections for k in self.hit_keys[c]]
        keys += list((self.mc_keys or {}).values())
        step = f"{max(1, chunk_hits * BYTES_PER_HIT // 1024)} kB"
        files = {str(p): TREE for p in self.paths}
        try:
            for arrays in uproot.iterate(files, keys, step_size=step, library="ak"):
                yield self._batch(arrays, ak)
        except (OSError, ValueError, KeyError) as exc:
            msg = f"EDM4hep input {', '.join(files)}: cannot read ({type(exc).__name__}: {exc})"
            raise ShowerFileError(msg) from exc

    def _batch(self, arrays: Any, ak: Any) -> HitBatch:
        parts, events = [], []
        n = len(arrays)
        for c in self.collections:
            energy_key, *xyz = self.hit_keys[c]
            counts = ak.to_numpy(ak.num(arrays[energy_key], axis=1)).astype(np.int64)
            flat = [
                ak.to_numpy(ak.flatten(arrays[k])).astype(np.float64) for k in (*xyz, energy_key)
            ]
            parts.append(flat)
            events.append(np.repeat(np.arange(n, dtype=np.int64), counts))
        event = np.concatenate(events) if events else np.zeros(0, dtype=np.int64)
        order = np.argsort(event, kind="stable")  # collections' hits joined event by event
        x, y, z, energy = (np.concatenate([p[k] for p in parts])[order] for k in range(4))
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(event, minlength=n), out=offsets[1:])
        truth = {} if self.mc_keys is None else _truth(arrays, self.mc_keys, n, ak)
        return HitBatch(offsets, np.stack([x, y, z], axis=1), energy, truth)


def _members(tree: Any) -> dict[str, dict[str, str]]:
    """collection -> member ("energy", "position.x", ...) -> full branch key, from the jagged
    branches named ``collection.member`` (at any depth: ``C/C.energy`` in podio files)."""
    out: dict[str, dict[str, str]] = {}
    for key, typename in tree.typenames(recursive=True).items():
        if "[]" not in typename and "vector" not in typename:
            continue  # counters and the parent branches of split collections
        leaf = key.rsplit("/", 1)[-1]
        collection, dot, member = leaf.partition(".")
        if dot and not collection.startswith("_"):
            out.setdefault(collection, {})[member] = key
    return out


def _hit_collections(
    members: dict[str, dict[str, str]], names: list[str] | None, path: Path
) -> list[str]:
    hits = [c for c, m in members.items() if all(k in m for k in HIT_MEMBERS)]
    if names:
        missing = [c for c in names if c not in hits]
        if missing:
            msg = (
                f"{path}: no calorimeter hit collection {', '.join(map(repr, missing))} "
                f"(with energy and position; found {', '.join(sorted(hits)) or 'none'})"
            )
            raise CalogeoError(msg)
        return list(names)
    sim = sorted(c for c in hits if SIM_MARKER in members[c])
    if not sim:
        msg = (
            f"{path}: no SimCalorimeterHit collection (found {', '.join(sorted(members)) or 'no'}"
            " collections); name the hit collections with --collections"
        )
        raise CalogeoError(msg)
    return sim


def _mc_collection(members: dict[str, dict[str, str]]) -> str | None:
    found = sorted(c for c, m in members.items() if all(k in m for k in MC_MEMBERS))
    if MC_DEFAULT in found:
        return MC_DEFAULT
    return found[0] if found else None


def _truth(arrays: Any, keys: dict[str, str], n: int, ak: Any) -> dict[str, np.ndarray]:
    """The incident particle of every event (see the module docstring); NaN / 0 for an
    event without particles."""
    counts = ak.to_numpy(ak.num(arrays[keys["PDG"]], axis=1)).astype(np.int64)
    flat = {m: ak.to_numpy(ak.flatten(arrays[k])) for m, k in keys.items()}
    momentum = np.stack([flat[f"momentum.{c}"] for c in "xyz"], axis=1).astype(np.float64)
    mass = flat["mass"].astype(np.float64) if "mass" in flat else np.zeros(len(momentum))
    energy = np.sqrt(np.einsum("ij,ij->i", momentum, momentum) + mass**2)
    stable = flat["generatorStatus"] == 1
    event = np.repeat(np.arange(n), counts)
    position = np.arange(len(event)) - np.repeat(np.cumsum(counts) - counts, counts)
    # rank: status-1 particles by energy first, then the first particle of the event
    order = np.lexsort((-position, energy * stable, stable, event))
    has = counts > 0
    chosen = order[np.cumsum(counts)[has] - 1]
    truth = {
        "incident_energy": np.full(n, np.nan),
        "pdg": np.zeros(n, dtype=np.int32),
        "multiplicity": np.bincount(event[stable], minlength=n).astype(np.int32),
        "vertex_mm": np.full((n, 3), np.nan),
        "direction": np.full((n, 3), np.nan),
    }
    truth["incident_energy"][has] = energy[chosen]
    truth["pdg"][has] = flat["PDG"][chosen]
    truth["vertex_mm"][has] = np.stack([flat[f"vertex.{c}"][chosen] for c in "xyz"], axis=1)
    truth["direction"][has] = momentum[chosen]
    return truth
