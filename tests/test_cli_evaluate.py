"""``calogeo evaluate`` and ``calogeo plot`` on small files the tests write themselves."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calogeo import Showers, geometry_from_spec, write_showers
from calogeo.cli import main
from calogeo.predictions import Predictions

SPEC = """
name = "{name}"
title = "toy"
citation = "test"
distance_from_ip_mm = 1000.0
[[layers]]
name = "layer"
repeat = {layers}
thickness_mm = 5.0
material = "W"
layout = {{ type = "grid", pitch_mm = [5.0, 5.0], shape = [{rows}, 5] }}
"""


def showers_file(path, seed, width=1.0, rows=5, name="toy", n=120, layers=3):
    geometry = geometry_from_spec(SPEC.format(name=name, rows=rows, layers=layers))
    rng = np.random.default_rng(seed)
    energy = rng.uniform(5, 50, n)
    centres = geometry.cell_centres_mm()
    profile = np.exp(-(centres[:, 0] ** 2 + centres[:, 1] ** 2) / (2 * (5.0 * width) ** 2))
    cells = energy[:, None] * profile / profile.sum() * rng.gamma(10, 0.1, (n, geometry.n_cells))
    pdg = np.where(rng.random(n) < 0.5, 22, 111)
    write_showers(path, Showers.from_flat(geometry, cells, energy, {"pdg": pdg}))
    return path


def predictions_file(path, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    energy = rng.uniform(2, 200, n)
    label = rng.integers(0, 2, n)
    score = 1 / (1 + np.exp(-(2 * label - 1) * 1.5 - rng.normal(0, 1, n)))
    predicted = energy * (1 + rng.normal(0, 0.1 / np.sqrt(energy) + 0.01, n))
    Predictions(energy, predicted, label, score, model="toy").save(path)
    return path


def test_fidelity_evaluation_writes_summary_and_plots(tmp_path, capsys):
    ref = showers_file(tmp_path / "ref.h5", 1)
    gen = showers_file(tmp_path / "gen.h5", 2, width=1.3)
    out = tmp_path / "fidelity"
    code = main(
        [
            "evaluate",
            str(ref),
            str(gen),
            "-o",
            str(out),
            "--metrics",
            "histograms,energy_spectrum,correlations",
            "--observables",
            "e_total,x_width_mm,r9,n_hits,z_mean_x0",
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["metrics"]) == {"histograms", "energy_spectrum", "correlations"}
    assert summary["geometry"] == "toy"
    histograms = json.loads((out / "histograms.json").read_text())
    assert histograms["tables"]["observables"]["observable"][0] == "e_total"
    assert len(histograms["tables"]["observables"]["observable"]) == 5
    for name in (
        "histograms.json",
        "histograms.png",
        "correlations_1.png",
        "observables_1.png",
        "layers_reference.png",
        "layers_generated.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert not list(tmp_path.glob(".fidelity.partial*"))
    assert "histograms" in capsys.readouterr().out


def test_mismatched_geometries_fail_cleanly(tmp_path, capsys):
    ref = showers_file(tmp_path / "ref.h5", 1)
    other = showers_file(tmp_path / "other.h5", 2, rows=7, name="other")
    out = tmp_path / "out"
    assert main(["evaluate", str(ref), str(other), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "'toy'" in err
    assert "'other'" in err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.partial*"))


def test_predictions_evaluation(tmp_path):
    pred = predictions_file(tmp_path / "pred.h5")
    out = tmp_path / "eval"
    assert main(["evaluate", str(pred), "-o", str(out), "--bins", "2,20,200"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    kinds = {v["kind"] for v in summary["metrics"].values()}
    assert kinds == {"classification", "regression"}
    resolution = json.loads((out / "resolution.json").read_text())
    assert len(resolution["tables"]["energy"]["centre"]) == 2
    assert (out / "roc_auc_1.png").exists()
    assert (out / "resolution.png").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metrics", "roc_acu"], "did you mean 'roc_auc'"),
        (["--metrics", "histograms"], "fidelity metric cannot be computed"),
        (["--bins", "10,5"], "--bins"),
        (["--bins", "many"], "--bins"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, args, message):
    pred = predictions_file(tmp_path / "pred.h5", n=200)
    assert main(["evaluate", str(pred), "-o", str(tmp_path / "x"), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_bad_inputs(tmp_path, capsys):
    shower = showers_file(tmp_path / "s.h5", 1)
    assert main(["evaluate", str(shower), "-o", str(tmp_path / "x")]) == 1
    assert "not a predictions file" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.h5"), "-o", str(tmp_path / "x")]) == 1
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "m.pt").write_bytes(b"")
    assert main(["evaluate", str(tmp_path / "m.pt"), "-o", str(tmp_path / "x")]) == 1
    assert "--data" in capsys.readouterr().err


def test_model_checkpoint_is_evaluated_on_test_showers(tmp_path):
    from calogeo import get_model, read_showers

    train = read_showers(showers_file(tmp_path / "train.h5", 5, n=200))
    model = get_model("bdt").build(
        train.geometry, size="small", signal="gamma", background="pi0", task="both"
    )
    model.fit(train)
    checkpoint = model.save(tmp_path / "bdt.pt")
    test = showers_file(tmp_path / "test.h5", 6, n=200)
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                str(checkpoint),
                "--data",
                str(test),
                "-o",
                str(out),
                "--metrics",
                "roc_auc,bias",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert (out / "predictions.h5").exists()
    assert Predictions.load(out / "predictions.h5").model == "bdt"
    assert set(json.loads((out / "summary.json").read_text())["metrics"]) == {"roc_auc", "bias"}


def test_plot_modes(tmp_path, capsys):
    a = showers_file(tmp_path / "a.h5", 1)
    b = showers_file(tmp_path / "b.h5", 2)
    pred = predictions_file(tmp_path / "pred.h5")
    pred2 = predictions_file(tmp_path / "pred2.h5", seed=1)
    commands = {
        "layers.png": ["layers", str(a), "--event", "3"],
        "average.png": ["layers", str(a)],
        "obs.png": [
            "observables",
            str(a),
            str(b),
            "--observables",
            "e_total,r9",
            "--labels",
            "ref,gen",
        ],
        "roc.png": ["roc", str(pred), str(pred2)],
        "res.png": ["resolution", str(pred), "--bins", "5"],
    }
    for name, args in commands.items():
        assert main(["plot", *args, "-o", str(tmp_path / name)]) == 0, name
        assert (tmp_path / name).stat().st_size > 10_000, name
    assert main(["plot", "layers", str(a), "--event", "999", "-o", str(tmp_path / "x.png")]) == 1
    assert "out of range" in capsys.readouterr().err
    assert main(["plot", "roc", str(a), "-o", str(tmp_path / "x.png")]) == 1
    assert "not a calogeo predictions file" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_per_layer_observables_of_many_layers(tmp_path):
    ref = showers_file(tmp_path / "ref.h5", 1, layers=12)
    gen = showers_file(tmp_path / "gen.h5", 2, width=1.3, layers=12)
    out = tmp_path / "per_layer"
    assert (
        main(
            [
                "evaluate",
                str(ref),
                str(gen),
                "-o",
                str(out),
                "--metrics",
                "histograms",
                "--per-layer",
            ]
        )
        == 0
    )
    rows = json.loads((out / "histograms.json").read_text())["tables"]["observables"]
    names = rows["observable"]
    assert {"e_layer[11]", "x_mean_mm[11]", "y_width_mm[0]", "occupancy[5]"} <= set(names)
    assert not [n for n in names if "sparsity" in n]
    assert len(list(out.glob("observables_*.png"))) == 3  # event-level pages only
    assert (out / "histograms_2.png").exists()  # separation power by layer
    summary = json.loads((out / "summary.json").read_text())
    assert summary["observables"]["per_layer"] is True
    assert summary["observables"]["empty_layers"] == "zero"
    named = tmp_path / "named"
    args = ["--metrics", "histograms", "--observables", "x_mean_mm[layer11],e_layer[*]"]
    assert main(["evaluate", str(ref), str(gen), "-o", str(named), *args]) == 0
    rows = json.loads((named / "histograms.json").read_text())["tables"]["observables"]
    assert rows["observable"] == ["x_mean_mm[11]"] + [f"e_layer[{i}]" for i in range(12)]
    assert (named / "observables_1.png").exists()


def test_cell_threshold_options(tmp_path, capsys):
    from calogeo import read_showers
    from calogeo.observables import mip_energy_gev

    ref = showers_file(tmp_path / "ref.h5", 1)
    gen = showers_file(tmp_path / "gen.h5", 2)
    out = tmp_path / "mip"
    base = ["evaluate", str(ref), str(gen), "--metrics", "histograms", "--observables", "n_hits"]
    assert main([*base, "-o", str(out), "--threshold-mip", "0.5"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    mip = mip_energy_gev(read_showers(ref).geometry)
    assert summary["observables"]["cell_threshold_gev"] == pytest.approx(0.5 * mip)
    result = json.loads((out / "histograms.json").read_text())
    assert result["meta"]["cell_threshold_gev"] == pytest.approx(0.5 * mip)
    out = tmp_path / "mev"
    published = ["--range", "n_hits=0:80:40", "--range", "x_mean_mm=-30:30"]
    assert main([*base, "-o", str(out), "--threshold-mev", "20", *published]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["observables"]["cell_threshold_gev"] == pytest.approx([0.02] * 3)
    rows = json.loads((out / "histograms.json").read_text())["tables"]["observables"]
    assert (rows["binning"][0], rows["lo"][0], rows["hi"][0], rows["n_bins"][0]) == (
        "given range",
        0.0,
        80.0,
        40,
    )
    assert main([*base, "-o", str(out), "--range", "n_hits=5:1"]) == 1
    assert "--range" in capsys.readouterr().err
    assert main([*base, "-o", str(out), "--threshold-mev", "-1"]) == 1
    assert "--threshold-mev" in capsys.readouterr().err
    assert main([*base, "-o", str(out), "--observables", "e_layer[7]"]) == 1
    assert "no layer '7'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "-o", str(out), "--threshold-mev", "1", "--threshold-mip", "1"])


def test_observables_are_computed_once_per_file(tmp_path, monkeypatch):
    from calogeo import observables

    calls = []
    table = observables.table

    def counting(showers, **options):
        calls.append(len(showers))
        return table(showers, **options)

    monkeypatch.setattr(observables, "table", counting)
    ref = showers_file(tmp_path / "ref.h5", 1)
    gen = showers_file(tmp_path / "gen.h5", 2, width=1.3)
    metrics = "histograms,correlations,fpd_kpd,response_vs_energy"
    assert (
        main(["evaluate", str(ref), str(gen), "-o", str(tmp_path / "o"), "--metrics", metrics]) == 0
    )
    assert len(calls) == 2
