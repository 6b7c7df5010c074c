"""Speed and memory of ``calogeo voxelize`` on a large hit file.

Photon showers (50 GeV, ``clic_ecal_rec`` by default) are simulated in this run by the
registered ``gflash`` generator, turned into hits (1-3 per non-empty cell at random points
inside it, axes spread over the barrel: ``calogeo.voxelize.scatter``) and written, event
batch after event batch with the vertices jittered, to an uncompressed HDF5 hit table
(x, y, z, energy float32 + offsets) of about ``--gb`` GB. Then, each in a fresh process:

- ``read``: the ``table`` reader's batches are read and their hits counted (the time to read
  the hits alone);
- ``voxelize``: the whole ``calogeo.voxelize`` (read, place each event's window on its truth
  axis, bin, write the native file);
- ``idle``: the imports, the compiled kernels and one batch of 1,000 hits binned: the
  baseline of the memory figures.

Printed: hits/s of each, their ratio (measured in the same run), and every process's peak
resident memory against the file's size (the bounded-memory figure).

    python benchmarks/voxelize.py [--gb 1.0] [--geometry clic_ecal_rec] [--chunk-hits 262144]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import calogeo
from calogeo.voxelize import CHUNK_HITS
from calogeo.voxelize.scatter import showers_to_hits

BYTES_PER_HIT = 16


def make_file(path: Path, geometry: str, gb: float, seed: int = 0) -> int:
    """Write a hit table of about ``gb`` GB; returns the number of hits."""
    geo = calogeo.get_geometry(geometry)
    rng = np.random.default_rng(seed)
    n = 500
    showers = calogeo.get_model("gflash").build(geo, seed=seed).simulate("gamma", np.full(n, 50.0))
    direction = np.array([1.0, 0.0, 0.0]) + rng.normal(0.0, 0.3, size=(n, 3))
    hits = showers_to_hits(showers, direction=direction, seed=seed)
    target = int(gb * 1e9 / BYTES_PER_HIT)
    with h5py.File(path, "w") as h5:
        columns = {
            c: h5.create_dataset(c, (0,), np.float32, maxshape=(None,), chunks=(1 << 18,))
            for c in ("x", "y", "z", "energy")
        }
        truth = {
            name: h5.create_dataset(name, (0,), np.float64, maxshape=(None,), chunks=(1 << 14,))
            for name in [f"{p}_{c}" for p in ("vertex", "direction") for c in "xyz"]
        }
        ends = [np.zeros(1, dtype=np.int64)]
        written = 0
        while written < target:
            shift = rng.normal(0.0, 3.0, size=(n, 3))
            position = hits.position + np.repeat(shift, hits.counts, axis=0)
            values = {"x": position[:, 0], "y": position[:, 1], "z": position[:, 2]}
            values["energy"] = hits.energy
            for name, values_ in values.items():
                _append(columns[name], values_.astype(np.float32))
            for k, c in enumerate("xyz"):
                _append(truth[f"vertex_{c}"], hits.events["vertex_mm"][:, k] + shift[:, k])
                _append(truth[f"direction_{c}"], hits.events["direction"][:, k])
            ends.append(written + hits.offsets[1:])
            written += hits.n_hits
        h5["offsets"] = np.concatenate(ends)
    return written


def _append(dataset: h5py.Dataset, values: np.ndarray) -> None:
    start = len(dataset)
    dataset.resize(start + len(values), axis=0)
    dataset[start:] = values


CHILD = """
import json, resource, sys, time
from calogeo import get_geometry
from calogeo.hits import open_hits
from calogeo.voxelize import voxelize
mode, path, geometry, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
geo = get_geometry(geometry)
start = time.perf_counter()
if mode == "open":
    with open_hits(path) as reader:
        hits = 0
elif mode == "idle":  # every module and kernel loaded, one small batch binned
    import calogeo.io, calogeo.resample.stream
    from calogeo.voxelize import HitBinner
    with open_hits(path) as reader:
        hits = HitBinner(geo)(next(reader.iter_batches(1000)))[0].index.size * 0
elif mode == "read":
    with open_hits(path) as reader:
        hits = sum(b.n_hits for b in reader.iter_batches(chunk))
else:
    hits = voxelize(path, geo, path + ".out.h5", chunk_hits=chunk).hits
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime
rss = usage.ru_maxrss * 1024  # kept across exec on Linux: it includes the parent at the fork
try:  # the peak of this process image alone
    status = open("/proc/self/status").read()
    rss = int(status.split("VmHWM:")[1].split()[0]) * 1024
except (OSError, IndexError):
    pass
print(json.dumps({"hits": hits, "seconds": seconds, "cpu": cpu, "rss": rss}))
"""


def child(mode: str, path: Path, geometry: str, chunk: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path), geometry, str(chunk)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="hit file size (GB)")
    parser.add_argument("--geometry", default="clic_ecal_rec")
    parser.add_argument("--chunk-hits", type=int, default=CHUNK_HITS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hits.h5"
        start = time.perf_counter()
        n_hits = make_file(path, args.geometry, args.gb)
        size = path.stat().st_size
        print(
            f"hit file: {n_hits:,} hits, {size / 1e9:.2f} GB ({time.perf_counter() - start:.0f} s to make)"
        )
        child("read", path, args.geometry, args.chunk_hits)  # warm the page cache and Numba
        base = {m: child(m, path, args.geometry, args.chunk_hits) for m in ("open", "idle")}
        read = child("read", path, args.geometry, args.chunk_hits)
        vox = child("voxelize", path, args.geometry, args.chunk_hits)
        print(
            f"baselines: imports and the file opened {base['open']['rss'] / 1e6:.0f} MB; "
            f"+ kernels and 1,000 hits binned {base['idle']['rss'] / 1e6:.0f} MB (peak RSS)"
        )
        cpu = {}
        for name, run, zero in (("read only", read, "open"), ("voxelize", vox, "idle")):
            cpu[name] = run["cpu"] - base[zero]["cpu"]
            above = run["rss"] - base[zero]["rss"]
            print(
                f"{name:>10}: {run['hits'] / run['seconds'] / 1e6:6.2f} M hits/s "
                f"({run['seconds']:.1f} s wall, {cpu[name]:.1f} s CPU), peak RSS "
                f"{run['rss'] / 1e6:.0f} MB, {above / 1e6:.0f} MB above its baseline "
                f"({above / size:.1%} of the file)"
            )
        print(
            f"voxelize takes {vox['seconds'] / read['seconds']:.1f}x the wall time and "
            f"{cpu['voxelize'] / cpu['read only']:.1f}x the CPU time of reading the hits alone"
        )
        print(f"chunk: {args.chunk_hits:,} hits")


if __name__ == "__main__":
    main()
