"""Speed of the parametric simulator on one core, end to end through ``calogeo simulate``, and
what writing the native file adds.

Targets (issues 4 and 11), measured in one run on one core (Numba single-threaded):
- 50 GeV photons in the CLIC 25x25x25 window (``clic_ecal_rec``): >= 1,000 showers/s through
  the command line, writing included: ``calogeo simulate --geometry clic_ecal_rec --particle
  gamma --energy 50 -n N -o f.h5`` run as a user runs it (GEANT4 takes about 17 s per shower
  there, Belayneh et al., EPJC 80 (2020) 688, Sect. 3);
- 50 GeV charged pions in the ILD AHCAL 25x25x48 window (``ild_ahcal``): >= 200 showers/s;
- writing the showers to the native file costs at most 20% of the simulation: the time
  ``calogeo simulate``'s pipeline (``simulate_to_file``: a worker thread simulates the next
  batch while the file is written) adds to the simulation alone, and writing alone.

Other work on the machine slows wall times, so each is printed with the CPU time the process
used (its threads together) and the load average: on a shared machine the CPU-time ratios are
the ones to read.

    python benchmarks/simulate.py [-n 3000] [--cli-n 10000] [--batch 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from calogeo import ShowerWriter, get_geometry, get_model
from calogeo.cli.cmd_simulate import simulate_to_file

GEANT4_S_PER_SHOWER = 17.0  # CLIC ECAL, Belayneh et al. (2020), Sect. 3
CASES = (
    # particle, geometry, energy GeV, target showers/s
    ("gamma", "clic_ecal_rec", 50.0, 1000.0),
    ("pi+", "ild_ahcal", 50.0, 200.0),
)
WRITE_TARGET = 0.20


def best_time(func: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Shortest wall time and shortest CPU time (this process, all threads) of ``repeat``
    calls, in s."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        func()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def run_cli(n: int, repeat: int) -> dict[str, float]:
    """``calogeo simulate`` of ``n`` 50 GeV photons in ``clic_ecal_rec`` as a subprocess on
    one Numba thread: best wall time of the whole command, its CPU time, and the rate the
    command prints (simulation and writing, without the start-up)."""
    best: dict[str, float] = {}
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "calogeo", "simulate", "--geometry", "clic_ecal_rec"]
        argv += ["--particle", "gamma", "--energy", "50", "--seed", "1"]
        subprocess.run([*argv, "-n", "100", "-o", f"{tmp}/warm.h5"], check=True, env=env,
                       capture_output=True)  # fmt: skip
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            done = subprocess.run(
                [*argv, "-n", str(n), "-o", f"{tmp}/f.h5"],
                check=True,
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            rate = re.search(r"([\d,]+) showers/s", done.stdout)
            printed = float(rate.group(1).replace(",", "")) if rate else float("nan")
            if wall < best.get("wall", float("inf")):
                best = {"wall": wall, "cpu": cpu, "printed": printed}
    return best


def run_case(
    particle: str, geometry_name: str, energy: float, n: int, batch: int, repeat: int
) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds for ``n`` showers in batches: simulation alone, writing alone (the
    same showers through ``ShowerWriter``), and both as ``calogeo simulate`` runs them."""
    geometry = get_geometry(geometry_name)
    simulator = get_model("gflash").build(geometry, seed=1)
    simulator.simulate(particle, np.full(8, energy))  # compile and warm the caches
    batches = [{"energies": np.full(min(batch, n - f), energy)} for f in range(0, n, batch)]

    def simulate_all() -> list:  # type: ignore[type-arg]
        return [simulator.simulate(particle, **kwargs) for kwargs in batches]

    times = {"simulate": best_time(simulate_all, repeat)}
    showers = simulate_all()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"

        def write_all() -> None:
            with ShowerWriter(path, geometry) as writer:
                for part in showers:
                    writer.append(part)

        times["write"] = best_time(write_all, repeat)
        times["pipeline"] = best_time(
            lambda: simulate_to_file(simulator, path, particle, batches, seed=1), repeat
        )
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000, help="showers per in-process case")
    parser.add_argument("--cli-n", type=int, default=10000, help="showers of the CLI run")
    parser.add_argument("--batch", type=int, default=500, help="showers per simulate() call")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best kept)")
    args = parser.parse_args()
    numba.set_num_threads(1)
    print(
        f"one core (numba threads: {numba.get_num_threads()}), best of {args.repeat}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start"
    )
    target = CASES[0][3]
    cli = run_cli(args.cli_n, args.repeat)
    whole = args.cli_n / cli["wall"]
    print(
        f"calogeo simulate --geometry clic_ecal_rec --particle gamma --energy 50 "
        f"-n {args.cli_n} -o f.h5 (target >= {target:,.0f} showers/s):\n"
        f"  as printed (simulation + writing): {cli['printed']:,.0f} showers/s, ratio "
        f"{cli['printed'] / target:.2f}\n"
        f"  whole command with start-up: {cli['wall']:.2f} s wall = {whole:,.0f} showers/s "
        f"(ratio {whole / target:.2f}); {cli['cpu']:.2f} s CPU = "
        f"{args.cli_n / cli['cpu']:,.0f} showers per CPU second (ratio "
        f"{args.cli_n / cli['cpu'] / target:.2f})"
    )
    print(f"in process, {args.n} showers per case, batches of {args.batch}:")
    for particle, geometry_name, energy, rate_target in CASES:
        times = run_case(particle, geometry_name, energy, args.n, args.batch, args.repeat)
        (sim_wall, sim_cpu), (pipe_wall, pipe_cpu) = times["simulate"], times["pipeline"]
        write_wall, write_cpu = times["write"]
        rate = args.n / sim_wall
        geometry = get_geometry(geometry_name)
        shapes = "x".join(str(s) for s in geometry.shapes[0])
        print(
            f"{energy:g} GeV {particle}, {geometry_name} {shapes}x{geometry.n_layers}: "
            f"{rate:,.0f} showers/s wall, {args.n / sim_cpu:,.0f} per CPU second "
            f"(target >= {rate_target:,.0f}: ratios {rate / rate_target:.2f}, "
            f"{args.n / sim_cpu / rate_target:.2f})"
        )
        if particle == "gamma":
            print(
                f"  vs GEANT4 ({GEANT4_S_PER_SHOWER:g} s/shower): "
                f"{rate * GEANT4_S_PER_SHOWER:,.0f}x faster"
            )
        added_wall = (pipe_wall - sim_wall) / sim_wall
        added_cpu = (pipe_cpu - sim_cpu) / sim_cpu
        print(
            f"  calogeo simulate pipeline (simulate + write, overlapped): writing adds "
            f"{added_wall:.1%} wall time, {added_cpu:.1%} CPU time (target <= "
            f"{WRITE_TARGET:.0%}: ratios {added_wall / WRITE_TARGET:.2f}, "
            f"{added_cpu / WRITE_TARGET:.2f})"
        )
        print(
            f"  writing alone: {write_wall / sim_wall:.1%} of the simulation's wall time, "
            f"{write_cpu / sim_cpu:.1%} of its CPU time; {write_cpu / args.n * 1e3:.3f} ms "
            f"CPU/shower"
        )


if __name__ == "__main__":
    main()
