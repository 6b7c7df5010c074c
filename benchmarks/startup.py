"""Start-up time of the command line, and what the on-disk Numba cache saves a second run.

Targets (issue 11, item 1; item 4's cache), measured in one run, as a user runs the commands
(fresh interpreters, the ``calogeo`` script next to this Python):
- ``calogeo --help`` and ``calogeo list geometries`` under 0.5 s, ``calogeo show atlas`` under
  1 s (best of ``--repeat`` wall times; printed as time / target, so < 1 meets it);
- ``python -X importtime`` of each: the heaviest top-level packages by import time, and whether
  scipy, torch, matplotlib or numba were imported at all;
- a small ``calogeo simulate`` (and ``calogeo resample`` of its output) run twice against a fresh
  ``NUMBA_CACHE_DIR``: the first run compiles every kernel it calls and saves it, the second
  loads them (``NUMBA_DEBUG_CACHE`` counts both), so it starts without compiling.

    python benchmarks/startup.py [--repeat 5] [-n 200]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

COMMANDS = (
    # label, arguments after ``calogeo``, target (s)
    ("calogeo --help", ["--help"], 0.5),
    ("calogeo list geometries", ["list", "geometries"], 0.5),
    ("calogeo show atlas", ["show", "atlas"], 1.0),
)
HEAVY = ("scipy", "torch", "matplotlib", "numba", "h5py")


def calogeo_command() -> list[str]:
    """The ``calogeo`` script installed with this Python, else ``python -m calogeo``."""
    script = Path(sys.executable).with_name("calogeo")
    return [str(script)] if script.exists() else [sys.executable, "-m", "calogeo"]


def wall_time(argv: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    """Shortest wall time of ``repeat`` runs of ``argv`` (s); output is discarded."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
        best = min(best, time.perf_counter() - start)
    return best


def import_profile(code: str) -> tuple[float, dict[str, float], set[str]]:
    """``python -X importtime -c code``: total import time (s), self time per top-level package
    (s) and the top-level packages imported."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    per_package: dict[str, float] = defaultdict(float)
    total = 0.0
    for line in err.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not match:
            continue
        self_us, cumulative_us, indent, name = match.groups()
        per_package[name.split(".")[0]] += int(self_us) * 1e-6
        if len(indent) == 1:  # imported by the code itself
            total += int(cumulative_us) * 1e-6
    return total, dict(per_package), set(per_package)


def startup(repeat: int) -> None:
    command = calogeo_command()
    print(f"start-up, best of {repeat} wall times ({' '.join(command)} ...)")
    print(f"{'command':<26} {'time s':>7} {'target s':>9} {'ratio':>6}  heavy imports")
    base = wall_time([sys.executable, "-c", "pass"], repeat)
    t = wall_time([sys.executable, "-c", "import calogeo"], repeat)
    _, _, packages = import_profile("import calogeo")
    heavy = ", ".join(m for m in HEAVY if m in packages) or "none"
    print(f"{'python -c pass':<26} {base:7.3f}")
    print(f"{'python -c import calogeo':<26} {t:7.3f} {'':>9} {'':>6}  {heavy}")
    for label, args, target in COMMANDS:
        t = wall_time([*command, *args], repeat)
        code = f"import sys; sys.argv = ['calogeo', *{args!r}]\nfrom calogeo.cli import main\n"
        code += "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass"
        _, _, packages = import_profile(code)
        heavy = ", ".join(m for m in HEAVY if m in packages) or "none"
        print(f"{label:<26} {t:7.3f} {target:9.1f} {t / target:6.2f}  {heavy}")
    print()
    for label, args, _ in COMMANDS[1:]:
        code = f"from calogeo.cli import main\nmain({args!r})"
        total, per_package, _ = import_profile(code)
        top = sorted(per_package.items(), key=lambda kv: -kv[1])[:6]
        summary = ", ".join(f"{name} {seconds * 1e3:.0f}" for name, seconds in top)
        print(f"importtime {label}: {total:.3f} s in imports; heaviest (ms): {summary}")


def cache_counts(stderr: str) -> tuple[int, int]:
    """(kernels compiled and saved, kernels loaded) from ``NUMBA_DEBUG_CACHE`` output."""
    return stderr.count("[cache] data saved"), stderr.count("[cache] data loaded")


def numba_cache(n: int) -> None:
    command = calogeo_command()
    work = Path(tempfile.mkdtemp(prefix="calogeo-startup-"))
    env = {
        **os.environ,
        "NUMBA_CACHE_DIR": str(work / "numba"),
        "NUMBA_DEBUG_CACHE": "1",
        "CALOGEO_CACHE_DIR": str(work / "weights"),
    }
    sim = work / "sim.h5"
    runs = {
        f"calogeo simulate -n {n} (clic_ecal_rec, 50 GeV gamma)": [
            *command,
            "simulate",
            "--geometry",
            "clic_ecal_rec",
            "--particle",
            "gamma",
            "--energy",
            "50",
            "-n",
            str(n),
            "--seed",
            "1",
            "-o",
            str(sim),
        ],
        "calogeo resample --to atlas --no-cache": [
            *command,
            "resample",
            str(sim),
            "--to",
            "atlas",
            "--no-cache",
            "-o",
            str(work / "atlas.h5"),
        ],
    }
    print(f"\nNumba kernels cached on disk (fresh NUMBA_CACHE_DIR in {work})")
    print(f"{'command':<52} {'1st s':>6} {'2nd s':>6} {'2nd/1st':>7}  kernels compiled 1st/2nd")
    try:
        for label, argv in runs.items():
            times, compiled = [], []
            for _ in range(2):
                start = time.perf_counter()
                done = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
                times.append(time.perf_counter() - start)
                compiled.append(cache_counts(done.stdout + done.stderr)[0])
            print(
                f"{label:<52} {times[0]:6.2f} {times[1]:6.2f} {times[1] / times[0]:7.2f}  "
                f"{compiled[0]}/{compiled[1]}"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="wall-time repeats (best of)")
    parser.add_argument("-n", type=int, default=200, help="showers for the cache runs")
    args = parser.parse_args()
    startup(args.repeat)
    numba_cache(args.n)


if __name__ == "__main__":
    main()
