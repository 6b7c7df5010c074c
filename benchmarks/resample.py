"""Speed of the resampler, measured in one run: end to end (``calogeo resample`` and
``Resampler.apply`` on simulated files) against reading the same file, apply throughput against
a plain read, weight building (separable and polygon) against shapely, the weight cache, and
a per-event shapely reference.

Targets: ``calogeo resample`` at most 2x the time to read its input file for CLIC 25x25x25 ->
atlas, CLIC -> cms round trip and ILD -> clic_hcal (issue 11); the weight cache loads faster
than a rebuild or is skipped; rectilinear apply at most 4x a plain read of the same batch
(``x.sum()``); polygon weights at least 100x faster than building the same matrix with
shapely; CLIC 51x51x25 -> ATLAS weights built cold in under 1 s (issue 3). Every timing is the
best of ``--repeat`` runs; the two sides of a ratio alternate, so a busy machine slows both
alike.

    python benchmarks/resample.py [--repeat 5] [--events 10000] [--reference-events 100]
    python benchmarks/resample.py --only end-to-end   # the issue-11 table alone (~2 min)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy import sparse

from calogeo import Geometry, Resampler, geometry_from_spec, get_geometry, get_model
from calogeo.cli import main as cli
from calogeo.cli.cmd_simulate import simulate_to_file
from calogeo.incident import draw_particles
from calogeo.io import ShowerWriter, open_showers
from calogeo.layout import ConvexPieces
from calogeo.resample import build_overlaps
from calogeo.resample.apply import transfer
from calogeo.testing import blob_showers

APPLY_CASES = [  # (source, target, label, events per batch)
    ("clic_ecal", "atlas", "CLIC 51x51x25 -> atlas", 1000),
    ("clic_ecal", "cms", "CLIC 51x51x25 -> cms", 1000),
    ("ild_ahcal", "clic_hcal", "ILD 25x25x48 -> clic_hcal", 2000),
]
END_TO_END = [  # (source, particle, target, round trip, label)
    ("clic_ecal_rec", "gamma", "atlas", False, "CLIC 25x25x25 -> atlas"),
    ("clic_ecal_rec", "gamma", "cms", True, "CLIC 25x25x25 -> cms -> CLIC"),
    ("ild_ahcal", "pi+", "clic_hcal", False, "ILD 25x25x48 -> clic_hcal"),
]
HIT_THRESHOLD_GEV = 1e-4  # zero suppression of the reference's sparse showers (0.1 MeV)


def best(function: Callable[[], Any], repeat: int) -> float:
    """Fastest of ``repeat`` calls, in seconds (after one warm-up call)."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def paired(first: Callable[[], Any], second: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best times of two functions timed alternately."""
    a, b = alternating([first, second], repeat)
    return a, b


