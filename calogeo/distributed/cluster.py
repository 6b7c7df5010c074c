"""The Dask cluster a command runs on: ``--scheduler ADDRESS`` (or ``$CALOGEO_SCHEDULER``) for
a running dask.distributed scheduler, ``--workers N`` (or ``--scheduler local:N``) for a local
cluster of N worker processes started for the command and stopped after it."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from calogeo.errors import CalogeoError, MissingDependencyError

__all__ = ["ENV", "add_cluster_options", "cluster_address", "dask_client"]

ENV = "CALOGEO_SCHEDULER"
LOCAL = "local:"
# one thread per worker process: its Numba kernels and BLAS must not fight the other workers
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "CALOGEO_THREADS": "1"}


def add_cluster_options(parser: argparse.ArgumentParser, *, workers: bool = True) -> None:
    """Add ``--scheduler`` and (unless the command has its own) ``--workers`` to a command."""
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help=f"run the work as Dask tasks on this dask.distributed scheduler "
        f"(tcp://host:8786; '{LOCAL}N' starts N local worker processes; default: ${ENV}); "
        "the output is then a directory of partition files with a manifest, read as one "
        "dataset; a rerun skips finished partitions",
    )
    if workers:
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            metavar="N",
            help=f"start a local Dask cluster of N worker processes (same as --scheduler {LOCAL}N)",
        )
    parser.add_argument(
        "--partition-size",
        type=int,
        default=None,
        metavar="EVENTS",
        help="events per partition with --scheduler/--workers (default: 8192, a multiple of "
        "--batch-size)",
    )


def cluster_address(args: argparse.Namespace, *, workers_option: bool = True) -> str | None:
    """The cluster the parsed options ask for: an address, ``local:N``, or None (run as
    before, in this process)."""
    workers = getattr(args, "workers", None) if workers_option else None
    if workers is not None:
        if workers < 1:
            msg = f"--workers {workers}: must be at least 1"
            raise CalogeoError(msg)
        return f"{LOCAL}{workers}"
    return getattr(args, "scheduler", None) or os.environ.get(ENV) or None


@contextmanager
def dask_client(address: str) -> Iterator[Any]:
    """A dask.distributed Client on ``address`` (``local:N`` starts, and at the end stops, a
    local cluster of N single-threaded worker processes)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        msg = "--scheduler/--workers need Dask: pip install 'calogeo[dask]'"
        raise MissingDependencyError(msg) from exc
    if address.startswith(LOCAL):
        try:
            n = int(address[len(LOCAL) :])
        except ValueError:
            n = 0
        if n < 1:
            msg = f"scheduler {address!r}: expected {LOCAL}N with N >= 1 workers"
            raise CalogeoError(msg)
        with (
            LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                env=WORKER_ENV,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(address, timeout="10s")
    except OSError as exc:
        msg = f"cannot reach the Dask scheduler at {address}: {exc}"
        raise CalogeoError(msg) from exc
    with client:
        yield client
