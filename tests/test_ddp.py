"""calogeo.ddp: rank shards, and ``torchrun --nproc-per-node 2`` training (gloo, CPU) whose
checkpoint loads in one process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from calogeo import ddp
from calogeo.checkpoint import load_model
from calogeo.io import read_showers, write_showers
from calogeo.registry import get_model
from calogeo.showers import Showers
from calogeo.spec import geometry_from_spec
from calogeo.streams import train_val_streams
from calogeo.testing import tungsten_grid_spec


def test_shards_of_the_ranks_cover_the_stream_once(monkeypatch):
    geo = geometry_from_spec(tungsten_grid_spec("g", 3, 2))
    n = 1500
    showers = Showers.from_flat(
        geo, np.arange(n * geo.n_cells, dtype=np.float32).reshape(n, -1), np.ones(n)
    )
    train, _ = train_val_streams(showers, val_fraction=0.2, seed=1)
    seen = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        shard = ddp.shard(train)
        seen.append(np.concatenate([b.flat()[:, 0] for b in shard.batches(100)]))
    assert abs(len(seen[0]) - len(seen[1])) <= ddp.SHARD_EVENTS
    both = np.concatenate(seen)
    everything = np.concatenate([b.flat()[:, 0] for b in train.batches(100)])
    assert np.array_equal(np.sort(both), np.sort(everything))


def simulated(tmp_path: Path, particle: str, seed: int) -> Path:
    geo = geometry_from_spec(tungsten_grid_spec("g", 6, 6))
    simulator = get_model("gflash").build(geo, seed=seed)
    energies = np.random.default_rng(seed).uniform(5, 20, 160)
    path = tmp_path / f"{particle}.h5"
    write_showers(path, simulator.generate(energies, particle=particle))
    return path


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed")
def test_torchrun_two_processes_write_a_checkpoint_one_process_loads(tmp_path):
    data = [simulated(tmp_path, "gamma", 1), simulated(tmp_path, "pi0", 2)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CALOGEO_THREADS": "1"}
    common = ["train", "dnn", "--data", *map(str, data), "--size", "small", "--epochs", "2"]
    common += ["--device", "cpu", "--batch-size", "32"]
    torchrun = Path(sys.executable).with_name("torchrun")
    run = subprocess.run(
        [str(torchrun), "--nproc-per-node", "2", "-m", "calogeo", *common,
         "-o", str(tmp_path / "ddp.pt")],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "2 processes (DistributedDataParallel)" in run.stderr
    assert run.stdout.count("wrote ") == 1  # rank 0 alone writes
    model = load_model(tmp_path / "ddp.pt")
    assert [row["epoch"] for row in model.history] == [1, 2]
    assert np.isfinite(model.history[-1]["val_auc"])
    test = read_showers(data[0])
    predictions = model.predict(test, device="cpu")
    assert predictions.score.shape == (len(test),)
    # the same parameter names as a checkpoint written by one process: interchangeable
    single = get_model("dnn").build(test.geometry, size="small")
    assert set(model.network.state_dict()) == set(single.network.state_dict())


def _adversarial_rank(rank: int, folder: str, port: int) -> None:
    """One of two gloo ranks training the test WGAN; writes its final parameters."""
    from generative_doubles import Plugin, TinyWGAN

    from calogeo.testing import blob_showers, isolated_plugins

    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    with isolated_plugins(Plugin()):
        grid = geometry_from_spec(tungsten_grid_spec(n=4, layers=3))
        model = TinyWGAN.build(grid, size="small")
        # each rank trains on its shard of the same 96 showers
        model.fit(blob_showers(grid, 96, seed=1), progress=False, device="cpu",
                  checkpoint=Path(folder) / "wgan.pt")  # fmt: skip
        torch.save({k: n.state_dict() for k, n in model.nets.items()}, f"{folder}/rank{rank}.pt")


@pytest.mark.slow
def test_adversarial_trainer_keeps_the_ranks_networks_identical(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_adversarial_rank, args=(str(tmp_path), port), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    for name, state in ranks[0].items():
        for key, value in state.items():
            assert torch.equal(value, ranks[1][name][key]), f"{name}.{key}"
    # rank 0 wrote the checkpoint; it loads in this one process
    from generative_doubles import Plugin

    from calogeo.testing import isolated_plugins

    with isolated_plugins(Plugin()):
        model = load_model(tmp_path / "wgan.pt")
    for key, value in model.nets["generator"].state_dict().items():
        assert torch.equal(value, ranks[0]["generator"][key]), key
