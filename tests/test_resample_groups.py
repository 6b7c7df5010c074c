"""Resampling one group of layers and carrying the others: ``calogeo resample --layers ECAL``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest

from calogeo import CalogeoError, Geometry, get_geometry, read_showers
from calogeo.cli import main
from calogeo.energy_scale import convert_layers
from calogeo.resample import Resampler
from calogeo.resample.groups import GroupResampler, group_slice, split_geometry

N = 3


@pytest.fixture
def lcd_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CLIC/LCD large-window file (ECAL 51x51x25 + HCAL 11x11x60) of N pion-like events:
    energy around the window centre in both arrays."""
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    path = tmp_path / "large.h5"
    with h5py.File(path, "w") as f:
        ecal = np.zeros((N, 51, 51, 25), dtype=np.float32)
        ecal[:, 20:31, 20:31] = rng.exponential(0.05, (N, 11, 11, 25))
        f["ECAL"] = ecal
        f["HCAL"] = rng.exponential(0.2, (N, 11, 11, 60)).astype(np.float32)
        f["energy"] = np.array([20.0, 50.0, 80.0], dtype=np.float32)
        f["pdgID"] = np.full(N, 211)
    return path


def test_layers_ecal_to_atlas_carries_the_hcal_bit_identical(lcd_large: Path, capsys) -> None:
    """``--layers ECAL --to atlas``: ATLAS's three layers, then the 60 HCAL layers exactly as
    read; the ECAL energy is moved by the ECAL-only resampler and the HCAL keeps its gap."""
    out = lcd_large.with_name("out.h5")
    assert (
        main(["resample", str(lcd_large), "--layers", "ECAL", "--to", "atlas", "-o", str(out)]) == 0
    )
    assert "carried over unchanged" in capsys.readouterr().out
    source = read_showers(lcd_large)
    result = read_showers(out)
    atlas = get_geometry("atlas")
    geometry = result.geometry
    assert geometry.name == "atlas+clic_large.HCAL"
    assert [ly.name for ly in geometry.layers[:3]] == [ly.name for ly in atlas.layers]
    assert geometry.groups == ["ECAL", "HCAL"]
    for carried, original in zip(result.layers[3:], source.layers[25:], strict=True):
        assert carried.tobytes() == original.tobytes()
    # Depths: the HCAL front keeps its distance to the ECAL back (197 - 129.2 mm in clic_large).
    gap = source.geometry.layers[25].z_front_mm - source.geometry.layers[24].z_back_mm
    assert geometry.layers[3].z_front_mm - atlas.layers[-1].z_back_mm == pytest.approx(gap)
    assert geometry.layers[3].thickness_mm == pytest.approx(source.geometry.layers[25].thickness_mm)
    # The ECAL block is what the resampler of the ECAL layers alone gives.
    _, ecal = split_geometry(source.geometry, ["ECAL"])
    expected = Resampler(ecal, atlas, cache=False).apply_array(source.flat()[:, : ecal.n_cells])
    np.testing.assert_allclose(result.flat()[:, : atlas.n_cells], expected, rtol=1e-6)
    moved = result.flat()[:, : atlas.n_cells].sum(axis=1)
    assert np.all(moved > 0.5 * source.flat()[:, : ecal.n_cells].sum(axis=1))


def test_round_trip_gives_the_source_geometry(lcd_large: Path) -> None:
    """With ``round_trip`` the output is on the source geometry: ECAL arrays of the source
    shape with ATLAS granularity, HCAL untouched; the bookkeeping covers the ECAL layers."""
    source = read_showers(lcd_large)
    resampler = GroupResampler(source.geometry, get_geometry("atlas"), ["ECAL"], round_trip=True)
    assert resampler.output_geometry == source.geometry
    result = resampler.apply(source)
    for carried, original in zip(result.layers[25:], source.layers[25:], strict=True):
        assert carried.tobytes() == original.tobytes()
    books = resampler.bookkeeping(source)  # of the ECAL layers only, in deposited energy
    deposited = convert_layers(source.geometry, source.layers, "visible", "deposited")[:25]
    ecal_in = sum(layer.sum(axis=(1, 2), dtype=np.float64) for layer in deposited)
    np.testing.assert_allclose(books["energy_in"], ecal_in, rtol=1e-6)
    np.testing.assert_allclose(
        books["energy_out"] + books["edge_loss"], books["energy_in"], rtol=1e-9
    )
    assert not np.allclose(result.layers[10], source.layers[10])


def test_a_group_behind_is_resampled_and_the_front_carried(tmp_path, monkeypatch) -> None:
    """Resampling the HCAL of clic onto clic's own ECAL window: the ECAL is carried in front,
    the target block starts where the HCAL started, and clashing layer names get the target's
    name as prefix."""
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))
    clic = get_geometry("clic")
    _, ecal = split_geometry(clic, ["ECAL"])
    resampler = GroupResampler(clic, ecal, ["HCAL"])
    out = resampler.output_geometry
    assert out.n_layers == 50
    assert [ly.name for ly in out.layers[:25]] == [ly.name for ly in clic.layers[:25]]
    assert out.layers[25].name == f"{ecal.name}.ecal00"
    assert out.layers[25].z_front_mm == pytest.approx(clic.layers[25].z_front_mm)
    assert out.name == f"{ecal.name}+clic.ECAL"


def test_group_selection_is_checked() -> None:
    clic = get_geometry("clic")
    assert group_slice(clic, ["HCAL"]) == slice(25, 85)
    assert group_slice(clic, ["ECAL", "HCAL"]) == slice(0, 85)
    with pytest.raises(CalogeoError, match="no layer group TILE; its groups: ECAL, HCAL"):
        group_slice(clic, ["TILE"])
    layers = clic.layers[:3]
    mixed = Geometry("mixed", [layers[0], dataclasses.replace(layers[1], group="HCAL"), layers[2]])
    with pytest.raises(CalogeoError, match="ECAL are not consecutive"):
        group_slice(mixed, ["ECAL"])
