"""The MIP scale of a layer: Landau-Vavilov most probable loss in the active medium (PDG
Eq. 34.12), used by shower_start, evaluate --threshold-mip and simulate --threshold-mip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import calogeo
from calogeo.cli import main
from calogeo.materials import (
    K_MEV_CM2_MOL,
    STANDARD_MATERIALS,
    Material,
    landau_mpv_mev,
    mip_scale,
)
from calogeo.observables import mip_energy_gev
from calogeo.spec import geometry_from_spec

S = STANDARD_MATERIALS


def test_most_probable_loss_in_silicon() -> None:
    # 300 um of silicon: the most probable loss of a MIP is ~0.7 of the mean (PDG Fig. 34.8:
    # Delta_p/x ~ 1.1 MeV cm2/g at 320 um against the mean 1.664) and grows less than linearly.
    si = S["Si"]
    mpv = landau_mpv_mev(si, 0.3)
    mean = si.mip_mev_per_mm * 0.3
    assert 0.64 < mpv / mean < 0.72
    assert 1.05 < mpv / (0.03 * si.density_g_cm3) < 1.2
    assert landau_mpv_mev(si, 0.6) / 0.6 > mpv / 0.3


def test_losses_in_consecutive_slices_add_like_one_slice() -> None:
    # Landau: Delta_p(n x) = n Delta_p(x) + n xi(x) ln n at fixed beta gamma (xi of Eq. 34.12).
    lar, bg = S["LAr"], 3.5
    beta2 = bg**2 / (1 + bg**2)
    xi = 0.5 * K_MEV_CM2_MOL * lar.z_over_a * 0.1 * 4.0 * lar.density_g_cm3 / beta2
    n = 15
    expected = n * landau_mpv_mev(lar, 4.0, bg) + n * xi * math.log(n)
    assert landau_mpv_mev(lar, n * 4.0, bg) == pytest.approx(expected, rel=1e-12)


SPEC = """
name = "ahcal_like"
title = "steel / scintillator"
citation = "test"
distance_from_ip_mm = 2000.0
[materials.period]
slices = [["Fe", 20.0], ["polystyrene", 3.0], ["air", 3.5]]
[materials.pb_lar]
slices = [["Pb", 2.0], ["LAr", 4.0]]
[[layers]]
name = "hcal"
repeat = 2
thickness_mm = 26.5
material = "period"
active = "polystyrene"
layout = { type = "grid", pitch_mm = [30.0, 30.0], shape = [3, 3] }
[[layers]]
name = "thick"
thickness_mm = 90.0
material = "pb_lar"
active = "LAr"
layout = { type = "grid", pitch_mm = [30.0, 30.0], shape = [3, 3] }
[[layers]]
name = "crystal"
thickness_mm = 230.0
material = "PbWO4"
layout = { type = "grid", pitch_mm = [22.0, 22.0], shape = [3, 3] }
[[layers]]
name = "quoted"
thickness_mm = 10.0
material = "pb_lar"
sampling_fraction = 0.2
layout = { type = "grid", pitch_mm = [30.0, 30.0], shape = [3, 3] }
"""


def test_layer_mip_is_the_most_probable_loss_in_its_active_medium() -> None:
    g = geometry_from_spec(SPEC)
    mip = mip_energy_gev(g) * 1e3  # MeV
    # One period: the most probable loss in its 3 mm of scintillator (~0.47 MeV; the ILD
    # AHCAL's 0.5 MIP threshold is quoted as ~0.25 MeV), not the mean 0.62 MeV.
    assert mip[0] == pytest.approx(landau_mpv_mev(S["polystyrene"], 3.0))
    assert 0.44 < mip[0] < 0.50
    assert mip[1] == mip[0]
    # 90 mm = 15 periods: the loss in 60 mm of LAr together.
    assert mip[2] == pytest.approx(landau_mpv_mev(S["LAr"], 60.0))
    assert mip[2] < S["LAr"].mip_mev_per_mm * 60.0
    # Homogeneous: the whole crystal is active.
    assert mip[3] == pytest.approx(landau_mpv_mev(S["PbWO4"], 230.0))
    # A quoted sampling fraction without an active slice: the mean-loss estimate, flagged.
    quoted = mip_scale(g.layers[4].material, 10.0, 0.2)
    assert quoted.method == "mean"
    assert mip[4] == pytest.approx(g.layers[4].material.mip_mev_per_mm * 10.0 * 0.2)


def test_direct_material_without_loss_data_falls_back_to_the_mean() -> None:
    m = Material.from_lengths(
        "quoted", x0_mm=8.9, rm_mm=21.9, lambda_i_mm=203.0, density_g_cm3=8.28, z=68,
        dedx_min_mev_cm2_g=1.229,
    )  # fmt: skip
    scale = mip_scale(m, 230.0)
    assert scale.method == "mean"
    assert scale.visible_mev == pytest.approx(m.mip_mev_per_mm * 230.0)


TINY = """
name = "tiny_w_si"
title = "small W/Si stack"
citation = "test"
distance_from_ip_mm = 1500.0
stochastic_term = 0.17
[materials.period]
slices = [["W", 2.4], ["Si", 0.5], ["G10", 0.8]]
[[layers]]
name = "layer"
repeat = 6
thickness_mm = 7.4
material = "period"
active = "Si"
layout = { type = "grid", pitch_mm = [5.0, 5.0], shape = [9, 9] }
"""


def test_simulate_threshold_mip_zeroes_cells_below_n_mips(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY, encoding="utf-8")
    common = ["simulate", "--geometry", str(spec), "--particle", "e-", "--energy", "5"]
    common += ["-n", "20", "--seed", "4"]
    assert main([*common, "-o", str(tmp_path / "all.h5")]) == 0
    assert main([*common, "--threshold-mip", "2", "-o", str(tmp_path / "cut.h5")]) == 0
    full = calogeo.read_showers(tmp_path / "all.h5")
    cut = calogeo.read_showers(tmp_path / "cut.h5")
    mip = mip_energy_gev(full.geometry)
    below = 0
    for i, (a, b) in enumerate(zip(full.layers, cut.layers, strict=True)):
        keep = a >= 2 * mip[i]
        below += int(np.count_nonzero((a > 0) & ~keep))
        np.testing.assert_array_equal(b, np.where(keep, a, 0.0))
    assert below > 0


def test_simulate_threshold_options_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--geometry", "x.toml", "--particle", "e-", "--energy", "5",
              "--threshold-mev", "1", "--threshold-mip", "1", "-o", str(tmp_path / "x.h5")])  # fmt: skip
    assert exc.value.code == 2


def test_a_written_spec_keeps_the_mip_scale() -> None:
    # Geometries built in Python are stored with a generated spec: sampling structures stay
    # slices of direct materials that carry <Z/A>, I and the density effect, so the MIP scale
    # (and X0, R_M, sampling fractions) come back the same.
    g = geometry_from_spec(SPEC)
    built = calogeo.Geometry("copy", g.layers, distance_from_ip_mm=2000.0)
    back = geometry_from_spec(built.spec_text)
    np.testing.assert_allclose(mip_energy_gev(back), mip_energy_gev(g), rtol=1e-9)
    for a, b in zip(g.layers, back.layers, strict=True):
        assert b.material.x0_mm == pytest.approx(a.material.x0_mm, rel=1e-9)
        assert b.material.rm_mm == pytest.approx(a.material.rm_mm, rel=1e-9)
        assert (b.sampling_fraction or 0) == pytest.approx(a.sampling_fraction or 0, rel=1e-9)
        assert b.material.active == a.material.active
    assert back.layers[0].material.active == "polystyrene"


def test_direct_materials_take_loss_data_and_active_with_a_quoted_fraction() -> None:
    text = (
        SPEC.replace('name = "quoted"', 'name = "quoted"\nactive = "LAr"')
        + """
[materials.crystal]
x0_mm = 8.9
rm_mm = 21.9
lambda_i_mm = 203.0
density_g_cm3 = 8.28
z = 68.4
dedx_min_mev_cm2_g = 1.229
z_over_a = 0.4130535
mean_excitation_ev = 600.7
[[layers]]
name = "cms_like"
thickness_mm = 230.0
material = "crystal"
layout = { type = "grid", pitch_mm = [22.0, 22.0], shape = [3, 3] }
"""
    )
    g = geometry_from_spec(text)
    quoted = g.layers[4]
    assert quoted.sampling_fraction == 0.2
    assert mip_energy_gev(g)[4] == pytest.approx(landau_mpv_mev(S["LAr"], 10.0 * 4.0 / 6.0) * 1e-3)
    scale = mip_scale(g.layers[5].material, 230.0)
    assert scale.method == "landau"
    assert scale.visible_mev == pytest.approx(
        landau_mpv_mev(S["PbWO4"], 230.0 * 8.28 / 8.30), rel=0.02
    )
    bad = text.replace("mean_excitation_ev = 600.7\n", "")
    with pytest.raises(calogeo.errors.SpecError, match="give z_over_a and mean_excitation_ev"):
        geometry_from_spec(bad)
