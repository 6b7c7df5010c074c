"""Speed of ``calogeo evaluate --metrics histograms`` on two CaloChallenge dataset-2 files.

Target (issue 10, finding 9): 2,000 + 2,000 showers on ``calochallenge_2`` (6480 cells in 45
layers) evaluated in under 10 s on one core, the observables computed once per file. The
showers are simulated in this run by the registered ``gflash`` generator (electrons,
log-uniform 1 GeV - 1 TeV as in dataset 2; reference and "generated" with two seeds), written
to native files, then the command runs as a fresh process with every thread pool limited to one
thread. Its CPU time (user + system, one core) is compared with the target and, since a shared
machine stretches wall time, with the CPU time of a process that only imports calogeo and
reads the two files, measured in the same run. A profile of the command's phases follows.

    python benchmarks/evaluate.py [-n 2000] [--repeat 2] [--keep DIR]
"""

from __future__ import annotations

import os

ONE_THREAD = {
    name: "1"
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
}
os.environ.update(ONE_THREAD)  # before numpy is imported, here and in the child processes

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from calogeo import get_model, write_showers

GEOMETRY = "calochallenge_2"
TARGET_S = 10.0
READ = "import sys; from calogeo import read_showers; [read_showers(p) for p in sys.argv[1:]]"
CLI = "import sys; from calogeo.cli import main; sys.exit(main(sys.argv[1:]))"


def simulate(path: Path, n: int, seed: int) -> None:
    """``n`` electrons, log-uniform 1-1000 GeV, on the dataset-2 geometry, into ``path``."""
    rng = np.random.default_rng(seed)
    energies = np.exp(rng.uniform(0.0, np.log(1000.0), n))
    simulator = get_model("gflash")(GEOMETRY, seed=seed)
    write_showers(path, simulator.simulate("e-", energies))


def child_seconds(args: list[str]) -> tuple[float, float]:
    """(CPU seconds user + system, wall seconds) of ``python -c ARGS...`` run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", *args], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def best(args: list[str], repeat: int) -> tuple[float, float]:
    runs = [child_seconds(args) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def phases(reference: Path, generated: Path, out: Path) -> dict[str, float]:
    """CPU seconds of each phase of the evaluation, in this process (imports excluded)."""
    from calogeo import observables, read_showers
    from calogeo.cli import main

    clock = time.process_time
    t = clock()
    ref, gen = read_showers(reference), read_showers(generated)
    times = {"read both files": clock() - t}
    t = clock()
    for showers in (ref, gen):
        observables.table(showers)
    times["observable tables (2 files)"] = clock() - t
    calls: list[int] = []
    table = observables.table

    def counting(showers, **options):  # type: ignore[no-untyped-def]
        calls.append(len(showers))
        return table(showers, **options)

    observables.table = counting  # type: ignore[assignment]
    t = clock()
    try:
        main(
            ["evaluate", str(reference), str(generated), "--metrics", "histograms", "-o", str(out)]
        )
    finally:
        observables.table = table  # type: ignore[assignment]
    times["whole command (in process)"] = clock() - t
    times["observable tables computed"] = float(len(calls))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="showers per file (default 2000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each command (best)")
    parser.add_argument("--keep", type=Path, default=None, help="simulate into / reuse DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        reference, generated = folder / f"ds2_ref_{args.n}.h5", folder / f"ds2_gen_{args.n}.h5"
        for path, seed in ((reference, 1), (generated, 2)):
            if not path.exists():
                start = time.perf_counter()
                simulate(path, args.n, seed)
                print(f"simulated {path.name}: {time.perf_counter() - start:.1f} s")
        files = [str(reference), str(generated)]
        out = Path(tmp) / "evaluation"
        evaluate = [CLI, "evaluate", *files, "--metrics", "histograms", "-o", str(out)]
        read_cpu, read_wall = best([READ, *files], args.repeat)
        eval_cpu, eval_wall = best(evaluate, args.repeat)
        print(
            f"calogeo evaluate --metrics histograms, {args.n} + {args.n} showers on {GEOMETRY} "
            f"(one thread, best of {args.repeat}):"
        )
        print(f"  evaluate: {eval_cpu:.2f} s CPU ({eval_wall:.2f} s wall)")
        print(f"  import + read both files: {read_cpu:.2f} s CPU ({read_wall:.2f} s wall)")
        print(
            f"  evaluate / read = {eval_cpu / read_cpu:.2f} (CPU), {eval_wall / read_wall:.2f} (wall)"
        )
        verdict = "meets" if eval_cpu < TARGET_S else "misses"
        print(
            f"  CPU time / target {TARGET_S:g} s = {eval_cpu / TARGET_S:.2f}: {verdict} the target"
        )
        print("phases (CPU seconds, this process):")
        for name, value in phases(reference, generated, Path(tmp) / "phases").items():
            print(f"  {name:30s} {value:8.2f}")


if __name__ == "__main__":
    main()
