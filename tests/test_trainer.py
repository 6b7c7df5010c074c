"""The shared trainer: data streams, validation split, reproducibility, checkpoints, Ctrl-C."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from calogeo import CalogeoError, Showers, device, geometry_from_spec, get_model, write_showers
from calogeo.checkpoint import load_model
from calogeo.streams import Part, ShowerStream, split_source, train_val_streams
from calogeo.testing import blob_showers, tungsten_grid_spec
from calogeo.training import rank_auc


@pytest.fixture(scope="module")
def geometry():
    return geometry_from_spec(tungsten_grid_spec())


@pytest.fixture(scope="module")
def gammas(geometry):
    return blob_showers(geometry, 60, pdg=22, seed=1)


@pytest.fixture(scope="module")
def pions(geometry):
    return blob_showers(geometry, 60, pdg=111, seed=2)


@pytest.fixture(scope="module")
def files(gammas, pions, tmp_path_factory):
    folder = tmp_path_factory.mktemp("showers")
    write_showers(folder / "gamma.h5", gammas)
    write_showers(folder / "pi0.h5", pions)
    return [folder / "gamma.h5", folder / "pi0.h5"]


def fit_dnn(geometry, data, device="cpu", model_seed=0, **options):
    model = get_model("dnn").build(geometry, size="small", seed=model_seed)
    model.fit(data, progress=False, device=device, **options)
    return model


def test_split_holds_out_pieces_from_the_whole_source(gammas, pions):
    ordered = Showers.concatenate([gammas, pions])  # all gammas, then all pions
    train, val = train_val_streams(ordered, val_fraction=0.2, seed=0)
    events = [i for a, b in train.parts[0].pieces + val.parts[0].pieces for i in range(a, b)]
    assert sorted(events) == list(range(len(ordered)))  # disjoint and complete
    assert 0.1 < len(val) / len(ordered) < 0.3
    held = val.read_all()
    assert set(held.labels["pdg"].tolist()) == {22, 111}


def test_split_is_seeded(gammas):
    first = split_source(_Source(gammas), 0.25, seed=3)[1].pieces
    assert split_source(_Source(gammas), 0.25, seed=3)[1].pieces == first
    assert split_source(_Source(gammas), 0.25, seed=4)[1].pieces != first


def test_stream_serves_every_event_once_and_mixes_sources(gammas, pions):
    stream = ShowerStream(
        [Part(_Source(gammas), [(0, 60)]), Part(_Source(pions), [(0, 60)])], block_size=16
    )
    batches = list(stream.batches(8, np.random.default_rng(0)))
    energies = np.concatenate([b.incident_energy for b in batches])
    expected = np.concatenate([gammas.incident_energy, pions.incident_energy])
    np.testing.assert_array_equal(np.sort(energies), np.sort(expected))
    mixed = [len(set(b.labels["pdg"].tolist())) == 2 for b in batches]
    assert sum(mixed) >= len(batches) // 2


def test_rank_auc_matches_the_definition():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 200)
    score = rng.normal(label, 1.0)
    pairs = (score[label == 1][:, None] > score[label == 0][None, :]).mean()
    assert rank_auc(score, label) == pytest.approx(pairs)
    assert np.isnan(rank_auc(score, np.ones(200)))


def test_training_learns_both_tasks_from_files(geometry, files):
    model = fit_dnn(geometry, files, epochs=12)
    last = model.history[-1]
    assert len(model.history) >= 2
    assert model.history[0]["train_loss"] > min(h["train_loss"] for h in model.history)
    assert max(h["val_auc"] for h in model.history) > 0.9  # one blob vs two blobs
    assert last["val_resolution"] < 0.2


def test_training_is_reproducible_with_a_seed(geometry, gammas, pions):
    data = [gammas, pions]
    a = fit_dnn(geometry, data, epochs=2, seed=5, model_seed=5)
    b = fit_dnn(geometry, data, epochs=2, seed=5, model_seed=5)
    c = fit_dnn(geometry, data, epochs=2, seed=6, model_seed=6)
    assert a.history == b.history
    for key, value in a.get_state().items():
        torch.testing.assert_close(value, b.get_state()[key], rtol=0, atol=0)
    assert a.history != c.history


def test_max_steps_and_validation_set(geometry, gammas, pions):
    model = fit_dnn(
        geometry,
        [gammas[:40], pions[:40]],
        val=[gammas[40:], pions[40:]],
        epochs=5,
        max_steps=1,
        batch_size=4,
    )
    assert len(model.history) == 1


def test_interrupted_training_leaves_the_last_good_checkpoint(geometry, gammas, pions, tmp_path):
    path = tmp_path / "model.pt"
    flaky = _Source(pions, interrupt_after=2)  # reads: a sample, epoch 1, then Ctrl-C
    model = get_model("dnn").build(geometry, size="small")
    with pytest.raises(KeyboardInterrupt):
        model.fit(
            [gammas, flaky],
            val=[gammas[:10], pions[:10]],
            epochs=5,
            checkpoint=path,
            progress=False,
            device="cpu",
            batch_size=200,
        )
    saved = load_model(path)
    assert len(saved.history) == 1  # the first epoch, complete and loadable
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


def test_cuda_request_without_a_gpu_is_a_clear_error(geometry, gammas, pions):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(CalogeoError, match="no CUDA device is available"):
        fit_dnn(geometry, [gammas, pions], epochs=1, device="cuda")


def test_classification_only_ignores_the_energy(geometry, gammas, pions):
    model = get_model("dnn").build(geometry, size="small", task="classify")
    model.fit([gammas, pions], epochs=1, progress=False, device="cpu")
    out = model.predict(gammas[:5], device="cpu")
    assert out.energy is None
    assert out.score is not None
    assert "val_resolution" not in model.history[0]


class _Source:
    """Showers in memory read like a file; optionally Ctrl-C after ``interrupt_after`` reads."""

    def __init__(self, showers, interrupt_after=None):
        self.showers, self.geometry = showers, showers.geometry
        self.path, self.reads, self.interrupt_after = "memory", 0, interrupt_after

    def __len__(self):
        return len(self.showers)

    def read(self, start=0, stop=None):
        self.reads += 1
        if self.interrupt_after is not None and self.reads > self.interrupt_after:
            raise KeyboardInterrupt
        return self.showers[start:stop]


# -- threads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("cpu_max", "cap"), [("50000 100000", 1), ("150000 100000", 2)])
def test_usable_cores_follow_a_cgroup_quota(tmp_path, cpu_max, cap):
    (tmp_path / "cpu.max").write_text(f"{cpu_max}\n")
    affinity = len(os.sched_getaffinity(0))
    assert device.usable_cores(tmp_path) == min(affinity, cap)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert device.usable_cores(tmp_path) == affinity


class _LoadAvg:
    """/proc/loadavg that shows ``runnable`` tasks, one count per read."""

    def __init__(self, *runnable: int) -> None:
        self.runnable = list(runnable)

    def exists(self) -> bool:
        return True

    def read_text(self) -> str:
        return f"1.00 1.00 1.00 {self.runnable.pop(0)}/200 12345\n"


def test_busy_cores_count_other_processes_that_stay_runnable(monkeypatch):
    monkeypatch.setattr(device, "_own_running_threads", lambda: 1)
    # a job that passes by in one look is not counted; the reader itself is not counted
    assert device.busy_cores(samples=3, interval_s=0, loadavg=_LoadAvg(4, 2, 5)) == 1
    assert device.busy_cores(samples=2, interval_s=0, loadavg=_LoadAvg(1, 1)) == 0


def test_available_cores_leave_out_the_busy_ones(monkeypatch):
    n = os.cpu_count()
    monkeypatch.setattr(device, "usable_cores", lambda: 2)
    monkeypatch.setattr(device, "busy_cores", lambda: n - 1)  # one core idle
    assert device.available_cores() == 1
    monkeypatch.setattr(device, "busy_cores", lambda: n + 5)  # overloaded: still one thread
    assert device.available_cores() == 1
    monkeypatch.setattr(device, "busy_cores", lambda: 0)
    assert device.available_cores() == min(2, n)


def _threads_seen(model, data, **options):
    """torch's thread counts seen by the network's forward passes during ``fit``."""
    seen = set()
    model.network.register_forward_hook(lambda *_: seen.add(torch.get_num_threads()))
    model.fit(data, progress=False, device="cpu", epochs=2, **options)
    return seen


def test_training_threads_follow_the_free_cores_and_are_overridable(
    geometry, gammas, pions, monkeypatch
):
    data = Showers.concatenate([gammas, pions])
    before = torch.get_num_threads()
    monkeypatch.delenv(device.THREADS_ENV, raising=False)
    monkeypatch.setattr(device, "available_cores", lambda: 1)
    model = get_model("dnn").build(geometry, size="small")
    assert _threads_seen(model, data) == {1}
    monkeypatch.setenv(device.THREADS_ENV, "3")
    assert _threads_seen(model, data) == {3}
    assert _threads_seen(model, data, threads=2) == {2}  # the option wins over the variable
    assert torch.get_num_threads() == before  # restored after training


@pytest.mark.parametrize("value", ["0", "two"])
def test_a_bad_thread_count_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(device.THREADS_ENV, value)
    with pytest.raises(CalogeoError, match="CALOGEO_THREADS"):
        device.torch_threads()
    with pytest.raises(CalogeoError, match="threads=0"):
        device.torch_threads(0)


def test_train_command_rejects_a_bad_thread_count_before_any_work(tmp_path, capsys):
    from calogeo.cli import main

    assert main(["train", "dnn", "--data", str(tmp_path / "none.h5"), "--threads", "0"]) != 0
    assert "threads=0" in capsys.readouterr().err
