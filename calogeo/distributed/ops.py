"""simulate, resample, convert and evaluate split into partitions (see
:mod:`calogeo.distributed.partitions`), run as Dask tasks or one after the other.

Every task is a module-level function of plain arguments (file names, spec text, numbers), so
a worker process rebuilds what it needs (geometry, simulator, resampler: the overlap tables
come from the disk cache) and only file names and small summaries travel. Partition k's
result depends on k alone, never on the number of workers or on which worker ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from calogeo.distributed.partitions import Partition, plan, run_partitions

__all__ = [
    "PARTITION_EVENTS",
    "convert_partitioned",
    "evaluate_partitioned",
    "partition_size",
    "resample_partitioned",
    "simulate_partitioned",
]

PARTITION_EVENTS = 8192  # default events per partition: one chunk of the native file


def partition_size(requested: int | None, batch_size: int) -> int:
    """Events per partition: ``requested`` (default 8192) rounded up to whole batches."""
    size = requested or PARTITION_EVENTS
    return max(1, -(-size // batch_size)) * batch_size


@lru_cache(maxsize=8)
def _geometry(spec_text: str) -> Any:
    from calogeo.spec import geometry_from_spec

    return geometry_from_spec(spec_text, source="<partition task>")


def _paths(spec: Any) -> list[str]:
    from calogeo.dataset import expand_paths

    return [str(p) for p in expand_paths(spec)]


# -- simulate -----------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _simulator(spec_text: str, generator: str, seed: int, options: tuple[Any, ...]) -> Any:
    """The generator built once per worker process (every batch forks its own stream)."""
    from calogeo.registry import get_model

    return get_model(generator).build(_geometry(spec_text), seed=seed, **dict(options))


def _simulate_task(
    part: Partition,
    path: Path,
    spec_text: str,
    generator: str,
    particle: str,
    seed: int,
    options: dict[str, Any],
    first_batch: int,
    batches: list[dict[str, np.ndarray]],
    bunches: bool,
) -> dict[str, Any]:
    from calogeo.io import ShowerWriter

    geometry = _geometry(spec_text)
    simulator = _simulator(spec_text, generator, seed, tuple(sorted(options.items())))
    with ShowerWriter(path, geometry) as writer:
        for k, kwargs in enumerate(batches):
            # the (first_batch + k)-th child of seed's SeedSequence: as the one-process run
            forked = simulator.fork(np.random.SeedSequence(seed, spawn_key=(first_batch + k,)))
            method = forked.simulate_bunches if bunches else forked.simulate
            writer.append(method(particle, **kwargs))
        return {"events": writer.n_events}


def simulate_partitioned(
    geometry: Any,
    particle: str,
    batches: Sequence[dict[str, np.ndarray]],
    folder: Path,
    *,
    seed: int,
    batches_per_partition: int,
    generator: str = "gflash",
    options: dict[str, Any] | None = None,
    bunches: bool = False,
    client: Any = None,
    progress: Callable[[Partition, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Simulate the ``batches`` (keyword arguments of ``simulate``, drawn by the caller) into
    partition files of ``batches_per_partition`` batches; batch j is simulated with the j-th
    child of ``seed``'s SeedSequence, exactly as :func:`calogeo.cli.cmd_simulate.simulate_batches`
    does in one process, so the events are identical. Returns the manifest."""
    sizes = [len(b["counts"] if bunches else b["energies"]) for b in batches]
    groups = [
        list(range(a, min(a + batches_per_partition, len(batches))))
        for a in range(0, len(batches), batches_per_partition)
    ]
    ends = np.cumsum([0, *sizes])
    partitions = [Partition(k, int(ends[g[0]]), int(ends[g[-1] + 1])) for k, g in enumerate(groups)]
    settings = {
        "command": "simulate",
        "geometry": geometry.name,
        "particle": particle,
        "seed": seed,
        "events": int(ends[-1]),
        "batch_sizes": sizes,
        "batches_per_partition": batches_per_partition,
        "options": options or {},
    }
    return run_partitions(
        folder,
        partitions,
        _simulate_task,
        settings=settings,
        client=client,
        payload=lambda part: (
            geometry.spec_text,
            generator,
            particle,
            seed,
            options or {},
            groups[part.index][0],
            [batches[j] for j in groups[part.index]],
            bunches,
        ),
        progress=progress,
    )


# -- resample -----------------------------------------------------------------------------------


