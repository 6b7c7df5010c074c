"""Scaling past one process: simulate and resample throughput on a local Dask cluster of 1 and
of 2 worker processes (the same input, the same partitions; target on 2 cores: at least 1.7x),
and DistributedDataParallel training throughput under ``torchrun`` with 1 and 2 processes.

Each cluster is started and every worker warmed up (imports, Numba from its disk cache, the
simulator, the overlap tables) before it is timed; the outputs of 1 and 2 workers are checked to be
identical. Training: ``torchrun --nproc-per-node P -m calogeo train MODEL`` for 1 and for 3
epochs; the difference over 2 epochs is the epoch time without start-up. The machine may be
shared: the ratios are measured in one run, side by side.

    python benchmarks/scale.py [-n 4000] [--geometry clic_ecal_rec] [--target atlas]
                               [--train-events 1000] [--model dnn]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from calogeo import get_geometry
from calogeo.distributed.ops import resample_partitioned, simulate_partitioned
from calogeo.incident import draw_particles
from calogeo.io import read_showers

BATCH = 250
RESAMPLE_REPEATS = 8
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "CALOGEO_THREADS": "1"}


def batches(n: int, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [draw_particles(rng, min(BATCH, n - a), (30.0, 150.0)) for a in range(0, n, BATCH)]


def _warm(geometry_name: str, target_name: str) -> None:
    """On a worker: imports, the simulator and the overlap tables, Numba from its cache."""
    from calogeo.registry import get_model
    from calogeo.resample import Resampler

    geometry = get_geometry(geometry_name)
    showers = get_model("gflash").build(geometry, seed=0).generate(np.full(4, 50.0))
    Resampler(geometry, get_geometry(target_name)).apply(showers)


def data_parallel(args: argparse.Namespace, work: Path) -> list[tuple[str, int, float]]:
    from distributed import Client, LocalCluster

    geometry, target = get_geometry(args.geometry), get_geometry(args.target)
    drawn = batches(args.events, 1)
    rows = []
    for workers in (1, 2):
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, dashboard_address=None, env=WORKER_ENV
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(_warm, args.geometry, args.target)  # on every worker
            begin = time.perf_counter()
            simulate_partitioned(geometry, "gamma", drawn, work / f"sim{workers}", seed=1,
                                 batches_per_partition=2, client=client)  # fmt: skip
            rows.append(("simulate", workers, args.events / (time.perf_counter() - begin)))
            # resampling runs faster than simulating: the simulated files RESAMPLE_REPEATS times
            begin = time.perf_counter()
            resample_partitioned([work / "sim1"] * RESAMPLE_REPEATS, target, work / f"res{workers}",
                                 size=4 * BATCH, batch_size=BATCH, client=client)  # fmt: skip
            elapsed = time.perf_counter() - begin
            rows.append(("resample", workers, RESAMPLE_REPEATS * args.events / elapsed))
    for stage in ("sim", "res"):
        a, b = read_showers(work / f"{stage}1"), read_showers(work / f"{stage}2")
        assert np.array_equal(a.flat(), b.flat()), f"{stage}: 1 and 2 workers differ"
    return rows


def ddp(args: argparse.Namespace, work: Path) -> list[tuple[str, int, float]]:
    geometry = get_geometry(args.geometry)
    data = []
    for k, particle in enumerate(("gamma", "pi0")):
        path = work / f"train_{particle}"
        simulate_partitioned(geometry, particle, batches(args.train_events, 10 + k), path,
                             seed=10 + k, batches_per_partition=8)  # fmt: skip
        data.append(str(path))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CALOGEO_THREADS": "1"}
    rows = []
    for processes in (1, 2):
        seconds = {}
        for epochs in (1, 3):
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       "--nproc-per-node", str(processes), "-m", "calogeo", "train",
                       args.model, "--data", *data, "--size", "small", "--device", "cpu",
                       "--epochs", str(epochs), "--set", "patience=100",
                       "-o", str(work / "m.pt")]  # fmt: skip
            begin = time.perf_counter()
            subprocess.run(command, env=env, check=True, capture_output=True)
            seconds[epochs] = time.perf_counter() - begin
        per_epoch = (seconds[3] - seconds[1]) / 2
        # the validation split holds 20% of the events out of each epoch
        rows.append((f"train {args.model}", processes, 0.8 * 2 * args.train_events / per_epoch))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--events", type=int, default=4000)
    parser.add_argument("--geometry", default="clic_ecal_rec")
    parser.add_argument("--target", default="atlas")
    parser.add_argument("--train-events", type=int, default=1000, help="per particle")
    parser.add_argument("--model", default="dnn")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="calogeo-scale-"))
    try:
        rows = data_parallel(args, work)
        if not args.skip_train:
            rows += ddp(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'stage':<16} {'workers':>7} {'showers/s':>10} {'vs 1':>6}")
    single = {}
    for stage, workers, rate in sorted(rows, key=lambda row: (row[0], row[1])):
        single.setdefault(stage, rate)
        if rate <= 0 or single[stage] <= 0:  # start-up noise larger than the epochs
            print(f"{stage:<16} {workers:>7} {'n/a':>10} {'n/a':>6}")
            continue
        print(f"{stage:<16} {workers:>7} {rate:>10.1f} {rate / single[stage]:>5.2f}x")
    print(f"({os.cpu_count()} cores seen; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after: other processes share the cores)")  # fmt: skip


if __name__ == "__main__":
    main()
