"""Size and speed of the native shower file per layout and filter, on simulated showers.

For each case (50 GeV photons in ``clic_ecal_rec`` and ``atlas``, 50 GeV charged pions in
``ild_ahcal``, bunches of 1-50 positrons of 2-14 GeV in ``luxe_ecal``) the registered
``gflash`` generator simulates the showers in this run, timed; each candidate then writes
them through ``ShowerWriter`` (batches as ``calogeo simulate`` appends them) and streams them
back with ``iter_batches``, as Showers (images) and, for version 2, as SparseShowers. Printed
per candidate: kB per event, write and read showers/s, and the ratios to the targets of
issue 11 measured in this run: write time / simulation time (at most 20%) and read speed /
the format-1 LZF file's (the layout before version 2; at least 1). Best of ``--repeat``.

    python benchmarks/io_write.py [-n 2000] [--batch 500] [--read-batch 100] [--repeat 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numba
import numpy as np

from calogeo import ShowerWriter, get_geometry, get_model, open_showers
from calogeo.incident import draw_bunches, impact_ranges

WRITE_TARGET = 0.20  # writing may add at most this fraction to the simulation time
CASES = (
    # geometry, particle, energy range (GeV), multiplicity range (None: one particle)
    ("clic_ecal_rec", "gamma", (50.0, 50.0), None),
    ("atlas", "gamma", (50.0, 50.0), None),
    ("ild_ahcal", "pi+", (50.0, 50.0), None),
    ("luxe_ecal", "e+", (2.0, 14.0), (1, 50)),
)
BASELINE = "v1 dense lzf"
CANDIDATES: dict[str, dict[str, Any]] = {
    BASELINE: {"format_version": 1, "compression": "lzf"},
    "v1 dense gzip-1": {"format_version": 1, "compression": "gzip"},
    "v2 lzf (default)": {},  # LZF, every dataset but cells/energy byte-shuffled
    "v2 lzf shuffle all": {"shuffle": True},
    "v2 lzf no shuffle": {"shuffle": False},
    "v2 gzip-1": {"compression": "gzip"},
    "v2 gzip-1 shuffle all": {"compression": "gzip", "shuffle": True},
    "v2 none": {"compression": None},
    "v2 256k cells/chunk": {"chunk_cells": 1 << 18},
    "v2 1M cells/chunk": {"chunk_cells": 1 << 20},
    "v2 uint32 index": {"index_uint32": True},
}


@contextlib.contextmanager
def index_uint32(enabled: bool) -> Iterator[None]:
    """Store cell indices as uint32 even where uint16 would do (to measure what it costs)."""
    import calogeo.io

    original = calogeo.io.index_dtype
    if enabled:
        calogeo.io.index_dtype = lambda n_cells: np.dtype(np.uint32)  # type: ignore[assignment]
    try:
        yield
    finally:
        calogeo.io.index_dtype = original


def best(func: Callable[[], object], repeat: int) -> float:
    """Shortest wall time of ``repeat`` calls (s)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def simulate_case(
    geometry_name: str,
    particle: str,
    energy: tuple[float, float],
    multiplicity: tuple[int, int] | None,
    n: int,
    batch: int,
) -> tuple[list[Any], float]:
    """The case's showers in batches of ``batch`` and the simulation seconds they took."""
    geometry = get_geometry(geometry_name)
    simulator = get_model("gflash").build(geometry, seed=1)
    rng = np.random.default_rng(2)

    def draw(size: int) -> dict[str, np.ndarray]:
        if multiplicity is None:
            return {"energies": rng.uniform(*energy, size)}
        return draw_bunches(rng, size, multiplicity, energy, impact_ranges(geometry))

    method = simulator.simulate if multiplicity is None else simulator.simulate_bunches
    method(particle, **draw(4))  # compile the kernels outside the timing
    kwargs = [draw(min(batch, n - first)) for first in range(0, n, batch)]
    start = time.perf_counter()
    batches = [method(particle, **kw) for kw in kwargs]
    return batches, time.perf_counter() - start


def write_file(path: Path, batches: list[Any], options: dict[str, Any]) -> None:
    """Write ``batches`` to ``path`` as ``calogeo simulate`` does (one append per batch)."""
    with ShowerWriter(path, batches[0].geometry, **options) as writer:
        for part in batches:
            writer.append(part)


def read_file(path: Path, batch: int, *, sparse: bool = False) -> None:
    """Stream ``path`` in batches of ``batch`` events (images, or non-zero cells)."""
    with open_showers(path) as source:
        for _ in source.iter_batches(batch, sparse=sparse):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="events per case (2000)")
    parser.add_argument("--batch", type=int, default=500, help="events per append (500)")
    parser.add_argument("--read-batch", type=int, default=100, help="events per read (100)")
    parser.add_argument("--repeat", type=int, default=2, help="timed repetitions (best kept)")
    parser.add_argument("--cases", nargs="*", help="geometries to run (default: all four)")
    args = parser.parse_args()
    numba.set_num_threads(1)
    load = os.getloadavg()[0]
    print(
        f"{args.n} events per case, appended in batches of {args.batch}, read in batches of "
        f"{args.read_batch}; best of {args.repeat}; one core; load average {load:.1f} on "
        f"{os.cpu_count()} cores"
    )
    for geometry_name, particle, energy, multiplicity in CASES:
        if args.cases and geometry_name not in args.cases:
            continue
        batches, sim_s = simulate_case(
            geometry_name, particle, energy, multiplicity, args.n, args.batch
        )
        geometry = batches[0].geometry
        hits = sum(int(np.count_nonzero(b.flat())) for b in batches)
        what = f"{particle} x {multiplicity[0]}-{multiplicity[1]}" if multiplicity else particle
        print(
            f"\n{geometry_name} ({geometry.n_cells} cells), {what} at {energy[0]:g}-{energy[1]:g} "
            f"GeV: {hits / args.n / geometry.n_cells:.1%} of cells non-zero; simulated at "
            f"{args.n / sim_s:,.0f} showers/s"
        )
        print(
            f"  {'candidate':22s} {'kB/event':>8s} {'write/s':>8s} {'read/s':>8s} "
            f"{'sparse/s':>8s} {'write/sim':>9s} {'read/v1':>7s}"
        )
        baseline_read = None
        with tempfile.TemporaryDirectory() as tmp:
            for label, options in CANDIDATES.items():
                options = dict(options)
                wide = options.pop("index_uint32", False)
                path = Path(tmp) / "f.h5"

                with index_uint32(wide):
                    t_write = best(partial(write_file, path, batches, options), args.repeat)
                t_read = best(partial(read_file, path, args.read_batch), args.repeat)
                sparse = (
                    f"{args.n / best(partial(read_file, path, args.read_batch, sparse=True), args.repeat):8,.0f}"
                    if options.get("format_version", 2) == 2
                    else f"{'-':>8s}"
                )
                if label == BASELINE:
                    baseline_read = t_read
                assert baseline_read is not None
                print(
                    f"  {label:22s} {path.stat().st_size / args.n / 1e3:8.2f} "
                    f"{args.n / t_write:8,.0f} {args.n / t_read:8,.0f} {sparse} "
                    f"{t_write / sim_s:9.1%} {baseline_read / t_read:7.2f}"
                )
    print(
        f"\ntargets: write/sim <= {WRITE_TARGET:.0%} (writing adds at most that to the "
        f"simulation), read/v1 >= 1 (reading at least as fast as the '{BASELINE}' file)"
    )


if __name__ == "__main__":
    main()
