"""The networks and losses of the generative plugin (CaloGAN, 3DGAN, WGAN): shapes on any view,
non-negative outputs, gradients reaching every weight, the paper presets' sizes against the
papers, and the pieces (locally connected layers, minibatch discrimination, attention, soft
counts) against references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from calogeo_generative.blocks import (
    LocallyConnected2d,
    MinibatchDiscrimination,
    n_parameters,
    resize_image,
    soft_sparsity,
)
from calogeo_generative.calogan import (
    CaloGANDiscriminator,
    CaloGANGenerator,
    InPainting,
    calogan_discriminator_loss,
    calogan_generator_loss,
    streams,
)
from calogeo_generative.gan3d import (
    GAN3DDiscriminator,
    GAN3DGenerator,
    gan3d_discriminator_loss,
    gan3d_generator_loss,
    pixel_intensity_counts,
    upsampling_plan,
)
from calogeo_generative.wgan import (
    Constrainer,
    WGANCritic,
    WGANGenerator,
    axis_chain,
    start_grid,
    wgan_critic_loss,
    wgan_generator_loss,
)

import calogeo
from calogeo.testing import blob_showers

LAYER_SHAPES = [
    [(1, 3, 96), (1, 12, 12), (1, 12, 6)],  # CaloGAN
    [(1, 128, 4), (1, 16, 16), (1, 8, 16), (2, 4, 4), (1, 2, 4)],  # ATLAS EMB1-3 + Tile
    [(1, 1, 8), (1, 10, 16)],  # CaloChallenge-like rings of one cell
    [(11, 5, 5), (9, 3, 3)],  # two deep blocks
]
VOXEL_SHAPES = [
    [(1, 25, 21, 19)],  # a CLIC-ECAL-deep window
    [(1, 48, 9, 9)],  # an ILD-AHCAL-deep window
    [(1, 1, 23, 23)],  # CMS: one layer
    [(1, 3, 12, 96)],  # the CaloGAN calorimeter on a regular grid
    [(1, 3, 16, 18), (1, 3, 6, 6)],  # two groups
]


def _conditions(n: int, columns: int) -> torch.Tensor:
    cond = torch.rand(n, columns)
    cond[:, 0] = 0.1 + 0.9 * cond[:, 0]
    return cond


def _assert_every_weight_gets_a_gradient(module: torch.nn.Module, exempt=()) -> None:
    missing = [n for n, p in module.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == list(exempt)


@pytest.mark.parametrize("shapes", LAYER_SHAPES)
def test_calogan_generates_every_layer_block_non_negative_and_trains(shapes):
    torch.manual_seed(0)
    generator = CaloGANGenerator(shapes, 3, latent=16, dense_channels=2, conv_filters=2)
    disc = CaloGANDiscriminator(shapes, 3, conv_filters=4, lc_filters=(2, 2, 2), mbd_kernels=3)
    cond = _conditions(5, 3)
    images = generator(torch.randn(5, 16), cond)
    assert [tuple(x.shape[1:]) for x in images] == [tuple(s) for s in shapes]
    assert all(bool((x >= 0).all()) for x in images)
    logit, e_hat = disc(images, cond)
    assert logit.shape == (5, 1)
    assert e_hat.shape == (5, 1)
    calogan_generator_loss(logit, e_hat, cond[:, :1] * 100).backward()
    _assert_every_weight_gets_a_gradient(generator)
    real = [torch.rand(5, *s) for s in shapes]
    logit_real, e_real = disc(real, cond)
    logit_fake, e_fake = disc([x.detach() for x in images], cond)
    disc.zero_grad()
    calogan_discriminator_loss(logit_real, logit_fake, e_real, cond, e_fake, cond).backward()
    _assert_every_weight_gets_a_gradient(disc)


def test_calogan_streams_cut_deep_blocks_evenly_and_keep_single_layers():
    assert [s.n_layers for s in streams([(1, 3, 96), (1, 12, 12), (1, 12, 6)], 8)] == [1, 1, 1]
    assert [s.n_layers for s in streams([(25, 51, 51)], 8)] == [7, 6, 6, 6]
    assert [s.n_layers for s in streams([(48, 25, 25)], 8)] == [8] * 6
    cut = streams([(25, 51, 51), (60, 11, 11)], 8)
    assert [(s.input, s.first) for s in cut[:5]] == [(0, 0), (0, 7), (0, 13), (0, 19), (1, 0)]
    assert sum(s.n_layers for s in cut if s.input == 1) == 60


def test_calogan_discriminator_energy_features_are_in_gev():
    """E_hat = sum of the cells x image unit / response; the 5 GeV tolerance reads GeV."""
    shapes = [(1, 2, 2)]
    disc = CaloGANDiscriminator(
        shapes, 1, energy_response=0.5, image_unit_gev=2.0, energy_unit_gev=100.0
    )
    images = [torch.full((2, 1, 2, 2), 1.0)]  # 4 cells x 2 GeV = 8 GeV visible -> 16 GeV
    _, e_hat = disc(images, torch.tensor([[0.16], [0.30]]))
    torch.testing.assert_close(e_hat, torch.tensor([[16.0], [16.0]]))


def test_in_painting_mixes_the_two_images_pixel_by_pixel():
    unit = InPainting((2, 4, 5))
    image, carried = torch.randn(3, 2, 4, 5), torch.randn(3, 1, 4, 5)
    out = unit(image, carried)
    low, high = torch.minimum(image, carried), torch.maximum(image, carried)
    assert bool(((out >= low - 1e-6) & (out <= high + 1e-6)).all())
    assert not torch.allclose(out, image)


def test_resize_is_the_calogan_up_sampling_and_pooling():
    x = torch.arange(3 * 96, dtype=torch.float32).view(1, 1, 3, 96)
    expected = F.avg_pool2d(x.repeat_interleave(4, dim=2), (1, 8))
    torch.testing.assert_close(resize_image(x, (12, 12)), expected)
    y = torch.rand(1, 1, 12, 12)
    torch.testing.assert_close(resize_image(y, (12, 6)), F.avg_pool2d(y, (1, 2)))


def test_locally_connected_layer_with_shared_weights_is_a_convolution():
    torch.manual_seed(1)
    lc = LocallyConnected2d((3, 7, 9), 4, (3, 2), stride=(1, 2))
    conv = torch.nn.Conv2d(3, 4, (3, 2), stride=(1, 2))
    with torch.no_grad():
        lc.weight.copy_(conv.weight.reshape(4, -1).t().expand_as(lc.weight))
        lc.bias.copy_(conv.bias[:, None].expand_as(lc.bias))
    x = torch.randn(2, 3, 7, 9)
    torch.testing.assert_close(lc(x), conv(x), atol=1e-5, rtol=1e-5)
    assert lc.out_shape == tuple(conv(x).shape[1:])


@pytest.mark.parametrize("bias", [True, False])
def test_batch_last_locally_connected_layer_equals_the_layer(bias):
    torch.manual_seed(4)
    lc = LocallyConnected2d((3, 7, 9), 4, (3, 2), stride=(1, 2), bias=bias)
    if bias:
        torch.nn.init.normal_(lc.bias)
    x = torch.randn(5, 3, 7, 9)
    out = lc.batch_last()(x.permute(2, 3, 1, 0))
    assert out.shape == (*lc.out_hw, 4, 5)
    torch.testing.assert_close(out.permute(3, 2, 0, 1), lc(x), atol=1e-5, rtol=1e-5)


def test_batch_last_in_painting_equals_the_layer():
    torch.manual_seed(5)
    unit = InPainting((2, 4, 5))
    torch.nn.init.normal_(unit.lc.bias)
    image, carried = torch.randn(3, 2, 4, 5), torch.randn(3, 1, 4, 5)
    fast = unit.for_inference()
    torch.testing.assert_close(fast(image, carried), unit(image, carried), atol=1e-5, rtol=1e-5)


def test_minibatch_discrimination_tells_a_collapsed_batch_from_a_varied_one():
    mbd = MinibatchDiscrimination(6, kernels=4, dims=3)
    same = mbd(torch.ones(8, 6))
    varied = mbd(torch.randn(8, 6) * 10)
    torch.testing.assert_close(same, torch.full_like(same, math.tanh(8.0)))
    assert bool((varied < same).all())


def test_soft_sparsity_counts_the_cells_with_energy_per_layer():
    image = torch.zeros(1, 2, 4, 4)
    image[0, 0, :2] = 1.0  # half the cells of layer 0, none of layer 1
    torch.testing.assert_close(soft_sparsity(image, 1e-3), torch.tensor([[0.5, 0.0]]))


@pytest.mark.parametrize("shapes", VOXEL_SHAPES)
def test_gan3d_reaches_every_voxel_grid_and_trains(shapes):
    torch.manual_seed(0)
    generator = GAN3DGenerator(shapes, 2, latent=14, filters=(4, 2, 2))
    disc = GAN3DDiscriminator(shapes, 2, filters=(2, 2, 2, 2))
    cond = _conditions(4, 2)
    fake = generator(torch.randn(4, 14), cond)
    assert [tuple(x.shape[1:]) for x in fake] == [tuple(s) for s in shapes]
    assert all(bool((x >= 0).all()) for x in fake)
    real = [torch.rand(4, *s) ** 4 for s in shapes]
    gan3d_generator_loss(*disc(fake), fake, real, cond).backward()
    _assert_every_weight_gets_a_gradient(generator)
    disc.zero_grad()
    fake = [x.detach() for x in fake]
    gan3d_discriminator_loss(disc(real), cond, disc(fake), cond).backward()
    _assert_every_weight_gets_a_gradient(disc)


def test_gan3d_plan_keeps_the_paper_factors_on_its_grid():
    depth, rows, cols = upsampling_plan((25, 51, 51))
    assert (depth.start, rows.start, cols.start) == (5, 9, 9)
    assert rows.factors == (3, 2)
    assert depth.factors == (2, 3)
    assert rows.kernels == (6, 5, 3, 2)
    (one,) = upsampling_plan((1,))[:1]
    assert one.kernels[3] == 1


def test_pixel_intensity_counts_sum_to_the_cells_and_follow_the_bins():
    x = torch.tensor([[0.0, 0.0, 5e-4, 0.05, 1.0]]).view(1, 1, 1, 1, 5)
    counts = pixel_intensity_counts([x], edges=(1e-6, 1e-3, 0.01, 0.1), softness=0.01)
    torch.testing.assert_close(counts.sum(dim=1), torch.tensor([5.0]))
    torch.testing.assert_close(counts, torch.tensor([[2.0, 1.0, 0.0, 1.0, 1.0]]), atol=1e-3, rtol=0)


@pytest.mark.parametrize("shapes", VOXEL_SHAPES)
def test_wgan_reaches_every_voxel_grid_and_trains(shapes):
    torch.manual_seed(0)
    generator = WGANGenerator(shapes, 1, latent=6, ngf=2)
    critic = WGANCritic(shapes, 1, widths=(2, 4), blocks=(1, 1))
    constrainer = Constrainer(shapes, hidden=(8, 4, 2))
    cond = _conditions(4, 1)
    fake = generator(torch.rand(4, 6) * 2 - 1, cond)
    assert [tuple(x.shape[1:]) for x in fake] == [tuple(s) for s in shapes]
    assert all(bool((x >= 0).all()) for x in fake)
    real = [torch.rand(4, *s) for s in shapes]
    energy = cond * 100
    loss = wgan_generator_loss(
        critic(fake, cond), constrainer(fake) * 100, constrainer(real).detach() * 100, energy
    )
    loss.backward()
    _assert_every_weight_gets_a_gradient(generator)
    critic.zero_grad()
    loss, w = wgan_critic_loss(critic, real, fake, cond)
    loss.backward()
    assert w.shape == ()
    # a constant offset of the score cancels in a Wasserstein critic's loss
    _assert_every_weight_gets_a_gradient(critic, exempt=["head.bias"])


def test_wgan_start_grid_is_the_papers_for_the_ild_window():
    assert start_grid((48, 25, 25)) == (4, 4, 4)
    assert axis_chain(1, 0) == (1, (3,) * 6, (1,) * 6)  # one layer stays one layer deep
    assert axis_chain(25, 1)[0] == 4
    with torch.device("meta"):
        generator = WGANGenerator([(1, 48, 25, 25)], 1)
    assert generator.chains[0].full == (48, 25, 25)  # no crop on the paper's grid


@pytest.mark.parametrize("model", ["gan3d", "wgan"])
def test_paper_generators_reach_the_paper_grids_exactly(model):
    shapes = [(1, 25, 51, 51)] if model == "gan3d" else [(1, 48, 25, 25)]
    net = GAN3DGenerator(shapes, 2) if model == "gan3d" else WGANGenerator(shapes, 1)
    with torch.no_grad():
        (out,) = net.eval()(
            torch.randn(2, net.latent), _conditions(2, 2 if model == "gan3d" else 1)
        )
    assert tuple(out.shape[1:]) == shapes[0]


# -- the paper presets against the papers ------------------------------------------------------


def _paper_networks(model: str, geometry: str) -> dict[str, int]:
    with torch.device("meta"):  # sizes without allocating 155 M constrainer weights
        built = calogeo.get_model(model).build(calogeo.get_geometry(geometry), size="paper")
        return {name: n_parameters(net) for name, net in built.nets.items()}


def test_calogan_paper_preset_on_the_calogan_calorimeter():
    """Paganini et al. give no count; the CaloGAN code's generator is dominated by its three
    dense layers, latent 1024 -> (rows + 2)(cols + 2) x 36 each: 29.4 M of 29.7 M weights."""
    sizes = _paper_networks("calogan", "calogan")
    dense = sum((r + 2) * (c + 2) * 36 * 1025 for r, c in [(3, 96), (12, 12), (12, 6)])
    assert dense == 29_446_200
    assert sizes["generator"] == 29_722_176
    assert sizes["discriminator"] == 2_744_332


def test_gan3d_paper_preset_on_the_clic_ecal():
    """Belayneh et al. give no count; the 3DGAN code's generator has 1.6 M weights (its dense
    layer to an 8x9x9 start grid holds 1.33 M), ours 1.05 M from a 5x9x9 start grid."""
    sizes = _paper_networks("gan3d", "clic_ecal")
    dense = (256 + 1) * 8 * 5 * 9 * 9
    assert sizes["generator"] == 1_052_304
    assert sizes["generator"] - dense == 1_052_304 - 832_680
    assert sizes["discriminator"] == 106_507


def test_wgan_paper_preset_on_the_ild_ahcal():
    """Buhmann et al. Sect. 3.1: a residual critic of about 4 M weights and a fully connected
    constrainer of '100 million' (30,000 -> 5000 -> 1000 -> 100 -> 1: 155 M)."""
    sizes = _paper_networks("wgan", "ild_ahcal")
    assert sizes["critic"] == 3_996_034
    assert abs(sizes["critic"] - 4e6) / 4e6 < 0.01
    assert sizes["constrainer"] == 0  # frozen: nothing the trainer optimises
    with torch.device("meta"):
        constrainer = Constrainer([(1, 48, 25, 25)])
    assert sum(p.numel() for p in constrainer.parameters()) == 155_118_201
    assert sizes["generator"] == 1_738_803


# -- model classes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_grid():
    from calogeo.spec import geometry_from_spec
    from calogeo.testing import tungsten_grid_spec

    return geometry_from_spec(tungsten_grid_spec(n=6, layers=4))


def test_wgan_constrainer_is_trained_first_then_frozen(tiny_grid, monkeypatch):
    from calogeo_generative.wgan import WGAN

    showers = blob_showers(tiny_grid, 48, seed=2)
    model = WGAN.build(
        tiny_grid,
        size="small",
        epochs=2,
        batch_size=16,
        constrainer_epochs=3,
        constrainer_hidden=[32, 16, 8],
        ngf=2,
        critic_widths=[4, 4],
    )
    initial = {k: v.clone() for k, v in model.nets["constrainer"].state_dict().items()}
    pretrained = {}
    original = WGAN.pretrain

    def spy(self, nets, stream, device):
        original(self, nets, stream, device)
        pretrained.update({k: v.clone() for k, v in nets["constrainer"].state_dict().items()})

    monkeypatch.setattr(WGAN, "pretrain", spy)
    model.fit(showers, progress=False, device="cpu")
    assert any(not torch.equal(initial[k], pretrained[k]) for k in initial)
    assert not any(p.requires_grad for p in model.nets["constrainer"].parameters())
    after = model.nets["constrainer"].state_dict()
    for key, value in pretrained.items():
        torch.testing.assert_close(after[key], value)
    assert np.isfinite(model.history[-1]["constrainer_error_gev"])


def test_gan3d_samples_undo_the_power_and_store_the_angle(tiny_grid):
    showers = blob_showers(tiny_grid, 24, seed=3)
    model = calogeo.get_model("gan3d").build(
        tiny_grid, size="small", epochs=1, batch_size=8, latent=6, gen_filters=[4, 2, 2]
    )
    model.fit(showers, progress=False, device="cpu", max_steps=2)
    cond = torch.from_numpy(model.condition_array(np.array([30.0, 60.0]), np.array([0.1, 0.2])))
    gen = torch.Generator().manual_seed(0)
    raw = model.generated(model.nets, cond, gen)
    gen = torch.Generator().manual_seed(0)
    (sampled,) = model.sample(model.nets, cond, gen)
    torch.testing.assert_close(sampled, raw[0].pow(1 / 0.85))
    out = model.generate([30.0, 60.0], theta=[0.1, 0.2], device="cpu", seed=1)
    np.testing.assert_allclose(out.labels["theta"], [0.1, 0.2], rtol=1e-6)


@pytest.mark.parametrize("name", ["calogan", "gan3d", "wgan"])
def test_energy_scaled_generators_multiply_their_output_by_the_energy(tiny_grid, name):
    small = {"calogan": {"latent": 8}, "gan3d": {"latent": 6}, "wgan": {"latent": 6, "ngf": 2}}
    model = calogeo.get_model(name).build(tiny_grid, size="small", **small[name])
    model.set_normalisation({"image_unit_gev": 1.0, "energy_unit_gev": 100.0})
    model.hparams["energy_scaled"] = False
    cond = torch.zeros(2, model.n_conditions)
    cond[:, 0] = torch.tensor([0.2, 0.8])
    model.nets["generator"].eval()
    plain = model.generated(model.nets, cond, torch.Generator().manual_seed(0))
    model.hparams["energy_scaled"] = True
    scaled = model.generated(model.nets, cond, torch.Generator().manual_seed(0))
    power = 0.85 if name == "gan3d" else 1.0
    for p, s in zip(plain, scaled, strict=True):
        factor = cond[:, 0].pow(power).view(-1, *([1] * (p.dim() - 1)))
        torch.testing.assert_close(s, p * factor)


def test_energy_scaled_wgan_critic_sees_showers_over_the_energy(tiny_grid):
    model = calogeo.get_model("wgan").build(
        tiny_grid, size="small", energy_scaled=True, critic_widths=[4, 4]
    )
    seen = []
    model.nets["critic"].register_forward_hook(lambda m, args, out: seen.append(args[0][0]))
    cond = torch.tensor([[0.25], [0.5]])
    images = [torch.ones(2, 1, 4, 6, 6)]
    model.critic_of(model.nets)(images, cond)
    torch.testing.assert_close(seen[0][:, 0, 0, 0, 0], torch.tensor([4.0, 2.0]))


# -- inference forms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pads", [((3, 3), (1, 2), (3, 3)), ((-1, 0), (0, 0), (2, -1))], ids=["padded", "cropped"]
)
def test_phase_convolution_is_up_sampling_then_convolution(pads):
    from calogeo_generative.blocks import UpsampleConv

    torch.manual_seed(2)
    unit = UpsampleConv((2, 3, 1), pads, torch.nn.Conv3d(3, 2, (4, 5, 3)))
    x = torch.randn(2, 3, 5, 4, 6)
    fused = unit.fused(x.shape[2:])
    torch.testing.assert_close(fused(x), unit(x), atol=1e-5, rtol=1e-5)


def test_depth_tap_convolution_equals_the_convolution():
    from calogeo_generative.blocks import DepthTapConv3d

    torch.manual_seed(6)
    conv = torch.nn.Conv3d(3, 2, (4, 3, 2), padding=(2, 1, 0), bias=False)
    x = torch.randn(2, 3, 6, 5, 4)
    torch.testing.assert_close(DepthTapConv3d(conv)(x), conv(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="stride-1"):
        DepthTapConv3d(torch.nn.Conv3d(3, 2, 3))


@pytest.mark.parametrize("model", ["calogan", "gan3d", "wgan"])
def test_inference_generators_give_the_same_showers_and_leave_the_original(model):
    torch.manual_seed(3)
    shapes = [(1, 7, 11, 9), (1, 3, 4, 4)]
    if model == "calogan":
        net = CaloGANGenerator([(3, 3, 12), (2, 4, 4)], 2, latent=5, max_stream_layers=2)
    elif model == "gan3d":
        net = GAN3DGenerator(shapes, 2, latent=5, filters=(4, 3, 2))
    else:
        net = WGANGenerator(shapes, 2, latent=5, ngf=2)
    for module in net.modules():  # trained-looking normalisation, so that folding it shows
        if isinstance(module, torch.nn.BatchNorm3d | torch.nn.BatchNorm2d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
            torch.nn.init.normal_(module.weight)
            torch.nn.init.normal_(module.bias)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fast = net.for_inference()
    z, cond = torch.randn(3, 5), _conditions(3, 2)
    with torch.inference_mode():
        for a, b in zip(net(z, cond), fast(z, cond), strict=True):
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
    assert net.state_dict().keys() == before.keys()
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())


@pytest.mark.parametrize("name", ["calogan", "gan3d", "wgan"])
def test_bfloat16_generation_is_close_to_float32(tiny_grid, name):
    model = calogeo.get_model(name).build(tiny_grid, size="small")
    model.fit_normalisation(blob_showers(tiny_grid, 8, seed=6))
    options = {"device": "cpu", "seed": 3, "threshold_gev": 0.0}
    full = model.generate([20.0, 50.0, 80.0], **options).flat()
    low = model.generate([20.0, 50.0, 80.0], precision="bf16", **options).flat()
    assert low.dtype == np.float32
    assert not np.array_equal(low, full)  # bfloat16 arithmetic did run
    np.testing.assert_allclose(low.sum(axis=1), full.sum(axis=1), rtol=0.05)
    np.testing.assert_allclose(low.max(axis=1), full.max(axis=1), rtol=0.05)
    with pytest.raises(calogeo.CalogeoError, match="precision"):
        model.generate([20.0], precision="fp16", **options)


def test_the_inference_generator_is_rebuilt_only_when_a_weight_changes(tiny_grid):
    model = calogeo.get_model("gan3d").build(
        tiny_grid, size="small", latent=4, gen_filters=[2, 2, 2], disc_filters=[2, 2, 2, 2]
    )
    model.fit_normalisation(blob_showers(tiny_grid, 8, seed=5))
    first = model.generation_networks()["generator"]
    assert model.generation_networks()["generator"] is first
    with torch.no_grad():
        model.nets["generator"].towers[0].dense.bias.add_(1.0)
    second = model.generation_networks()["generator"]
    assert second is not first
    z, cond = torch.randn(3, 4), _conditions(3, 2)
    with torch.inference_mode():  # the rebuilt form has the changed bias
        changed = model.nets["generator"].eval()(z, cond)
        for a, b in zip(changed, second(z, cond), strict=True):
            torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)
