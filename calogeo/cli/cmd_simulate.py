"""``calogeo simulate``: parametric showers in any registered geometry, into a native file.

The generator is the model registered as ``gflash`` (the simulation plugin); this command finds
it through the registry, so the core never imports a plugin.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calogeo.distributed.cluster import add_cluster_options, cluster_address
from calogeo.errors import CalogeoError

if TYPE_CHECKING:
    import numpy as np

    from calogeo.showers import Showers

ORDER = 30
GENERATOR = "gflash"
PARTICLE_CHOICES = ("e-", "e+", "gamma", "pi0", "pi+", "pi-")
DRAW_BYTES_PER_PARTICLE = 48  # energy, theta, phi, impact x and y (float64), count (int64)


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulate showers with the parametric generator",
        description="Simulate showers of one particle type in any registered geometry with the "
        "parametric generator (GFlash electromagnetic showers, pi0 -> two photons, charged-pion "
        "showers) and write them to a native shower file. Stored energies are what the read-out "
        "reports: visible energy (sampling fraction x deposit) for sampling layers. With "
        "--multiplicity, each event holds several particles (a bunch, as the positrons of one "
        "LUXE bunch crossing).",
    )
    parser.add_argument("--geometry", required=True, help="registered name or a spec file")
    parser.add_argument("--particle", required=True, choices=PARTICLE_CHOICES)
    parser.add_argument(
        "--energy",
        required=True,
        metavar="GEV|LO:HI",
        help="incident energy in GeV, fixed (10) or a range (2:500, uniform unless --log-uniform); "
        "with --multiplicity, drawn for each particle",
    )
    parser.add_argument(
        "--log-uniform", action="store_true", help="draw energies uniformly in log(E)"
    )
    parser.add_argument(
        "--theta",
        default="0",
        metavar="RAD|LO:HI",
        help="polar angle to the window axis in rad, fixed or a uniform range (default 0); "
        "the azimuth is uniform in [0, 2 pi)",
    )
    parser.add_argument(
        "--multiplicity",
        default=None,
        metavar="N|LO:HI",
        help="particles per event, fixed (100) or drawn uniformly in [LO, HI] (integers >= 1). "
        "Each particle gets its own energy, angles and impact point, drawn uniformly over the "
        "front face of the window less a margin of one Moliere radius of the first layer on "
        "every side (along an axis narrower than two Moliere radii: its centre). The event's "
        "incident energy is the sum; labels: pdg, multiplicity, energy_mean_gev and "
        "energy_rms_gev (mean and standard deviation of the particle energies, GeV) and leakage "
        "(GeV), no per-particle ones. Default: one particle per event, at the geometry's anchor",
    )
    parser.add_argument(
        "-n", "--events", type=int, default=1000, help="number of events (showers or bunches)"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed: the same seed and batch size give the same file (default: drawn, "
        "and printed)",
    )
    parser.add_argument("--batch-size", type=int, default=500, help="events per written batch")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="threads simulating batches while the file is written (default 1); the output "
        "does not depend on it",
    )
    parser.add_argument("--noise-mev", type=float, default=0.0, help="cell noise (visible MeV)")
    threshold = parser.add_mutually_exclusive_group()
    threshold.add_argument(
        "--threshold-mev",
        type=float,
        default=0.0,
        help="zero-suppress cells below this visible energy (MeV)",
    )
    threshold.add_argument(
        "--threshold-mip",
        type=float,
        default=None,
        metavar="N",
        help="zero-suppress cells below N MIPs of their layer (the most probable visible "
        "energy of a minimum-ionising particle, as `calogeo show` prints it)",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.h5")
    add_cluster_options(parser, workers=False)  # --workers stays threads here
    parser.set_defaults(func=run)


def parse_range(text: str, option: str, *, positive: bool) -> tuple[float, float]:
    """``"10"`` -> (10, 10); ``"2:500"`` -> (2, 500); a CalogeoError naming ``option`` else."""
    parts = text.split(":")
    try:
        low, high = (float(parts[0]), float(parts[-1])) if len(parts) <= 2 else (math.nan,) * 2
    except ValueError:
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high)) or high < low:
        msg = f"{option} {text!r}: expected a number or LO:HI with LO <= HI"
        raise CalogeoError(msg)
    if (positive and low <= 0) or low < 0:
        msg = f"{option} {text!r}: must be {'positive' if positive else 'non-negative'}"
        raise CalogeoError(msg)
    return low, high


def parse_multiplicity(text: str) -> tuple[int, int]:
    """``"100"`` -> (100, 100); ``"2:5"`` -> (2, 5); a CalogeoError naming the option else."""
    parts = text.split(":")
    try:
        low, high = (int(parts[0]), int(parts[-1])) if len(parts) <= 2 else (0, 0)
    except ValueError:
        low = high = 0
    if not 1 <= low <= high:
        msg = f"--multiplicity {text!r}: expected a whole number N or LO:HI with 1 <= LO <= HI"
        raise CalogeoError(msg)
    return low, high


def simulate_batches(
    simulator: Any,
    particle: str,
    batches: Iterable[dict[str, np.ndarray]],
    *,
    seed: int,
    workers: int = 1,
    bunches: bool = False,
) -> Iterator[Showers]:
    """Showers for each batch of keyword arguments (``energies``, ``theta``, ``phi``), in order;
    with ``bunches``, events of several particles (``simulate_bunches``, which also takes
    ``counts`` and ``impact_mm``).

    Batch k is simulated by ``simulator.fork(s_k)``, with s_k the k-th child of ``seed``'s
    SeedSequence, so the result does not depend on ``workers``. Batches are simulated by
    ``workers`` threads (the simulator's Numba kernels release the GIL) while the caller
    consumes earlier ones, e.g. writes them; ``workers + 1`` batches are in memory at most.
    """
    import numpy as np

    from calogeo.interrupts import check_interrupted

    seeds = np.random.SeedSequence(seed)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[Showers]] = deque()
        for kwargs in batches:
            check_interrupted()
            forked = simulator.fork(seeds.spawn(1)[0])
            method = forked.simulate_bunches if bunches else forked.simulate
            pending.append(pool.submit(method, particle, **kwargs))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def simulate_to_file(
    simulator: Any,
    path: Path,
    particle: str,
    batches: Iterable[dict[str, np.ndarray]],
    *,
    seed: int,
    workers: int = 1,
    bunches: bool = False,
    progress: Any = None,
    threshold_gev: np.ndarray | None = None,
) -> int:
    """Stream the showers of every batch into a native file at ``path`` (written atomically:
    an error or Ctrl-C leaves no file); returns the number of events. ``bunches``: see
    :func:`simulate_batches`. ``threshold_gev`` (n_layers,): cells below their layer's value
    are set to 0 (visible GeV, after noise, as the simulator's own ``threshold_mev``)."""
    from calogeo.interrupts import check_interrupted
    from calogeo.io import ShowerWriter

    with ShowerWriter(path, simulator.geometry) as writer:
        batched = simulate_batches(
            simulator, particle, batches, seed=seed, workers=workers, bunches=bunches
        )
        for showers in batched:
            check_interrupted()
            if threshold_gev is not None:
                for layer, cut in zip(showers.layers, threshold_gev, strict=True):
                    layer[layer < cut] = 0.0
            writer.append(showers)
            if progress is not None:
                progress.update(len(showers))
        return writer.n_events


def mip_threshold_gev(geometry: Any, threshold_mip: float | None) -> np.ndarray | None:
    """(n_layers,) visible GeV of ``threshold_mip`` MIPs of each layer, or None."""
    if threshold_mip is None:
        return None
    from calogeo.observables import mip_energy_gev

    return threshold_mip * mip_energy_gev(geometry)


def check_batch_memory(
    simulator: Any, args: argparse.Namespace, multiplicity: tuple[int, int] | None
) -> None:
    """Refuse, before drawing anything, batches whose known memory need exceeds what is
    available (e.g. ``--multiplicity 10000000``)."""
    from calogeo.memory import check_memory

    events = min(args.batch_size, args.events)
    particles = events * (1 if multiplicity is None else multiplicity[1])
    per_batch = particles * DRAW_BYTES_PER_PARTICLE
    if hasattr(simulator, "memory_bytes"):
        per_batch += simulator.memory_bytes(particles, events)
    batches = min(args.workers, math.ceil(args.events / args.batch_size))
    check_memory(
        per_batch * batches,
        f"simulating batches of {events} events ({particles:,} particles) with {batches} worker(s)",
        "lower --batch-size, --workers or --multiplicity",
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from calogeo.incident import draw_bunches, draw_particles, impact_ranges
    from calogeo.outputs import check_output
    from calogeo.registry import get_geometry, get_model

    check_output(args.output, [args.geometry])
    energy = parse_range(args.energy, "--energy", positive=True)
    theta = parse_range(args.theta, "--theta", positive=False)
    multiplicity = None if args.multiplicity is None else parse_multiplicity(args.multiplicity)
    for option, value in (
        ("-n", args.events),
        ("--batch-size", args.batch_size),
        ("--workers", args.workers),
    ):
        if value < 1:
            msg = f"{option} {value}: must be at least 1"
            raise CalogeoError(msg)
    if args.seed is not None and args.seed < 0:
        msg = f"--seed {args.seed}: must be a non-negative integer"
        raise CalogeoError(msg)
    if args.noise_mev < 0 or args.threshold_mev < 0 or (args.threshold_mip or 0) < 0:
        msg = "--noise-mev, --threshold-mev and --threshold-mip must be non-negative"
        raise CalogeoError(msg)
    geometry = get_geometry(args.geometry)
    seed = args.seed if args.seed is not None else int(np.random.default_rng().integers(2**32))
    rng = np.random.default_rng([seed, 1])  # energies and angles; the simulator uses ``seed``
    simulator = get_model(GENERATOR).build(
        geometry, seed=seed, noise_mev=args.noise_mev, threshold_mev=args.threshold_mev
    )
    check_batch_memory(simulator, args, multiplicity)
    sizes = (
        min(args.batch_size, args.events - first)
        for first in range(0, args.events, args.batch_size)
    )

    if multiplicity is None:
        batches: Iterator[dict[str, np.ndarray]] = (
            draw_particles(rng, n, energy, theta, log=args.log_uniform) for n in sizes
        )
        unit, what = "shower", f"{args.particle} showers"
    else:
        ranges = impact_ranges(geometry)
        batches = (
            draw_bunches(rng, n, multiplicity, energy, ranges, theta, log=args.log_uniform)
            for n in sizes
        )
        low, high = multiplicity
        unit = "event"
        what = f"events of {low}{'' if low == high else f' to {high}'} {args.particle}"
    address = cluster_address(args, workers_option=False)
    if address is not None:
        from calogeo.cli import _distributed as commands

        return commands.simulate(args, address, simulator, batches, seed, multiplicity is not None)
    start = time.perf_counter()
    with tqdm(
        total=args.events,
        unit=unit,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        desc=f"{args.particle} in {geometry.name}",
    ) as bar:
        simulate_to_file(
            simulator,
            args.output,
            args.particle,
            batches,
            seed=seed,
            workers=args.workers,
            bunches=multiplicity is not None,
            progress=bar,
            threshold_gev=mip_threshold_gev(geometry, args.threshold_mip),
        )
    elapsed = time.perf_counter() - start
    print(
        f"wrote {args.events} {what} on {geometry.name} to {args.output} "
        f"(seed {seed}; {elapsed:.1f} s, {args.events / elapsed:,.0f} {unit}s/s)"
    )
    return 0
