"""Partitioned simulate / resample / convert / evaluate on a Dask LocalCluster of 2 worker
processes: the same events as one process, reruns that skip finished partitions, a killed
worker that costs nothing but time."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from calogeo.cli import main
from calogeo.distributed.ops import evaluate_partitioned, resample_partitioned
from calogeo.distributed.partitions import MANIFEST, read_manifest
from calogeo.errors import CalogeoError
from calogeo.io import read_showers
from calogeo.spec import geometry_from_spec
from calogeo.testing import tungsten_grid_spec

distributed = pytest.importorskip("distributed")

pytestmark = [
    pytest.mark.slow,
    # the workers' shutdown chatter of distributed is no failure of calogeo
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("specs")
    fine, coarse = folder / "fine.toml", folder / "coarse.toml"
    fine.write_text(tungsten_grid_spec("fine", 8, 8))
    coarse.write_text(tungsten_grid_spec("coarse", 4, 3))
    return fine, coarse


def same_events(a: Path, b: Path) -> None:
    x, y = read_showers(a), read_showers(b)
    assert len(x) == len(y)
    assert np.array_equal(x.flat(), y.flat())
    assert np.array_equal(x.incident_energy, y.incident_energy)
    assert sorted(x.labels) == sorted(y.labels)
    for name in x.labels:
        np.testing.assert_array_equal(x.labels[name], y.labels[name], err_msg=name)


@pytest.fixture(scope="module")
def simulated(cluster, specs, tmp_path_factory) -> tuple[Path, Path]:
    """One file from one process, and the same run as partitions on the cluster."""
    folder = tmp_path_factory.mktemp("sim")
    args = ["simulate", "--geometry", str(specs[0]), "--particle", "gamma", "--energy", "5:20"]
    args += ["-n", "230", "--batch-size", "40", "--seed", "11"]
    assert main([*args, "-o", str(folder / "one.h5")]) == 0
    parts = folder / "parts"
    assert main([*args, "--partition-size", "80", "--scheduler", cluster.scheduler_address,
                 "-o", str(parts)]) == 0  # fmt: skip
    return folder / "one.h5", parts


def test_simulate_on_the_cluster_gives_the_one_process_events(simulated):
    one, parts = simulated
    manifest = read_manifest(parts)
    assert sorted(manifest["partitions"]) == [f"part-0000{k}.h5" for k in range(3)]
    assert [p["events"] for _, p in sorted(manifest["partitions"].items())] == [80, 80, 70]
    same_events(one, parts)


def test_resample_convert_evaluate_on_the_cluster(cluster, simulated, specs, tmp_path):
    one, parts = simulated
    address = ["--scheduler", cluster.scheduler_address, "--partition-size", "50"]
    assert main(["resample", str(one), "--to", str(specs[1]), "-o", str(tmp_path / "r.h5")]) == 0
    assert main(["resample", str(parts), "--to", str(specs[1]), *address,
                 "-o", str(tmp_path / "r")]) == 0  # fmt: skip
    same_events(tmp_path / "r.h5", tmp_path / "r")
    assert len(read_manifest(tmp_path / "r")["partitions"]) == 5

    assert main(["convert", str(parts), str(tmp_path / "v1"), "--format-version", "1",
                 *address]) == 0  # fmt: skip
    same_events(one, tmp_path / "v1")

    assert main(["evaluate", str(one), str(tmp_path / "r"), "-o", str(tmp_path / "bad")]) == 1
    assert main(["evaluate", str(one), str(parts), *address, "-o", str(tmp_path / "ev")]) == 0
    result = json.loads((tmp_path / "ev" / "histograms.json").read_text())
    # reduced per-partition histograms and moments: those of the whole table in one process
    local = evaluate_partitioned(one, one, size=1000)
    assert result["observables"].keys() == local["observables"].keys()
    for name, entry in local["observables"].items():
        got = result["observables"][name]
        # edges from reduced moments: equal up to the order of floating-point sums
        span = entry["edges"][-1] - entry["edges"][0]
        assert got["edges"] == pytest.approx(entry["edges"], rel=0, abs=1e-9 * span), name
        assert got["generated"]["counts"] == entry["reference"]["counts"], name
        assert got["generated"]["mean"] == pytest.approx(entry["reference"]["mean"], rel=1e-9)
        assert got["separation_power"] == 0.0


def test_a_rerun_skips_finished_partitions_and_other_settings_are_refused(
    cluster, simulated, specs, tmp_path
):
    _, parts = simulated
    target = geometry_from_spec(specs[1].read_text())
    done = []
    with distributed.Client(cluster) as client:
        resample_partitioned(parts, target, tmp_path / "r", size=60, client=client)
        (tmp_path / "r" / "part-00001.h5").unlink()  # lost, e.g. a full disk cleaned up
        manifest = resample_partitioned(
            parts, target, tmp_path / "r", size=60, client=client,
            progress=lambda part, summary: done.append(part.index),
        )  # fmt: skip
        assert done == [1]
        assert len(manifest["partitions"]) == 4
        with pytest.raises(CalogeoError, match="other settings"):
            resample_partitioned(parts, target, tmp_path / "r", size=61, client=client)


def test_a_worker_killed_mid_resample_costs_no_event(cluster, simulated, specs, tmp_path):
    one, parts = simulated
    target = geometry_from_spec(specs[1].read_text())
    with distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_once(part, summary):
            if not killed:  # the other partitions are running or queued on both workers
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        manifest = resample_partitioned(
            parts, target, tmp_path / "r", size=10, batch_size=5, client=client,
            progress=kill_once,
        )  # fmt: skip
        client.wait_for_workers(2)
    assert killed
    names = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert names == [MANIFEST] + [f"part-{k:05d}.h5" for k in range(23)]  # no partial file
    assert sum(p["events"] for p in manifest["partitions"].values()) == 230
    reference = tmp_path / "one_r.h5"
    assert main(["resample", str(one), "--to", str(specs[1]), "-o", str(reference)]) == 0
    same_events(reference, tmp_path / "r")  # every event once, in order
