"""Partitioned outputs: one native file per partition, a manifest, reruns that skip done work.

An output directory holds ``part-00000.h5``, ``part-00001.h5``, ... (partition k's events, in
order) and ``manifest.json``: the settings of the run and, for every finished partition, its
event range, event count and file size. Each partition's file is written atomically by the
:class:`~calogeo.io.ShowerWriter` (a ``.partial-<pid>`` file renamed when complete), so a task
killed on a dead worker leaves at most a stale partial file, never a partial ``part-*.h5``;
Dask retries the task elsewhere under the same name, so no event is written twice. Only the
caller (the driver) writes the manifest, after each task reports back. A rerun with the same
settings skips every partition whose file is complete; different settings are an error, so a
directory never mixes two runs. The directory reads as one dataset (:mod:`calogeo.dataset`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from calogeo.errors import CalogeoError, ShowerFileError

__all__ = [
    "MANIFEST",
    "Partition",
    "part_path",
    "plan",
    "read_manifest",
    "run_partitions",
]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "calogeo-partitions"
RETRIES = 3  # a task lost with its worker (or failing) is run again up to this many times


@dataclass(frozen=True)
class Partition:
    """Partition ``index``: events ``start:stop`` of the input (or of the run)."""

    index: int
    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


def plan(n_events: int, size: int) -> list[Partition]:
    """Consecutive partitions of at most ``size`` events covering ``n_events``."""
    if size < 1:
        msg = f"partition size {size}: must be at least 1"
        raise CalogeoError(msg)
    return [
        Partition(k, a, min(a + size, n_events)) for k, a in enumerate(range(0, n_events, size))
    ]


def part_path(folder: Path, index: int) -> Path:
    """The deterministic file name of partition ``index``."""
    return folder / f"part-{index:05d}.h5"


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of an output directory ({} if none)."""
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        msg = f"{path}: unreadable manifest ({exc})"
        raise ShowerFileError(msg) from exc
    if data.get("format") != MANIFEST_FORMAT:
        msg = f"{path}: not a calogeo partition manifest"
        raise ShowerFileError(msg)
    return dict(data)


def _write_manifest(folder: Path, data: dict[str, Any]) -> None:
    path = folder / MANIFEST
    tmp = path.with_name(f"{MANIFEST}.partial-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


def _complete(path: Path, events: int) -> bool:
    """Whether ``path`` is a finished partition file of ``events`` events."""
    from calogeo.io import ShowerFile

    if not path.exists():
        return False
    try:
        with ShowerFile(path) as file:
            return len(file) == events
    except ShowerFileError:
        return False


def _remove_partials(folder: Path) -> None:
    for stale in folder.glob("part-*.h5.partial-*"):
        stale.unlink(missing_ok=True)


def run_partitions(
    folder: Path,
    partitions: Sequence[Partition],
    task: Callable[..., dict[str, Any]],
    *,
    settings: dict[str, Any],
    client: Any = None,
    payload: Callable[[Partition], tuple[Any, ...]] = lambda part: (),
    progress: Callable[[Partition, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``task(partition, path, *payload(partition))`` (which writes ``path`` atomically and
    returns a JSON-able summary with at least ``events``) for every partition not finished in
    ``folder``: as Dask
    tasks on ``client`` (retried when a worker dies or the task fails), else one after the
    other here. Returns the manifest; ``progress`` is called as each partition finishes."""
    if folder.exists() and not folder.is_dir():
        msg = f"{folder}: exists and is not a directory (partitioned output is a directory)"
        raise CalogeoError(msg)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    if manifest and manifest.get("settings") != json.loads(json.dumps(settings)):
        msg = (
            f"{folder}: holds the partitions of a run with other settings "
            f"({MANIFEST}); remove the directory or choose another output"
        )
        raise CalogeoError(msg)
    manifest = {
        "format": MANIFEST_FORMAT,
        "settings": settings,
        "n_partitions": len(partitions),
        "partitions": manifest.get("partitions", {}),
    }
    done = manifest["partitions"]
    todo = []
    for part in partitions:
        name = part_path(folder, part.index).name
        entry = done.get(name)
        if entry is not None and _complete(folder / name, entry["events"]):
            continue
        done.pop(name, None)
        todo.append(part)
    _remove_partials(folder)
    _write_manifest(folder, manifest)
    for part, summary in _execute(folder, todo, task, client, payload):
        done[part_path(folder, part.index).name] = {
            **asdict(part),
            **summary,
            "bytes": part_path(folder, part.index).stat().st_size,
        }
        _write_manifest(folder, manifest)
        if progress is not None:
            progress(part, summary)
    _remove_partials(folder)  # left by tasks killed with their worker
    return manifest


def _execute(
    folder: Path,
    todo: Sequence[Partition],
    task: Callable[..., dict[str, Any]],
    client: Any,
    payload: Callable[[Partition], tuple[Any, ...]],
) -> Iterator[tuple[Partition, dict[str, Any]]]:
    if client is None:
        for part in todo:
            yield part, task(part, part_path(folder, part.index), *payload(part))
        return
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]
    futures = {
        client.submit(
            task,
            part,
            part_path(folder, part.index),
            *payload(part),
            key=f"calogeo-{folder.name}-{part.index}-{run}",
            retries=RETRIES,
            pure=False,
        ): part
        for part in todo
    }
    for future in as_completed(futures):
        yield futures[future], future.result()