def alternating(functions: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Best times of functions timed in turn, ``repeat`` rounds after one warm-up round."""
    for function in functions:
        function()
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeat):
        for function, spent in zip(functions, times, strict=True):
            start = time.perf_counter()
            function()
            spent.append(time.perf_counter() - start)
    return [min(t) for t in times]


def simulated_file(folder: Path, geometry: str, particle: str, events: int) -> Path:
    """``events`` showers of 10-100 GeV (log-uniform) made by ``calogeo simulate``'s Python
    API and written to a native file."""
    path = folder / f"{geometry}_{particle}.h5"
    if not path.exists():
        simulator = get_model("gflash").build(get_geometry(geometry), seed=1)
        rng = np.random.default_rng(1)
        sizes = [min(1000, events - k) for k in range(0, events, 1000)]
        batches = (draw_particles(rng, n, (10.0, 100.0), log=True) for n in sizes)
        simulate_to_file(simulator, path, particle, batches, seed=1)
    return path


def read_file(path: Path, batch_size: int = 1024) -> None:
    """Read every batch of a file, as ``calogeo resample`` does."""
    with open_showers(path) as source:
        for _ in source.iter_batches(batch_size):
            pass


def write_file(path: Path, showers: Any, batch_size: int = 1024) -> None:
    """Write showers in batches, as ``calogeo resample`` does."""
    with ShowerWriter(path, showers.geometry) as writer:
        for batch in showers.batches(batch_size):
            writer.append(batch)


def run_cli(*args: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        if cli(list(args)) != 0:
            msg = f"calogeo {' '.join(args)} failed"
            raise RuntimeError(msg)


def end_to_end(folder: Path, events: int, repeat: int) -> None:
    print(
        f"end to end, {events:,} simulated showers per file, batches of 1024 (CLI: "
        "'calogeo resample' run in this process; Python: read the file, Resampler.apply):"
    )
    for source_name, particle, target_name, round_trip, label in END_TO_END:
        path = simulated_file(folder, source_name, particle, events)
        out = folder / "out.h5"
        args = ["resample", str(path), "--to", target_name, "-o", str(out)]
        args += ["--round-trip"] if round_trip else []
        source, target = get_geometry(source_name), get_geometry(target_name)
        resampler = Resampler(source, target, round_trip=round_trip)
        with open_showers(path) as f:
            showers = f.read()
        dense = showers.flat()
        resampled = resampler.apply(showers)
        read, write, command = alternating(
            [
                lambda p=path: read_file(p),
                lambda s=resampled: write_file(folder / "written.h5", s),
                lambda a=args: run_cli(*a),
            ],
            repeat,
        )
        array, api = paired(
            lambda r=resampler, x=dense: r.apply_array(x),
            lambda r=resampler, s=showers: r.apply(s),
            repeat,
        )
        print(
            f"  {label}: read {read:.2f} s, calogeo resample {command:.2f} s = "
            f"{command / read:.2f}x the read (target <= 2x; writing the output alone takes "
            f"{write / read:.2f}x the read, and h5py serialises reads and writes); "
            f"Resampler.apply(Showers) {api:.2f} s = {api / array:.2f}x apply_array "
            f"({array:.2f} s)"
        )


def cache_times(repeat: int) -> None:
    """Resampler(cache=True) against building the overlap tables: separable tables are not
    cached (building them is faster than loading), clipped ones are loaded."""
    cases = [
        ("clic_ecal_rec", "atlas"),
        ("clic_ecal_rec", "cms"),
        ("ild_ahcal", "clic_hcal"),
        ("clic_ecal_rec", "calochallenge_2"),
    ]
    for source_name, target_name in cases:
        source, target = get_geometry(source_name), get_geometry(target_name)
        with tempfile.TemporaryDirectory() as folder:
            Resampler(source, target, cache=Path(folder))
            cached = any(Path(folder).iterdir())
            build, load = paired(
                lambda s=source, t=target: Resampler(s, t, cache=False),
                lambda s=source, t=target, f=folder: Resampler(s, t, cache=Path(f)),
                repeat,
            )
        how = "loaded from the cache" if cached else "not cached (separable), built"
        print(
            f"weights {source_name} -> {target_name}: built in {build * 1e3:.1f} ms; "
            f"Resampler(cache=True) {how} in {load * 1e3:.1f} ms = {load / build:.2f}x the "
            "build (target <= 1x)"
        )


def apply_throughput(repeat: int) -> None:
    print("apply, dense float32 batches (numpy: fused Numba pass; 'products': dense GEMMs):")
    rng = np.random.default_rng(0)
    for source_name, target_name, label, events in APPLY_CASES:
        source, target = get_geometry(source_name), get_geometry(target_name)
        resampler = Resampler(source, target)
        x = rng.exponential(0.01, size=(events, source.n_cells)).astype(np.float32)
        read, apply = paired(lambda x=x: x.sum(), lambda r=resampler, x=x: r.apply_array(x), repeat)
        products = best(lambda r=resampler, x=x: transfer(r.overlaps, x, "products"), repeat)
        print(
            f"  {label}: {events / apply:,.0f} showers/s, {apply / read:.1f}x a plain read "
            f"(target <= 4x); dense products {events / products:,.0f} showers/s "
            f"({products / read:.1f}x)"
        )


def weight_times(repeat: int) -> None:
    source, target = get_geometry("clic_ecal"), get_geometry("atlas")
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        cold = Resampler(source, target, cache=Path(folder))
        build = time.perf_counter() - start
        load = best(lambda: Resampler(source, target, cache=Path(folder)), repeat)
    start = time.perf_counter()
    matrix = cold.weights
    assemble = time.perf_counter() - start
    print(
        f"weights CLIC 51x51x25 -> atlas: built cold in {build * 1e3:.1f} ms (target < 1 s), "
        f"loaded from the cache in {load * 1e3:.1f} ms (target < 50 ms); full CSR "
        f"({matrix.shape[0]}x{matrix.shape[1]}, {matrix.nnz:,} non-zeros) assembled in "
        f"{assemble * 1e3:.1f} ms"
    )


def single_layer(name: str, layout: str) -> Geometry:
    return geometry_from_spec(
        f"""
name = "{name}"
title = "{name}"
citation = "benchmark geometry"
distance_from_ip_mm = 1500.0
[[layers]]
name = "l"
thickness_x0 = 1.0
material = "W"
layout = {layout}
"""
    )


def shapely_polygons(pieces: ConvexPieces) -> np.ndarray:
    """shapely polygons of the pieces, made in one vectorised call per vertex count."""
    out = np.empty(len(pieces), dtype=object)
    for k in np.unique(pieces.n_vertices):
        sel = np.flatnonzero(pieces.n_vertices == k)
        out[sel] = shapely.polygons(np.ascontiguousarray(pieces.vertices[sel, :k]))
    return out


def shapely_vectorised(source: ConvexPieces, target: ConvexPieces, shape: tuple[int, int]) -> Any:
    """The same area matrix with shapely 2: STRtree candidates, vectorised intersections."""
    sp, tp = shapely_polygons(source), shapely_polygons(target)
    si, ti = shapely.STRtree(tp).query(sp, predicate="intersects")
    area = shapely.area(shapely.intersection(sp[si], tp[ti]))
    return sparse.coo_matrix((area, (target.cell[ti], source.cell[si])), shape=shape).tocsr()


def shapely_loop(source: ConvexPieces, target: ConvexPieces, shape: tuple[int, int]) -> Any:
    """The same area matrix with a plain loop over source pieces and their candidates."""
    sp, tp = shapely_polygons(source), shapely_polygons(target)
    tree = shapely.STRtree(tp)
    rows, cols, vals = [], [], []
    for s, polygon in enumerate(sp):
        for t in tree.query(polygon):
            area = polygon.intersection(tp[t]).area
            if area > 0:
                rows.append(target.cell[t])
                cols.append(source.cell[s])
                vals.append(area)
    return sparse.coo_matrix((vals, (rows, cols)), shape=shape).tocsr()


def polygon_weights(repeat: int) -> None:
    cases = [
        (
            "hexagons 5 mm 120x120 -> 5.1 mm grid 100x100",
            '{ type = "hexagonal", pitch_mm = 5.0, shape = [120, 120] }',
            '{ type = "grid", pitch_mm = [5.1, 5.1], shape = [100, 100] }',
        ),
        (
            "r-alpha 18 r x 50 alpha (CaloChallenge 3) -> 5.1 mm grid 17x17",
            '{ type = "r_alpha", r_edges_mm = ['
            + ", ".join(f"{2.325 * i:.3f}" for i in range(19))
            + "], n_alpha = 50 }",
            '{ type = "grid", pitch_mm = [5.1, 5.1], shape = [17, 17] }',
        ),
    ]
    build_overlaps(*(single_layer(n, c[1]) for n, c in zip("ab", cases, strict=True)))  # JIT
    for label, source_layout, target_layout in cases:
        source, target = single_layer("src", source_layout), single_layer("tgt", target_layout)
        ours = best(lambda s=source, t=target: build_overlaps(s, t), repeat)
        matrix = build_overlaps(source, target).couplings[0].transverse[0].matrix
        rm = source.layers[0].material.rm_mm
        sp = source.layers[0].layout.pieces().scaled(1.0 / rm)
        tp = target.layers[0].layout.pieces().scaled(1.0 / rm)
        shape = (target.n_cells, source.n_cells)
        start = time.perf_counter()
        reference = shapely_vectorised(sp, tp, shape)
        vectorised = time.perf_counter() - start
        start = time.perf_counter()
        shapely_loop(sp, tp, shape)
        loop = time.perf_counter() - start
        error = abs(matrix - reference).max()
        print(
            f"polygon weights, {label} ({len(sp):,} x {len(tp):,} pieces, {matrix.nnz:,} "
            f"overlaps): {ours * 1e3:.1f} ms, {vectorised / ours:.0f}x faster than shapely "
            f"vectorised ({vectorised:.2f} s; target >= 100x), {loop / ours:.0f}x faster than "
            f"a shapely loop ({loop:.2f} s); max difference {error:.1e} R_M^2"
        )


def per_event_reference(source: Geometry, target: Geometry, cells: np.ndarray) -> np.ndarray:
    """Loop over events and hit cells; shapely intersections in R_M units, depth in X0."""

    def layer_polygons(geometry: Geometry) -> list[np.ndarray]:
        return [
            shapely_polygons(layer.layout.pieces().scaled(1.0 / layer.material.rm_mm))
            for layer in geometry.layers
        ]

    source_polygons, target_polygons = layer_polygons(source), layer_polygons(target)
    trees = [shapely.STRtree(p) for p in target_polygons]
    s_edges, t_edges = source.x0_edges, target.x0_edges
    out = np.zeros((len(cells), target.n_cells))
    for n, event in enumerate(cells):
        for flat in np.flatnonzero(event):
            i = int(np.searchsorted(source.layer_offsets, flat, side="right") - 1)
            polygon = source_polygons[i][flat - source.layer_offsets[i]]
            depth = s_edges[i, 1] - s_edges[i, 0]
            for j in range(target.n_layers):
                overlap = min(s_edges[i, 1], t_edges[j, 1]) - max(s_edges[i, 0], t_edges[j, 0])
                if overlap <= 0:
                    continue
                for t in trees[j].query(polygon):
                    area = polygon.intersection(target_polygons[j][t]).area
                    out[n, target.layer_offsets[j] + t] += (
                        float(event[flat]) * area / polygon.area * overlap / depth
                    )
    return out


def reference_comparison(events: int) -> None:
    source, target = get_geometry("clic_ecal"), get_geometry("atlas")
    cells = blob_showers(source, events, seed=3).flat()
    cells[cells < HIT_THRESHOLD_GEV] = 0.0
    resampler = Resampler(source, target)
    ours = best(lambda: resampler.apply_array(cells), 3)
    start = time.perf_counter()
    expected = per_event_reference(source, target, cells)
    reference = time.perf_counter() - start
    got = resampler.apply_array(cells.astype(np.float64))
    error = np.abs(got - expected).max() / expected.max()
    hits = np.count_nonzero(cells) / events
    print(
        f"per-event reference (loop over hit cells, shapely intersections), {events} CLIC "
        f"showers ({hits:,.0f} hits each) -> atlas: {reference:.1f} s; resampler "
        f"{ours * 1e3:.1f} ms: {reference / ours:,.0f}x faster (max difference "
        f"{error:.1e} of the largest cell)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats (best is kept)")
    parser.add_argument("--reference-events", type=int, default=100, help="showers (100)")
    parser.add_argument(
        "--events", type=int, default=10_000, help="simulated showers per end-to-end file"
    )
    parser.add_argument("--only", choices=["end-to-end"], help="run one part only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as data:
        os.environ["CALOGEO_CACHE_DIR"] = cache
        end_to_end(Path(data), args.events, args.repeat)
        cache_times(args.repeat)
        if args.only:
            return
        apply_throughput(args.repeat)
        weight_times(args.repeat)
        polygon_weights(args.repeat)
        reference_comparison(args.reference_events)


if __name__ == "__main__":
    main()
