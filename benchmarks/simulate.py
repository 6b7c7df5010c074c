"""Speed of the parametric simulator on one core, and what writing the native file adds.

Targets (issue 4), measured in one run on one core (Numba single-threaded, one process):
- 50 GeV photons in the CLIC 25x25x25 window (``clic_ecal_rec``): >= 1,000 showers/s
  (GEANT4 takes about 17 s per shower there, Belayneh et al., EPJC 80 (2020) 688, Sect. 3);
- 50 GeV charged pions in the ILD AHCAL 25x25x48 window (``ild_ahcal``): >= 200 showers/s;
- writing the showers to the native file (``ShowerWriter``, default filter) costs at most 20%
  of the simulation time: measured as the wall time ``calogeo simulate``'s pipeline adds to
  the simulation (it writes one batch while a worker thread simulates the next, which helps
  only when a second core is free), and, for the CPU it takes, writing alone.

    python benchmarks/simulate.py [-n 3000] [--batch 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
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


def best_time(func, repeat: int) -> float:  # type: ignore[no-untyped-def]
    """Shortest wall time of ``repeat`` calls (s)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def run_case(
    particle: str, geometry_name: str, energy: float, n: int, batch: int, repeat: int
) -> dict[str, float]:
    """Seconds for ``n`` showers in batches: simulation alone, writing alone (the same showers
    through ``ShowerWriter``), and both as ``calogeo simulate`` runs them (writing overlapped
    with the simulation of the next batch)."""
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
    parser.add_argument("-n", type=int, default=3000, help="showers per case")
    parser.add_argument("--batch", type=int, default=500, help="showers per simulate() call")
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions (best kept)")
    args = parser.parse_args()
    numba.set_num_threads(1)
    print(f"one core (numba threads: {numba.get_num_threads()}), {args.n} showers per case, "
          f"batches of {args.batch}, best of {args.repeat}")  # fmt: skip
    for particle, geometry_name, energy, target in CASES:
        times = run_case(particle, geometry_name, energy, args.n, args.batch, args.repeat)
        simulate_s = times["simulate"]
        rate = args.n / simulate_s
        shapes = "x".join(str(s) for s in get_geometry(geometry_name).shapes[0])
        layers = get_geometry(geometry_name).n_layers
        print(
            f"{energy:g} GeV {particle}, {geometry_name} {shapes}x{layers}: {rate:,.0f} showers/s "
            f"on 1 core (target >= {target:,.0f}: ratio {rate / target:.2f})"
        )
        if particle == "gamma":
            print(
                f"  vs GEANT4 ({GEANT4_S_PER_SHOWER:g} s/shower): {rate * GEANT4_S_PER_SHOWER:,.0f}x faster"
            )
        added = (times["pipeline"] - simulate_s) / simulate_s
        print(
            f"  calogeo simulate pipeline (simulate + write, overlapped): {times['pipeline']:.3f} s "
            f"for {simulate_s:.3f} s of simulation: writing adds {added:.1%} wall time "
            f"(target <= {WRITE_TARGET:.0%}: {'met' if added <= WRITE_TARGET else 'MISSED'})"
        )
        per_shower = times["write"] / args.n
        print(
            f"  writing alone (not overlapped): {times['write']:.3f} s = "
            f"{times['write'] / simulate_s:.1%} of the simulation time; "
            f"{per_shower * 1e3:.3f} ms/shower = {per_shower * target:.1%} of the "
            f"{1e3 / target:g} ms a shower may take at the target rate"
        )


if __name__ == "__main__":
    main()
