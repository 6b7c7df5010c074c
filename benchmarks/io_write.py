"""Cost of writing and reading the native shower file, per compression filter.

Showers are 50 GeV photons in a 25x25x25 window of 5.1 mm cells (the CLIC REC window, Belayneh
et al. Sect. 2): by default simulated in this run by the registered ``gflash`` generator on
``clic_ecal_rec``, timed, so the script prints the ratio write time / simulation time measured
in one run (issue 4 target: writing costs at most 20% of the simulation). With ``--synthetic``
(or when the generator or geometry is not installed) they are shower-like stand-ins: energy
spots from a gamma longitudinal and two-component radial profile (the shape of Grindhammer &
Peters, hep-ex/0001020) binned into the grid, and the ratio is taken against the simulator's
1,000 showers/s target. Each filter writes the same events through ``ShowerWriter`` and streams
them back with ``iter_batches``; the peak memory numpy allocates while streaming is printed
next to the file's raw size.

    python benchmarks/io_write.py [-n 4000] [--batch 1000] [--synthetic [--spots 3000]]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from calogeo import CalogeoError, Showers, ShowerWriter, geometry_from_spec, open_showers
from calogeo.registry import get_geometry, get_model

SPEC = """
name = "bench_grid"
title = "25x25x25 grid of 5.1 mm cells, 25 layers of 1 X0 of tungsten"
citation = "benchmark geometry"
distance_from_ip_mm = 1500.0
[[layers]]
name = "layer"
repeat = 25
thickness_x0 = 1.0
material = "W"
layout = { type = "grid", pitch_mm = [5.1, 5.1], shape = [25, 25] }
"""
TARGET_SIMULATION_S = 1e-3  # seconds per shower at the simulator's 1,000 showers/s target
FILTERS = {
    "gzip-1+shuffle": {"compression": "gzip", "level": 1, "shuffle": True},
    "gzip-1": {"compression": "gzip", "level": 1},
    "gzip-4": {"compression": "gzip", "level": 4},
    "lzf": {"compression": "lzf"},
    "none": {"compression": None},
}


def shower_like(n: int, seed: int = 1, spots: int = 3000) -> np.ndarray:
    """(n, 25, 25, 25) float32 GeV: 50 GeV showers as binned energy spots (layer, row, col)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 25 * 25 * 25), dtype=np.float32)
    rm_mm, pitch = 9.327, 5.1  # Moliere radius of W (PDG), cell pitch
    for i in range(n):
        depth = rng.gamma(shape=4.0 + rng.normal(0, 0.3), scale=1.6, size=spots)  # X0
        core = rng.random(spots) < 0.8
        u = rng.random(spots)
        r = rm_mm * np.where(core, 0.2, 0.8) * np.sqrt(u / (1.0 - u))
        a = rng.uniform(0, 2 * np.pi, spots)
        col = np.floor(r * np.cos(a) / pitch + 12.5).astype(np.int64)
        row = np.floor(r * np.sin(a) / pitch + 12.5).astype(np.int64)
        layer = np.floor(depth).astype(np.int64)
        ok = (col >= 0) & (col < 25) & (row >= 0) & (row < 25) & (layer < 25)
        flat = (layer * 25 + row) * 25 + col
        e = rng.exponential(50.0 / spots, spots).astype(np.float32)
        out[i] = np.bincount(flat[ok], e[ok], minlength=out.shape[1])
    return out.reshape(n, 25, 25, 25)


def simulated(n: int) -> tuple[Showers, float]:
    """``n`` 50 GeV photons from the ``gflash`` generator on ``clic_ecal_rec`` and the seconds
    per shower it took."""
    model = get_model("gflash")(get_geometry("clic_ecal_rec"), seed=1)
    model.simulate("gamma", np.full(10, 50.0))  # compile the kernels outside the timing
    t0 = time.perf_counter()
    showers = model.simulate("gamma", np.full(n, 50.0))
    return showers, (time.perf_counter() - t0) / n


def synthetic(n: int, spots: int) -> Showers:
    geometry = geometry_from_spec(SPEC)
    cells = shower_like(n, spots=spots)
    return Showers(
        geometry,
        [np.ascontiguousarray(cells[:, k]) for k in range(25)],
        np.full(n, 50.0, dtype=np.float32),
        {"pdg": np.full(n, 22), "theta": np.zeros(n)},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4000, help="events (default 4000)")
    parser.add_argument("--batch", type=int, default=1000, help="events per append")
    parser.add_argument("--read-batch", type=int, default=100, help="events per streamed read")
    parser.add_argument("--synthetic", action="store_true", help="stand-in showers, no generator")
    parser.add_argument("--spots", type=int, default=3000, help="energy spots per synthetic shower")
    args = parser.parse_args()

    showers, sim_s, source = None, TARGET_SIMULATION_S, "synthetic (vs the 1 ms/shower target)"
    if not args.synthetic:
        try:
            showers, sim_s = simulated(args.n)
            source = f"gflash, simulated at {1 / sim_s:.0f} showers/s in this run"
        except CalogeoError as exc:
            print(f"no generator ({exc}); using synthetic showers")
    if showers is None:
        showers = synthetic(args.n, args.spots)
    flat = showers.flat()
    raw = flat.nbytes
    print(
        f"{args.n} events of {showers.geometry.n_cells} cells from {source}; "
        f"{np.count_nonzero(flat) / flat.size:.1%} non-zero, {raw / args.n / 1e3:.1f} kB raw each"
    )
    header = f"{'filter':16s} {'write ev/s':>11s} {'read ev/s':>10s} {'kB/event':>9s}"
    print(
        f"{header} {'write/sim':>10s} {'read peak MB':>13s} "
        f"(file raw {raw / 1e6:.0f} MB, read in batches of {args.read_batch})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in FILTERS.items():
            path = Path(tmp) / f"{label}.h5"
            t0 = time.perf_counter()
            with ShowerWriter(path, showers.geometry, **options) as writer:  # type: ignore[arg-type]
                for batch in showers.batches(args.batch):
                    writer.append(batch)
            t_write = time.perf_counter() - t0
            tracemalloc.start()
            t0 = time.perf_counter()
            with open_showers(path) as source_file:
                total = sum(
                    float(b.total_energy().sum()) for b in source_file.iter_batches(args.read_batch)
                )
            t_read = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert abs(total - float(showers.total_energy().sum())) < 1e-6 * total
            print(
                f"{label:16s} {args.n / t_write:11.0f} {args.n / t_read:10.0f} "
                f"{path.stat().st_size / args.n / 1e3:9.2f} {t_write / args.n / sim_s:10.1%} "
                f"{peak / 1e6:13.1f}"
            )


if __name__ == "__main__":
    main()