def _resample_task(
    part: Partition,
    path: Path,
    inputs: list[str],
    source_spec: str | None,
    target_spec: str,
    settings: dict[str, Any],
) -> dict[str, Any]:
    from calogeo.io import ShowerWriter, open_showers
    from calogeo.resample import Resampler
    from calogeo.resample.groups import resampler_for
    from calogeo.resample.stream import resample_stream

    source_geometry = _geometry(source_spec) if source_spec else None
    with open_showers(inputs if len(inputs) > 1 else inputs[0], source_geometry) as source:
        resampler = resampler_for(
            source.geometry,
            _geometry(target_spec),
            settings["layers"],
            round_trip=settings["round_trip"],
            cache=settings["cache"],
            output_scale=settings["energy_scale"],
        )
        metadata = {
            "resampled_from": source.geometry.name,
            "energy_scale": settings["energy_scale"],
        }
        kept = {"kept_sum": 0.0, "kept_count": 0, "worst": 1.0, "empty": 0}
        with ShowerWriter(path, resampler.output_geometry, metadata=metadata) as writer:

            def write(showers: Any, books: dict[str, np.ndarray]) -> None:
                energy_in = books["energy_in"]
                has = energy_in > 0
                fraction = books["energy_out"][has] / energy_in[has]
                kept["kept_sum"] += float(fraction.sum())
                kept["kept_count"] += int(has.sum())
                kept["empty"] += int((~has).sum())
                if len(fraction):
                    kept["worst"] = min(kept["worst"], float(fraction.min()))
                writer.append(showers)

            sparse = isinstance(resampler, Resampler) and source.stores_sparse
            batches = source.iter_batches(
                settings["batch_size"], part.start, part.stop, sparse=sparse
            )
            resample_stream(resampler, batches, write)
            return {"events": writer.n_events, **kept}


