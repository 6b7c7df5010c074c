"""Cost of writing and reading the native shower file, per compression filter.

Showers are shower-like and sparse: energy spots drawn from a gamma longitudinal profile and a
two-component radial profile (the shape of Grindhammer & Peters, hep-ex/0001020), binned into a
25x25x25 grid of 5.1 mm cells (the CLIC REC window, Belayneh et al. Sect. 2). Each filter writes
the same events through ``ShowerWriter`` and reads them back with ``iter_batches``; the script
prints events per second, bytes per event and the ratio of write time to the simulation budget
of 1 ms per shower (the simulator's 1,000 showers/s target, issue 4).

    python benchmarks/io_write.py [-n 4000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from calogeo import Showers, ShowerWriter, geometry_from_spec, open_showers

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
SIMULATION_BUDGET_S = 1e-3  # seconds per shower at the simulator's 1,000 showers/s target
FILTERS = {
    "gzip-1+shuffle": {"compression": "gzip", "level": 1},
    "gzip-4+shuffle": {"compression": "gzip", "level": 4},
    "lzf": {"compression": "lzf", "level": None},
    "none": {"compression": None, "level": None},
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4000, help="events (default 4000)")
    parser.add_argument("--batch", type=int, default=1000, help="events per append")
    parser.add_argument("--spots", type=int, default=3000, help="energy spots per shower")
    args = parser.parse_args()

    geometry = geometry_from_spec(SPEC)
    cells = shower_like(args.n, spots=args.spots)
    showers = Showers(
        geometry,
        [cells[:, k] for k in range(25)],
        np.full(args.n, 50.0, dtype=np.float32),
        {"pdg": np.full(args.n, 22), "theta": np.zeros(args.n)},
    )
    nonzero = float(np.count_nonzero(cells)) / cells.size
    raw = cells.nbytes / args.n
    print(f"{args.n} events of 25x25x25 cells, {nonzero:.1%} non-zero, {raw / 1e3:.1f} kB raw each")
    print(
        f"{'filter':16s} {'write ev/s':>11s} {'read ev/s':>10s} {'kB/event':>9s} {'write/sim':>10s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for label, options in FILTERS.items():
            path = Path(tmp) / f"{label}.h5"
            t0 = time.perf_counter()
            with ShowerWriter(path, geometry, **options) as writer:  # type: ignore[arg-type]
                for batch in showers.batches(args.batch):
                    writer.append(batch)
            t_write = time.perf_counter() - t0
            t0 = time.perf_counter()
            with open_showers(path) as source:
                total = sum(float(b.total_energy().sum()) for b in source.iter_batches(args.batch))
            t_read = time.perf_counter() - t0
            assert abs(total - float(showers.total_energy().sum())) < 1e-6 * total
            per_event = t_write / args.n
            print(
                f"{label:16s} {args.n / t_write:11.0f} {args.n / t_read:10.0f} "
                f"{path.stat().st_size / args.n / 1e3:9.2f} {per_event / SIMULATION_BUDGET_S:10.1%}"
            )


if __name__ == "__main__":
    main()
