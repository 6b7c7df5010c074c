"""The BIB-AE (calogeo_generative.bibae): training stages, resetting critics, post-processor,
latent KDE with rejection sampling, threshold function, checkpoints (every shipped geometry:
tests/test_generative_models_contract.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from calogeo_generative import bibae, voxel_norm
from calogeo_generative.bibae import BIBAE, LatentKDE, gaussian_mmd, sorted_cells

from calogeo.checkpoint import load_model
from calogeo.spec import geometry_from_spec
from calogeo.testing import blob_showers, isolated_plugins, tungsten_grid_spec

TINY = {"epochs": 2, "pp_epochs": 2, "batch_size": 16, "kde_events": 50}


@pytest.fixture(autouse=True)
def plugins():
    import calogeo_generative

    with isolated_plugins(calogeo_generative) as manager:
        yield manager


@pytest.fixture(scope="module")
def grid():
    return geometry_from_spec(tungsten_grid_spec(n=6, layers=4))


@pytest.fixture(scope="module")
def showers(grid):
    return blob_showers(grid, 80, seed=1)


@pytest.fixture(scope="module")
def trained(grid, showers, tmp_path_factory):
    path = tmp_path_factory.mktemp("bibae") / "bibae.pt"
    model = BIBAE.build(grid, size="small", **TINY)
    with isolated_plugins():
        model.fit(showers, progress=False, device="cpu", checkpoint=path)
    return model, path


def test_training_runs_the_adversarial_epochs_then_the_postprocessor_then_the_kde(trained):
    model, _ = trained
    epochs = model.history
    post = model.training_state["postprocessor_history"]
    assert [r["epoch"] for r in epochs] == [1, 2]
    assert [r["epoch"] for r in post] == [1, 2]
    assert epochs[-1]["pp_mmd_narrow"] == post[-1]["pp_mmd_narrow"]
    for row in epochs:
        for key in ("w_critic", "w_critic_reset", "w_latent_critic", "kld", "mmd_latent"):
            assert np.isfinite(row[key])
    for row in post:
        assert np.isfinite(row["pp_mmd_narrow"])
        assert row["loss_postprocessor"] > 0
    assert float(model.nets["postprocessor"].trained) == 1.0
    points = model._kde.points
    assert points.shape == (50, model.hparams["z_enc"] + 1)  # kde_events, latent + energy
    assert torch.all((points[:, -1] > 0) & (points[:, -1] <= 1))  # E / the largest energy


def test_resetting_critics_get_fresh_weights_and_optimiser_each_epoch(grid, showers):
    model = BIBAE.build(grid, size="small", **TINY)
    model.fit_normalisation(showers)
    nets = model.nets
    opts = {n: model.optimiser(n, nets[n].parameters()) for n in nets if n != "postprocessor"}
    batch = model.encode(showers[:16], "cpu")
    loss, _ = model.loss("critic", nets, batch)
    loss.backward()
    for opt in opts.values():
        opt.step()
    before = {n: [p.detach().clone() for p in nets[n].parameters()] for n in nets}
    model.on_epoch_start(nets, opts, 2)
    for name in ("critic_reset", "latent_critic_reset"):
        assert not opts[name].state
        assert any(
            not torch.equal(a, b)
            for a, b in zip(before[name], nets[name].parameters(), strict=True)
        )
    for name in ("critic", "latent_critic", "encoder", "generator"):
        assert all(
            torch.equal(a, b) for a, b in zip(before[name], nets[name].parameters(), strict=True)
        )
    assert opts["critic"].state
    lr = opts["encoder"].param_groups[0]["lr"]
    assert lr == pytest.approx(model.hparams["lr_encoder"] * model.hparams["lr_decay"])


def test_kde_rejection_sampling_follows_the_requested_energy():
    rng = np.random.default_rng(0)
    energy = rng.uniform(0.1, 1.0, 4000)
    latent = np.stack([5 * energy + 0.05 * rng.normal(size=4000), rng.normal(size=4000)], 1)
    kde = LatentKDE(torch.tensor(np.column_stack([latent, energy]), dtype=torch.float32))
    for e in (0.2, 0.5, 0.9):
        gen = torch.Generator().manual_seed(1)
        z = kde.sample(torch.full((2000,), e), gen)
        assert z.shape == (2000, 2)
        assert float(z[:, 0].mean()) == pytest.approx(5 * e, abs=0.1)
        assert float(z[:, 1].std()) == pytest.approx(1.0, abs=0.15)
    a = kde.sample(torch.full((5,), 0.5), torch.Generator().manual_seed(3))
    b = LatentKDE.from_state(kde.state()).sample(
        torch.full((5,), 0.5), torch.Generator().manual_seed(3)
    )
    assert torch.equal(a, b)


def test_generation_is_thresholded_reproducible_and_survives_the_checkpoint(trained):
    model, path = trained
    cond = torch.from_numpy(model.condition_array(np.array([20.0, 50.0, 80.0] * 20)))
    arrays = model.sample(model.nets, cond, torch.Generator().manual_seed(0))
    for a, level in zip(arrays, model._levels(), strict=True):
        assert torch.all((a == 0) | (a >= level))
        assert torch.any(a > 0)
    first = model.generate([20.0, 50.0, 80.0], seed=4)
    with isolated_plugins(__import__("calogeo_generative")):
        again = load_model(path).generate([20.0, 50.0, 80.0], seed=4)
    assert np.array_equal(first.flat(), again.flat())
    assert np.all(first.flat() >= 0)
    decoder_only = model.generate([20.0, 50.0, 80.0], seed=4, postprocess=False)
    assert not np.array_equal(first.flat(), decoder_only.flat())


def test_resume_continues_the_run_and_reruns_the_postprocessor(grid, showers, tmp_path):
    path = tmp_path / "m.pt"
    model = BIBAE.build(grid, size="small", **{**TINY, "epochs": 1, "pp_epochs": 1})
    model.fit(showers, progress=False, device="cpu", checkpoint=path)
    resumed = load_model(path)
    resumed.hparams["epochs"] = 2
    resumed.fit(showers, progress=False, device="cpu", resume=True)
    assert [r["epoch"] for r in resumed.history] == [1, 2]
    assert all("loss_postprocessor" in r for r in resumed.history)  # the stage ran twice
    assert len(resumed.training_state["postprocessor_history"]) == 1


def test_postprocessor_starts_as_the_identity_and_an_empty_output_costs(grid, showers):
    model = BIBAE.build(grid, size="small", **TINY)
    model.fit_normalisation(showers)
    batch = model.encode(showers[:8], "cpu")
    out = model.nets["postprocessor"](batch.real, batch.cond)
    for o, r in zip(out, batch.real, strict=True):
        torch.testing.assert_close(o, r)
    empty, _ = model.postprocessor_loss([torch.zeros_like(o) for o in out], batch.real)
    same, _ = model.postprocessor_loss(model._thresholded(batch.real), batch.real)
    assert float(same) < 1e-6 < float(empty)  # an empty output is far from the real showers
    loss, _ = model.postprocessor_loss([o * 0.5 for o in out], batch.real)
    loss.backward()
    grads = [p.grad for p in model.nets["postprocessor"].parameters() if p.grad is not None]
    assert any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("numba_kernels", [True, False])  # False: the torch path CUDA takes
def test_postprocessor_inference_form_gives_the_same_showers(
    grid, showers, numba_kernels, monkeypatch
):
    if not numba_kernels:
        monkeypatch.setattr(voxel_norm, "_numba_path", lambda t: False)
    model = BIBAE.build(grid, size="small", **TINY)
    model.fit_normalisation(showers)
    post = model.nets["postprocessor"]
    torch.manual_seed(4)
    for module in post.modules():  # a trained-looking post-processor: nothing at its defaults
        if isinstance(module, torch.nn.Conv3d | torch.nn.LayerNorm):
            torch.nn.init.normal_(module.weight, 0.0, 0.5)
            if module.bias is not None:
                torch.nn.init.normal_(module.bias, 0.0, 0.5)
    post.trained.fill_(1.0)
    post.eval()
    fast = model.generation_networks()["postprocessor"]
    assert fast is not post
    assert float(fast.trained) == 1.0
    batch = model.encode(showers[:8], "cpu")
    with torch.inference_mode():
        for a, b in zip(post(batch.real, batch.cond), fast(batch.real, batch.cond), strict=True):
            assert float(a.abs().max()) > 0
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_bfloat16_generation_with_the_postprocessor_is_close_to_float32(trained):
    model, _ = trained
    options = {"device": "cpu", "seed": 3, "threshold_gev": 0.0, "calibrated": False}
    full = model.generate([20.0, 50.0, 80.0], **options).flat()
    low = model.generate([20.0, 50.0, 80.0], precision="bf16", **options).flat()
    assert not np.array_equal(low, full)  # bfloat16 arithmetic did run
    np.testing.assert_allclose(low.sum(axis=1), full.sum(axis=1), rtol=0.05)
    np.testing.assert_allclose(low.max(axis=1), full.max(axis=1), rtol=0.05)


@pytest.mark.parametrize("numba_kernels", [True, False])
def test_decoder_inference_form_gives_the_same_showers(grid, showers, numba_kernels, monkeypatch):
    if not numba_kernels:
        monkeypatch.setattr(voxel_norm, "_numba_path", lambda t: False)
    model = BIBAE.build(grid, size="small", **TINY)
    model.fit_normalisation(showers)
    decoder = model.nets["generator"].eval()
    torch.manual_seed(5)
    for module in decoder.modules():
        if isinstance(module, torch.nn.Conv3d):
            torch.nn.init.normal_(module.weight, 0.0, 0.3)
    fast = model.generation_networks()["generator"]
    assert fast is not decoder
    assert isinstance(fast.branches[0].convs[-3], bibae.DepthTapConv3d)
    z = torch.randn(5, decoder.head[0].in_features - model.n_conditions)
    cond = model.encode(showers[:5], "cpu").cond
    with torch.inference_mode():
        for a, b in zip(decoder(z, cond), fast(z, cond), strict=True):
            assert float(a.abs().max()) > 0
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_loss_helpers():
    a = torch.randn(200, 3, generator=torch.Generator().manual_seed(0))
    assert float(gaussian_mmd(a, a, (1.0,))) == pytest.approx(0.0, abs=1e-6)
    near = float(gaussian_mmd(a, a + 0.1, (1.0,)))
    far = float(gaussian_mmd(a, a + 1.0, (1.0,)))
    assert 0 < near < far
    x = torch.tensor([[[0.0, 3.0], [1.0, 2.0]]])
    assert sorted_cells(x, 3).tolist() == [[3.0, 2.0, 1.0]]
    assert bibae.kl_divergence(torch.zeros(4, 2), torch.zeros(4, 2)) == 0
