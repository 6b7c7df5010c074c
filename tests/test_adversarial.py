"""The generative core: GenerativeModel (conditions, units, generation on any view, threshold,
checkpoints) and the adversarial trainer (phases, n_critic, EMA, resume, fidelity), driven by a
small WGAN-GP written against the protocol the way a plugin writes one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from generative_doubles import Plugin, ThetaWGAN, TinyWGAN

from calogeo.adversarial import gradient_penalty, real_fake_targets, response_w1
from calogeo.checkpoint import load_model
from calogeo.errors import CalogeoError
from calogeo.response_map import visible_fraction
from calogeo.showers import Showers
from calogeo.spec import geometry_from_spec
from calogeo.testing import blob_showers, isolated_plugins, tungsten_grid_spec


@pytest.fixture(autouse=True)
def plugins():
    with isolated_plugins(Plugin()) as manager:
        yield manager


@pytest.fixture(scope="module")
def grid():
    return geometry_from_spec(tungsten_grid_spec(n=4, layers=3))


@pytest.fixture(scope="module")
def showers(grid):
    return blob_showers(grid, 96, seed=1)


def trained(grid, showers, **options):
    model = TinyWGAN.build(grid, size="small")
    model.fit(showers, progress=False, device="cpu", **options)
    return model


def test_training_logs_losses_and_the_response_fidelity(grid, showers):
    model = trained(grid, showers)
    assert [row["epoch"] for row in model.history] == [1, 2]
    for row in model.history:
        assert np.isfinite(row["loss_critic"])
        assert np.isfinite(row["loss_generator"])
        assert np.isfinite(row["w1_response"])
        assert row["w1_response"] >= 0
        assert "wasserstein" in row


def test_n_critic_runs_the_generator_every_nth_step(grid, showers, monkeypatch):
    calls = []
    original = TinyWGAN.loss

    def spy(self, phase, nets, batch):
        calls.append(phase)
        return original(self, phase, nets, batch)

    monkeypatch.setattr(TinyWGAN, "loss", spy)
    model = TinyWGAN.build(grid, size="small", epochs=1, n_critic=3)
    model.fit(showers, progress=False, device="cpu", val_fraction=0.25)
    critic, generator = calls.count("critic"), calls.count("generator")
    assert critic == 72 // 16 + 1  # every batch (72 training events, 16 a batch)
    assert generator == len(range(0, critic, 3))


def test_posttrain_runs_once_after_the_last_epoch_and_is_checkpointed(
    grid, showers, monkeypatch, tmp_path
):
    events = []
    monkeypatch.setattr(
        TinyWGAN, "on_epoch_start", lambda self, nets, opts, epoch: events.append(epoch)
    )

    def posttrain(self, nets, stream, device):
        events.append("post")
        self.training_state["post"] = len(stream)

    monkeypatch.setattr(TinyWGAN, "posttrain", posttrain)
    model = TinyWGAN.build(grid, size="small")
    model.fit(showers, progress=False, device="cpu", checkpoint=tmp_path / "m.pt")
    assert events == [1, 2, "post"]
    assert load_model(tmp_path / "m.pt").training_state["post"] == 77  # the training events


def test_each_phase_steps_only_its_own_networks(grid, showers):
    from calogeo.adversarial import AdversarialTrainer

    model = TinyWGAN.build(grid, size="small")
    model.fit_normalisation(showers)
    trainer = AdversarialTrainer(model, model.options(device="cpu"))
    nets = model.nets
    optimisers = {n: model.optimiser(n, nets[n].parameters()) for n in ("generator", "critic")}
    batch = model.encode(showers[:16], trainer.device)

    def snapshot():
        return {n: [p.detach().clone() for p in nets[n].parameters()] for n in nets}

    for phase, other in (("critic", "generator"), ("generator", "critic")):
        before = snapshot()
        logs = trainer._phase(phase, nets, optimisers, batch)
        after = snapshot()
        assert np.isfinite(logs[f"loss_{phase}"])
        assert any(not torch.equal(a, b) for a, b in zip(before[phase], after[phase], strict=True))
        assert all(torch.equal(a, b) for a, b in zip(before[other], after[other], strict=True))


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(grid, showers, tmp_path):
    straight = trained(grid, showers, epochs=2)
    first = TinyWGAN.build(grid, size="small")
    first.fit(showers, progress=False, device="cpu", epochs=1, checkpoint=tmp_path / "a.pt")
    resumed = load_model(tmp_path / "a.pt")
    assert resumed.training_state["epoch"] == 1
    resumed.fit(showers, progress=False, device="cpu", epochs=2, resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    for name in ("generator", "critic"):
        a, b = straight.nets[name].state_dict(), resumed.nets[name].state_dict()
        for key in a:
            torch.testing.assert_close(a[key], b[key])


def test_ema_generator_is_kept_saved_and_used(grid, showers, tmp_path):
    model = trained(grid, showers, ema=0.9)
    assert "generator_ema" in model.nets
    ema, raw = model.nets["generator_ema"].state_dict(), model.nets["generator"].state_dict()
    assert any(not torch.equal(ema[k], raw[k]) for k in ema)
    model.save(tmp_path / "m.pt")
    again = load_model(tmp_path / "m.pt")
    a = model.generate(50.0, n=5, device="cpu", seed=3)
    b = again.generate(50.0, n=5, device="cpu", seed=3)
    np.testing.assert_array_equal(a.flat(), b.flat())


def test_generate_is_reproducible_non_negative_thresholded_and_labelled(grid, showers, tmp_path):
    model = trained(grid, showers)
    model.save(tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt")
    a = model.generate([20.0, 40.0, 60.0], device="cpu", seed=7)
    b = loaded.generate([20.0, 40.0, 60.0], device="cpu", seed=7, batch_size=3)
    assert isinstance(a, Showers)
    assert a.geometry == grid
    np.testing.assert_array_equal(a.flat(), b.flat())
    np.testing.assert_array_equal(a.incident_energy, [20.0, 40.0, 60.0])
    assert np.all(a.labels["pdg"] == 22)
    assert np.all(a.flat() >= 0)
    floor = np.repeat(model.normalisation()["threshold_gev"], np.diff(grid.layer_offsets))
    positive = a.flat() > 0
    assert np.all(a.flat()[positive] >= np.broadcast_to(floor, a.flat().shape)[positive])
    high = model.generate(50.0, n=4, device="cpu", threshold_gev=1e9)
    assert not high.flat().any()
    c = model.generate(50.0, n=4, device="cpu", seed=8)
    assert not np.array_equal(c.flat(), model.generate(50.0, n=4, device="cpu", seed=9).flat())


def test_the_response_calibration_puts_the_totals_on_the_training_data_s(grid, showers):
    model = trained(grid, showers)
    assert "response_map" in model.normalisation()
    target = np.median(visible_fraction(showers))
    raw = model.generate(showers.incident_energy, device="cpu", seed=3, calibrated=False)
    calibrated = model.generate(showers.incident_energy, device="cpu", seed=3)
    assert abs(np.median(visible_fraction(raw)) / target - 1) > 0.1  # two epochs: far off
    assert np.median(visible_fraction(calibrated)) == pytest.approx(target, rel=0.03)
    # the same showers, each scaled: shapes and the generator's ordering are kept
    at_50 = [model.generate(50.0, n=40, device="cpu", seed=4, calibrated=c) for c in (False, True)]
    order = [np.argsort(visible_fraction(s)) for s in at_50]
    np.testing.assert_array_equal(order[0], order[1])
    floor = np.repeat(model.normalisation()["threshold_gev"], np.diff(grid.layer_offsets))
    positive = calibrated.flat() > 0
    assert np.all(calibrated.flat()[positive] >= np.broadcast_to(floor, positive.shape)[positive])


def test_the_response_calibration_can_be_turned_off(grid, showers):
    model = TinyWGAN.build(grid, size="small", calibrate_response=False)
    model.fit(showers, progress=False, device="cpu")
    assert "response_map" not in model.normalisation()


def test_generation_errors_are_one_line(grid, showers):
    model = TinyWGAN.build(grid, size="small")
    with pytest.raises(CalogeoError, match="not trained"):
        model.generate(10.0, n=2)
    model = trained(grid, showers)
    with pytest.raises(CalogeoError, match="not conditioned on theta"):
        model.generate(10.0, n=2, theta=0.1)
    with pytest.raises(CalogeoError, match="not 'pi0'"):
        model.generate(10.0, n=2, particle="pi0")
    with pytest.raises(CalogeoError, match="positive"):
        model.generate([10.0, -1.0])
    with pytest.raises(CalogeoError, match="unknown options postprocess"):
        model.generate(10.0, n=2, postprocess=False)


def test_particle_classes_become_one_hot_conditions(grid):
    mixed = Showers.concatenate([blob_showers(grid, 40, pdg=22), blob_showers(grid, 40, pdg=111)])
    model = TinyWGAN.build(grid, size="small", epochs=1)
    model.fit(mixed, progress=False, device="cpu")
    assert model.particles == [22, 111]
    assert model.n_conditions == 3
    with pytest.raises(CalogeoError, match="several particles"):
        model.generate(10.0, n=2)
    pi0 = model.generate(10.0, n=3, particle="pi0", device="cpu")
    assert np.all(pi0.labels["pdg"] == 111)
    cond = model.condition_array(np.array([10.0]), pdg=np.array([111]))
    np.testing.assert_allclose(cond[0, 1:], [0.0, 1.0])


def test_angles_are_conditions_where_the_model_takes_them(grid, showers):
    model = ThetaWGAN.build(grid, size="small", epochs=1)
    model.fit(showers, progress=False, device="cpu")
    out = model.generate(30.0, n=4, theta=np.array([0.0, 0.1, 0.2, 0.3]), device="cpu")
    np.testing.assert_allclose(out.labels["theta"], [0.0, 0.1, 0.2, 0.3], rtol=1e-6)
    assert model.condition_array(np.array([30.0]), theta=np.array([0.2])).shape == (1, 2)


def test_helpers():
    flips = real_fake_targets(20000, True, 0.1, "cpu")
    assert 0.08 < float((flips == 0).float().mean()) < 0.12
    assert torch.equal(real_fake_targets(5, False, 0.0, "cpu"), torch.zeros(5))
    real, fake = [torch.randn(64, 3)], [torch.randn(64, 3)]
    # a critic with gradient norm exactly 1 everywhere has no penalty
    unit = torch.tensor([0.6, 0.8, 0.0])
    assert float(gradient_penalty(lambda x: x[0] @ unit, real, fake)) == pytest.approx(
        0.0, abs=1e-9
    )
    assert float(gradient_penalty(lambda x: 3 * x[0] @ unit, real, fake)) == pytest.approx(40.0)


def test_response_w1_is_zero_for_the_same_sample_and_grows_with_a_shift(grid, showers):
    assert response_w1(showers, showers) == 0.0
    scaled = Showers(grid, [a * 1.1 for a in showers.layers], showers.incident_energy)
    ratio = showers.flat().sum(1) / showers.incident_energy
    assert response_w1(showers, scaled) == pytest.approx(0.1 * ratio.mean(), rel=1e-3)
