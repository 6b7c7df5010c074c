"""``calogeo resample``: round-trips a file, reports the bookkeeping, refuses bad input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from calogeo import Showers, geometry_from_spec, read_showers, write_showers
from calogeo.cli import main
from calogeo.energy_scale import cell_sampling_fractions
from calogeo.resample import Resampler

SPEC = """
name = "{name}"
title = "{name}"
citation = "test"
distance_from_ip_mm = 1500.0
[materials.m]
x0_mm = 3.5
rm_mm = {rm}
lambda_i_mm = 99.0
density_g_cm3 = 19.3
z = 74.0
dedx_min_mev_cm2_g = 1.145
[[layers]]
name = "layer"
repeat = {repeat}
thickness_x0 = 2.0
material = "m"
layout = {{ type = "grid", pitch_mm = [{pitch}, {pitch}], shape = [{n}, {n}] }}
"""


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))
    fine = SPEC.format(name="fine", rm=9.3, repeat=4, pitch=5.1, n=9)
    coarse = SPEC.format(name="coarse", rm=9.3, repeat=2, pitch=15.3, n=3)
    (tmp_path / "coarse.toml").write_text(coarse)
    source = geometry_from_spec(fine)
    rng = np.random.default_rng(0)
    cells = rng.exponential(size=(50, source.n_cells)).astype(np.float32)
    showers = Showers.from_flat(source, cells, rng.uniform(1, 10, 50), {"pdg": np.full(50, 11)})
    write_showers(tmp_path / "in.h5", showers)
    return tmp_path, showers


@pytest.mark.parametrize("round_trip", [False, True])
def test_resample_writes_the_target_file_and_reports_energy_kept(files, capsys, round_trip):
    tmp, showers = files
    out = tmp / "out.h5"
    args = ["resample", str(tmp / "in.h5"), "--to", str(tmp / "coarse.toml"), "-o", str(out)]
    assert main([*args, "--batch-size", "7", *(["--round-trip"] if round_trip else [])]) == 0
    result = read_showers(out)
    target = geometry_from_spec((tmp / "coarse.toml").read_text())
    resampler = Resampler(showers.geometry, target, round_trip=round_trip)
    assert result.geometry == resampler.output_geometry
    np.testing.assert_allclose(result.flat(), resampler.apply_array(showers.flat()), rtol=1e-6)
    np.testing.assert_array_equal(result.incident_energy, showers.incident_energy)
    np.testing.assert_array_equal(result.labels["pdg"], 11)
    # The coarse window (45.9 mm, 4 X0) covers the fine one transversally but only half its
    # 8 X0 depth: every event keeps the energy of its first two layers.
    kept = showers.layer_energies()[:, :2].sum(axis=1) / showers.total_energy()
    text = capsys.readouterr().out
    assert f"wrote {out}: 50 showers" in text
    assert (
        f"mean {kept.mean():.4%}; lost most: event {kept.argmin()} keeps {kept.min():.4%}" in text
    )
    assert f"kept most: event {kept.argmax()} keeps {kept.max():.4%}" in text


def test_default_output_name_sits_beside_the_input(files):
    tmp, _ = files
    assert main(["resample", str(tmp / "in.h5"), "--to", str(tmp / "coarse.toml")]) == 0
    assert (tmp / "in_coarse.h5").exists()


def test_unknown_target_suggests_close_names(files, capsys):
    tmp, _ = files
    assert main(["resample", str(tmp / "in.h5"), "--to", "clic_ecall"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "unknown geometry 'clic_ecall'; did you mean 'clic_ecal'" in err


def test_a_file_with_wrong_shapes_is_refused_with_one_line_and_no_output(files, capsys):
    tmp, showers = files
    bad = tmp / "bad.h5"
    with h5py.File(tmp / "in.h5", "r") as src, h5py.File(bad, "w") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        dst.attrs["format_version"] = 1  # dense images per layer
        src.copy("incident_energy", dst)
        for name in (layer.name for layer in showers.geometry.layers):
            dst.create_dataset(f"layers/{name}", data=np.zeros((50, 8, 9), dtype=np.float32))
    assert (
        main(["resample", str(bad), "--to", str(tmp / "coarse.toml"), "-o", str(tmp / "o.h5")]) == 1
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "layers/layer00" in err
    assert "(50, 8, 9)" in err
    assert list(tmp.glob("o.h5*")) == []


def test_bad_options_are_refused(files, capsys):
    tmp, _ = files
    base = ["resample", str(tmp / "in.h5"), "--to", str(tmp / "coarse.toml")]
    assert main([*base, "--batch-size", "0"]) == 1
    assert "--batch-size" in capsys.readouterr().err
    assert main([*base, "--from", str(tmp / "coarse.toml")]) == 1
    assert "not on 'coarse'" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp / "in.h5")]) == 1
    assert "overwrite the input" in capsys.readouterr().err
    assert main(["resample", str(tmp / "missing.h5"), "--to", str(tmp / "coarse.toml")]) == 1
    assert "no such file" in capsys.readouterr().err


SAMPLED = """
[[layers]]
name = "thin"
repeat = 2
thickness_x0 = 1.0
material = "m"
sampling_fraction = {thin}
layout = {{ type = "grid", pitch_mm = [{pitch}, {pitch}], shape = [{n}, {n}] }}
[[layers]]
name = "thick"
repeat = 2
thickness_x0 = 2.0
material = "m"
sampling_fraction = {thick}
layout = {{ type = "grid", pitch_mm = [{pitch}, {pitch}], shape = [{n}, {n}] }}
"""


@pytest.mark.parametrize("scale", ["visible", "deposited"])
def test_the_energy_scale_is_chosen_and_the_bookkeeping_is_in_deposited_energy(
    tmp_path, monkeypatch, capsys, scale
):
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))
    head = SPEC.split("[[layers]]")[0]
    fine = head.format(name="fine", rm=9.3) + SAMPLED.format(thin=0.05, thick=0.025, pitch=5.1, n=9)
    coarse = head.format(name="coarse", rm=9.3) + SAMPLED.format(
        thin=0.2, thick=0.1, pitch=15.3, n=2
    )
    (tmp_path / "coarse.toml").write_text(coarse)
    source, target = geometry_from_spec(fine), geometry_from_spec(coarse)
    rng = np.random.default_rng(3)
    showers = Showers.from_flat(source, rng.exponential(size=(30, source.n_cells)), np.ones(30))
    write_showers(tmp_path / "in.h5", showers)
    out = tmp_path / "out.h5"
    args = ["resample", str(tmp_path / "in.h5"), "--to", str(tmp_path / "coarse.toml")]
    assert main([*args, "-o", str(out), "--batch-size", "8", "--energy-scale", scale]) == 0
    result = read_showers(out)
    expected = Resampler(source, target, output_scale=scale).apply_array(showers.flat())
    np.testing.assert_allclose(result.flat(), expected, rtol=1e-6)
    deposited = result.flat() / (cell_sampling_fractions(target) if scale == "visible" else 1)
    kept = deposited.sum(axis=1) / (showers.flat() / cell_sampling_fractions(source)).sum(axis=1)
    text = capsys.readouterr().out
    assert (
        f"mean {kept.mean():.4%}; lost most: event {kept.argmin()} keeps {kept.min():.4%}" in text
    )
    assert f"event {kept.argmax()} keeps {kept.max():.4%} of the deposited energy" in text
    with h5py.File(out) as f:
        assert '"energy_scale": "' + scale + '"' in f.attrs["metadata"]
