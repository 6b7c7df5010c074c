"""Helpers of the reliability tests: small files, and the command line run in a subprocess
(with a file-size limit standing in for a full disk, or signals sent to it)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from calogeo.io import write_showers
from calogeo.spec import geometry_from_spec
from calogeo.testing import blob_showers, tungsten_grid_spec

CALOGEO = [sys.executable, "-m", "calogeo"]


def spec_file(folder: Path, name: str = "tiny", n: int = 6, layers: int = 3) -> Path:
    """A small tungsten grid spec written to ``folder/<name>.toml``."""
    path = folder / f"{name}.toml"
    path.write_text(tungsten_grid_spec(name, n, layers))
    return path


def shower_file(folder: Path, events: int = 50, name: str = "showers.h5", **options) -> Path:
    """``events`` toy showers on the tiny geometry written to ``folder/name``."""
    geometry = geometry_from_spec(tungsten_grid_spec("tiny"))
    path = folder / name
    write_showers(path, blob_showers(geometry, events), **options)
    return path


def run_cli(
    *args: str | Path,
    cwd: Path,
    fsize_bytes: int | None = None,
    as_bytes: int | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``calogeo ARGS`` in a subprocess; ``fsize_bytes`` caps the size of any file it writes
    (RLIMIT_FSIZE: a write beyond fails with EFBIG, as on a full disk), ``as_bytes`` its
    address space (RLIMIT_AS)."""

    def limit() -> None:
        if fsize_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_bytes, fsize_bytes))
        if as_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))

    return subprocess.run(
        [*CALOGEO, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit,
        check=False,
    )


def start_cli(*args: str | Path, cwd: Path) -> subprocess.Popen[str]:
    """``calogeo ARGS`` started in a subprocess (for sending it signals)."""
    return subprocess.Popen(
        [*CALOGEO, *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_partial(folder: Path, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Wait until ``process`` has created a partial file in ``folder`` (it is writing)."""
    end = time.monotonic() + timeout
    while not list(folder.glob("*.partial-*")):
        if process.poll() is not None or time.monotonic() > end:
            _, err = process.communicate()
            msg = f"no partial file appeared (rc {process.returncode}): {err[-2000:]}"
            raise AssertionError(msg)
        time.sleep(0.01)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """rc 1 and a single line on stderr (no traceback) holding every needle."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    assert len(lines) == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def leftovers(folder: Path) -> list[str]:
    """Names of partial files or folders in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


def dead_pid() -> int:
    """The pid of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    pid = process.pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return pid
    return 2**22 + 12345  # beyond the default pid_max
