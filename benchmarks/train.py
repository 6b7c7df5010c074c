"""Training throughput of every reconstruction model, in showers per second, against the target
of 200 showers/s for the small presets on ``clic_ecal_rec`` on 2 cores.

Showers are gamma and pi0 showers (30-150 GeV) simulated in this run by the registered
``gflash`` generator on ``clic_ecal_rec`` (the 25x25x25 CLIC REC window, Belayneh et al.
Sect. 2), optionally resampled to other geometries (``--geometries``). For every registered
reconstruction model (small preset, ``--task``) the script times ``--epochs`` training epochs
after a one-step warm-up (view building, normalisation, forward, backward, optimiser) and one
``predict`` pass. The machine may be shared, so besides wall-clock showers/s it prints the CPU
time per shower and the 2-core rate that CPU time allows (2 cores / CPU time per shower, the
rate on 2 idle cores if the threads scale, from runs on 1 and on 2 threads), and a plain
matrix-product reference measured in the same run.

The second table measures oversubscription: the same model's epoch alone, then with one
CPU-bound process started by this script, with the thread count chosen by calogeo (the cores
free, :func:`calogeo.device.available_cores`) and forced to every usable core (torch's default).
Target: throughput drops no more than in proportion to the cores the other process takes.

    python benchmarks/train.py [-n 128] [--models cnn3d,dnn] [--epochs 1] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from calogeo import Showers, get_geometry, get_model, list_models
from calogeo.device import available_cores, busy_cores, usable_cores
from calogeo.errors import CalogeoError
from calogeo.reconstruction import ReconstructionModel, TorchModel
from calogeo.resample import Resampler

ENERGY_GEV = (30.0, 150.0)
TARGET_PER_S = 200.0
TARGET_CORES = 2


def simulate(n: int, seed: int) -> Showers:
    """``n`` gamma and ``n`` pi0 showers on clic_ecal_rec."""
    geometry = get_geometry("clic_ecal_rec")
    rng = np.random.default_rng(seed)
    parts = [
        get_model("gflash")
        .build(geometry, seed=seed + k)
        .generate(rng.uniform(*ENERGY_GEV, n), particle=particle)
        for k, particle in enumerate(("gamma", "pi0"))
    ]
    return Showers.concatenate(parts)


def reconstruction_models() -> list[str]:
    """Names of every registered reconstruction model."""
    return sorted(e.name for e in list_models() if issubclass(e.load(), ReconstructionModel))


def matmul_gflops(threads: int, seconds: float = 0.5) -> float:
    """A matmul-bound reference: float32 512^3 products on ``threads`` torch threads, GFLOP/s."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.rand(512, 512), torch.rand(512, 512)
    a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    elapsed = time.perf_counter() - start
    torch.set_num_threads(before)
    return 2 * 512**3 * count / elapsed / 1e9


def timed_fit(model: Any, showers: Showers, **options: Any) -> tuple[float, float]:
    """(wall s, CPU s of this process) of ``model.fit(showers, **options)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(showers, **options)
    return time.perf_counter() - wall, time.process_time() - cpu


def train_rate(
    name: str, showers: Showers, args: argparse.Namespace, threads: int | None
) -> dict[str, float]:
    """Training (and inference) rates of model ``name``'s small preset on ``showers`` (task
    ``--task``, or regress for a model that only regresses)."""
    try:
        model = get_model(name).build(showers.geometry, size="small", task=args.task)
    except CalogeoError:
        model = get_model(name).build(showers.geometry, size="small", task="regress")
    if not isinstance(model, TorchModel):
        wall, cpu = timed_fit(model, showers)
        return {"wall": wall, "cpu": cpu, "epochs": 1, "infer": infer_rate(model, showers, args)}
    options = {
        "val": showers[:: max(1, len(showers) // 8)],
        "batch_size": args.batch,
        "device": args.device,
        "progress": False,
        "threads": threads,
        "patience": args.epochs,
    }
    timed_fit(model, showers, epochs=1, max_steps=1, **options)  # warm-up: oneDNN kernels
    wall, cpu = timed_fit(model, showers, epochs=args.epochs, **options)
    epochs = len(model.history)
    return {"wall": wall, "cpu": cpu, "epochs": epochs, "infer": infer_rate(model, showers, args)}


def infer_rate(model: Any, showers: Showers, args: argparse.Namespace) -> float:
    """Showers/s of one ``predict`` pass."""
    start = time.perf_counter()
    if isinstance(model, TorchModel):
        model.predict(showers, device=args.device, batch_size=256)
    else:
        model.predict(showers)
    return len(showers) / (time.perf_counter() - start)


@contextmanager
def cpu_hog() -> Iterator[None]:
    """One CPU-bound process running while the context is open."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it reach the run queue
        yield
    finally:
        hog.kill()
        hog.wait()