def resample_partitioned(
    inputs: Any,
    target: Any,
    folder: Path,
    *,
    source_geometry: Any = None,
    round_trip: bool = False,
    layers: list[str] | None = None,
    energy_scale: str = "visible",
    cache: bool = True,
    batch_size: int = 1024,
    size: int | None = None,
    client: Any = None,
    progress: Callable[[Partition, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Resample the showers of ``inputs`` (a file, directory, glob or list) onto ``target``,
    partition k holding input events ``k*size:(k+1)*size``; returns the manifest."""
    from calogeo.io import open_showers

    paths = _paths(inputs)
    with open_showers(paths if len(paths) > 1 else paths[0], source_geometry) as source:
        n = len(source)
        source_name = source.geometry.name
    settings = {
        "layers": layers,
        "round_trip": round_trip,
        "cache": cache,
        "energy_scale": energy_scale,
        "batch_size": batch_size,
    }
    size = size or PARTITION_EVENTS
    return run_partitions(
        folder,
        plan(n, size),
        _resample_task,
        settings={
            "command": "resample",
            "inputs": paths,
            "source": source_name,
            "target": target.name,
            "events": n,
            "partition_size": size,
            **settings,
        },
        client=client,
        payload=lambda part: (
            paths,
            None if source_geometry is None else source_geometry.spec_text,
            target.spec_text,
            settings,
        ),
        progress=progress,
    )


# -- convert ------------------------------------------------------------------------------------


def _convert_task(
    part: Partition,
    path: Path,
    inputs: list[str],
    source_spec: str | None,
    options: dict[str, Any],
    batch_size: int,
) -> dict[str, Any]:
    from calogeo.io import ShowerWriter, open_showers

    source_geometry = _geometry(source_spec) if source_spec else None
    with open_showers(inputs if len(inputs) > 1 else inputs[0], source_geometry) as source:
        sparse = options["format_version"] > 1
        with ShowerWriter(path, source.geometry, **options) as writer:
            for batch in source.iter_batches(batch_size, part.start, part.stop, sparse=sparse):
                writer.append(batch)
            return {"events": writer.n_events}


def convert_partitioned(
    inputs: Any,
    folder: Path,
    *,
    source_geometry: Any = None,
    options: dict[str, Any],
    batch_size: int = 1024,
    size: int | None = None,
    client: Any = None,
    progress: Callable[[Partition, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Rewrite the showers of ``inputs`` (any readable layout) as native partition files
    (``options``: ShowerWriter options, with ``format_version``); returns the manifest."""
    from calogeo.io import open_showers

    paths = _paths(inputs)
    with open_showers(paths if len(paths) > 1 else paths[0], source_geometry) as source:
        n = len(source)
    size = size or PARTITION_EVENTS
    return run_partitions(
        folder,
        plan(n, size),
        _convert_task,
        settings={
            "command": "convert",
            "inputs": paths,
            "events": n,
            "partition_size": size,
            "options": options,
        },
        client=client,
        payload=lambda part: (
            paths,
            None if source_geometry is None else source_geometry.spec_text,
            options,
            batch_size,
        ),
        progress=progress,
    )


# -- evaluate -----------------------------------------------------------------------------------

MOMENTS = ("n", "sum", "sum2", "min", "max", "min_positive")


def _table(inputs: list[str], start: int, stop: int, options: dict[str, Any]) -> dict[str, Any]:
    from calogeo.io import open_showers
    from calogeo.observables import table

    with open_showers(inputs if len(inputs) > 1 else inputs[0]) as source:
        return table(source.read(start, stop), **options)


def _moments_task(
    inputs: list[str], start: int, stop: int, options: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Per observable: count, sum, sum of squares, min, max and smallest positive value of
    the finite values of events ``start:stop``."""
    out = {}
    for name, values in _table(inputs, start, stop, options).items():
        v = values[np.isfinite(values)]
        positive = v[v > 0]
        out[name] = np.array(
            [
                len(v),
                v.sum(),
                (v * v).sum(),
                v.min() if len(v) else np.inf,
                v.max() if len(v) else -np.inf,
                positive.min() if len(positive) else np.inf,
            ]
        )
    return out


def _histogram_task(
    inputs: list[str],
    start: int,
    stop: int,
    options: dict[str, Any],
    edges: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    values = _table(inputs, start, stop, options)
    return {name: np.histogram(values[name], e)[0] for name, e in edges.items()}


def _reduce_moments(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    out = {}
    for name in parts[0]:
        stack = np.stack([p[name] for p in parts])
        out[name] = np.concatenate(
            [stack[:, :3].sum(axis=0), [stack[:, 3].min(), stack[:, 4].max(), stack[:, 5].min()]]
        )
    return out


def _map(client: Any, func: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
    if client is None:
        return [func(*args) for args in calls]
    from calogeo.distributed.partitions import RETRIES

    futures = [client.submit(func, *args, pure=False, retries=RETRIES) for args in calls]
    return list(client.gather(futures))


def evaluate_partitioned(
    reference: Any,
    generated: Any,
    *,
    options: dict[str, Any] | None = None,
    size: int = PARTITION_EVENTS,
    n_bins: int | None = None,
    client: Any = None,
) -> dict[str, Any]:
    """Observable histograms and moments of two datasets, computed per partition and reduced
    (no process holds more than one partition's showers).

    Pass 1 reduces per-observable moments (count, sum, sum of squares, min, max, smallest
    positive value); each observable's binning is :func:`calogeo.binning.observable_binning`
    applied to those extremes (so it does not depend on the partitioning); pass 2 sums the
    per-partition histograms. Returns, per observable: edges, both histograms, mean and standard
    deviation of both, and the separation power (1/2 sum (p - q)^2 / (p + q) of the
    normalised histograms)."""
    from calogeo.binning import observable_binning
    from calogeo.io import open_showers

    options = dict(options or {})
    datasets = {"reference": _paths(reference), "generated": _paths(generated)}
    calls: dict[str, list[tuple[Any, ...]]] = {}
    for label, paths in datasets.items():
        with open_showers(paths if len(paths) > 1 else paths[0]) as source:
            geometry = source.geometry
            calls[label] = [(paths, p.start, p.stop, options) for p in plan(len(source), size)]
    moments = {label: _reduce_moments(_map(client, _moments_task, c)) for label, c in calls.items()}
    edges = {}
    for name, ref in moments["reference"].items():
        gen = moments["generated"][name]
        # the extremes stand for the values: enough for every rule but the quantile ones
        summary = [np.array([m[3], m[4], m[5]]) for m in (ref, gen)]
        summary = [s[np.isfinite(s)] for s in summary]
        edges[name] = observable_binning(
            name,
            summary[0],
            summary[1],
            geometry,
            options.get("threshold_gev", 0.0),
            n_bins=n_bins,
        ).edges
    hists = {}
    for label, c in calls.items():
        parts = _map(client, _histogram_task, [(*args, edges) for args in c])
        hists[label] = {name: sum(p[name] for p in parts) for name in edges}
    result: dict[str, Any] = {}
    for name, e in edges.items():
        entry: dict[str, Any] = {"edges": e.tolist()}
        for label in datasets:
            n, s, s2 = moments[label][name][:3]
            mean = s / n if n else float("nan")
            entry[label] = {
                "counts": hists[label][name].tolist(),
                "n": int(n),
                "mean": float(mean),
                "std": float(np.sqrt(max(s2 / n - mean * mean, 0.0))) if n else float("nan"),
            }
        p, q = (hists[label][name].astype(np.float64) for label in datasets)
        p, q = p / max(p.sum(), 1.0), q / max(q.sum(), 1.0)
        both = p + q
        entry["separation_power"] = float(0.5 * np.sum((p - q)[both > 0] ** 2 / both[both > 0]))
        result[name] = entry
    return {"geometry": geometry.name, "observables": result}