def throughput_table(versions: dict[str, Showers], args: argparse.Namespace) -> None:
    """Every model's training rate against the target, on 1 and on ``TARGET_CORES`` threads.

    On 2 idle cores the rate lies between two bounds computed from the CPU time per shower:
    2 cores / (CPU time on 1 thread), reached if 2 threads scale perfectly, and 2 cores / (CPU
    time on 2 threads), which counts what threads waste waiting for each other (spinning), and
    on a loaded machine also the waits for a thread that another process holds off its core.
    """
    print(
        f"\ntraining, small presets, task {args.task}; target {TARGET_PER_S:.0f} showers/s on "
        f"clic_ecal_rec on {TARGET_CORES} cores: 'met' if both bounds reach it, '~met' if the "
        "1-thread one does"
    )
    print(
        f"{'model':<12} {'geometry':<14} {'train/s':>8} {'cores':>6} {'ms@1':>6} "
        f"{'ms@' + str(TARGET_CORES):>6} {'2-core/s':>10} {'target':>7} {'infer/s':>8} "
        f"{'ref GF/s':>9}"
    )
    for name in args.models.split(",") if args.models else reconstruction_models():
        for geometry, data in versions.items():
            reference = matmul_gflops(TARGET_CORES)
            runs = [train_rate(name, data, args, t) for t in (1, TARGET_CORES)]
            cpu_ms = [1000 * r["cpu"] / (len(data) * r["epochs"]) for r in runs]
            low, high = sorted(TARGET_CORES * 1000 / ms for ms in cpu_ms)
            verdict = ""
            if geometry == "clic_ecal_rec":
                verdict = (
                    "met" if low >= TARGET_PER_S else "~met" if high >= TARGET_PER_S else "MISSED"
                )
            r = runs[-1]
            print(
                f"{name:<12} {geometry:<14} {len(data) * r['epochs'] / r['wall']:8.0f} "
                f"{r['cpu'] / r['wall']:6.2f} {cpu_ms[0]:6.2f} {cpu_ms[1]:6.2f} "
                f"{f'{low:.0f}-{high:.0f}':>10} {verdict:>7} {r['infer']:8.0f} {reference:9.1f}",
                flush=True,
            )


def contention_table(showers: Showers, args: argparse.Namespace) -> None:
    """One model's epoch alone and beside a CPU-bound process, with calogeo's and torch's
    default thread counts; the rounds alternate so that a change of load hits every case."""
    usable = usable_cores()
    cases = {
        "alone, calogeo threads": (False, None),
        "+1 CPU-bound, calogeo threads": (True, None),
        f"+1 CPU-bound, {usable} threads (torch default)": (True, usable),
    }
    rates: dict[str, list[float]] = {case: [] for case in cases}
    refs: dict[str, list[float]] = {case: [] for case in cases}
    chosen: dict[str, list[int]] = {case: [] for case in cases}
    for _ in range(args.rounds):
        for case, (hog, threads) in cases.items():
            with cpu_hog() if hog else _nothing():
                chosen[case].append(threads or available_cores())
                refs[case].append(matmul_gflops(1, 0.3))
                r = train_rate(args.contend, showers, args, threads)
                rates[case].append(len(showers) * r["epochs"] / r["wall"])
    alone = float(np.median(rates["alone, calogeo threads"]))
    ref_alone = float(np.median(refs["alone, calogeo threads"]))
    floor = (usable - 1) / usable
    print(
        f"\n{args.contend} beside one CPU-bound process ({usable} usable cores: it takes "
        f"1/{usable}, so the target is >= {floor:.2f} of the rate alone); median of "
        f"{args.rounds} alternating rounds"
    )
    print(f"{'case':<44} {'threads':>8} {'train/s':>8} {'ratio':>6} {'ref ratio':>10}")
    for case in cases:
        rate = float(np.median(rates[case]))
        ref = float(np.median(refs[case])) / ref_alone
        threads = ",".join(str(t) for t in chosen[case])
        print(f"{case:<44} {threads:>8} {rate:8.1f} {rate / alone:6.2f} {ref:10.2f}")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--events", type=int, default=128, help="showers per particle")
    parser.add_argument("--models", default="", help="comma-separated names (default: all)")
    parser.add_argument("--geometries", default="clic_ecal_rec", help="e.g. clic_ecal_rec,atlas")
    parser.add_argument("--task", default="classify", choices=("classify", "regress", "both"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64, help="training batch size")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--contend", default="googlenet3d", help="model of the second table")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the second table")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"load average {load}; {usable_cores()} usable cores, {busy_cores()} busy with other "
        f"processes, {available_cores()} free"
    )
    start = time.perf_counter()
    showers = simulate(args.events, args.seed)
    print(f"simulated {len(showers)} showers in {time.perf_counter() - start:.1f} s")
    versions = {"clic_ecal_rec": showers}
    for name in args.geometries.split(","):
        if name != "clic_ecal_rec":
            versions[name] = Resampler(showers.geometry, get_geometry(name)).apply(showers)
    throughput_table(versions, args)
    if args.rounds > 0:
        contention_table(showers, args)


if __name__ == "__main__":
    main()
