"""The metrics plugin: hand-computed statistics, classification and regression metrics, the
MetricResult round trip and the registry."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from calogeo_metrics import _stats
from scipy import stats

from calogeo import get_metric, list_metrics
from calogeo.binning import quantile_edges
from calogeo.metric import KINDS, MetricResult, PredictionMetric
from calogeo.predictions import Predictions


def mann_whitney_auc(label, score):
    """P(score_signal > score_background) + 1/2 P(equal), by brute force over all pairs."""
    pos, neg = score[label == 1], score[label == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_roc_auc_matches_pair_counting_with_ties():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 60)
    score = np.round(rng.random(60) + 0.3 * label, 1)  # rounding makes ties
    fpr, tpr, _ = _stats.roc_curve(label, score)
    assert fpr[0] == tpr[0] == 0.0
    assert fpr[-1] == tpr[-1] == 1.0
    assert np.all(np.diff(fpr) >= 0)
    assert _stats.auc(fpr, tpr) == pytest.approx(mann_whitney_auc(label, score))


def test_roc_of_a_hand_example():
    label = np.array([1, 0, 1, 0])
    score = np.array([0.9, 0.8, 0.7, 0.1])
    fpr, tpr, thr = _stats.roc_curve(label, score)
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1.0])
    assert _stats.auc(fpr, tpr) == 0.75
    # 50% signal efficiency is reached with no background: infinite rejection
    assert _stats.rejection_at_efficiency(fpr, tpr, 0.5) == math.inf
    assert _stats.rejection_at_efficiency(fpr, tpr, 1.0) == 2.0
    assert _stats.accuracy(label, score, 0.5) == 0.75
    assert _stats.accuracy(label, score, 0.75) == 0.5
    assert thr[1] == 0.9


def test_sigma90_on_known_distributions():
    # ten evenly spaced values and a far outlier: the narrowest 90% window drops the outlier
    x = np.r_[np.arange(10.0), 1000.0]
    mu, sigma, mu_err, sigma_err = _stats.sigma90(x)
    assert mu == pytest.approx(4.5)
    assert sigma == pytest.approx(np.std(np.arange(10.0)))
    assert mu_err == pytest.approx(sigma / math.sqrt(10))
    assert sigma_err == pytest.approx(sigma / math.sqrt(20))
    # a Gaussian: the window is +-1.645 sigma, its RMS that of the truncated Gaussian
    z = stats.norm.ppf(0.95)
    truncated = math.sqrt(1 - 2 * z * stats.norm.pdf(z) / 0.9)
    sample = np.random.default_rng(1).normal(5.0, 2.0, 200_000)
    mu, sigma, _, _ = _stats.sigma90(sample)
    assert mu == pytest.approx(5.0, abs=0.02)
    assert sigma == pytest.approx(2.0 * truncated, rel=0.01)


def test_iqr_resolution_of_a_gaussian():
    sample = np.random.default_rng(2).normal(1.0, 0.1, 200_000)
    assert _stats.iqr_resolution(sample) == pytest.approx(0.1, rel=0.01)


def test_resolution_fit_recovers_parameters():
    energy = np.geomspace(2.0, 500.0, 12)
    truth = (0.15, 0.01, 0.2)
    resolution = _stats.resolution_model(energy, *truth)
    error = 0.01 * resolution
    noisy = resolution + np.random.default_rng(3).normal(0, 1, len(energy)) * error
    fit = _stats.fit_resolution(energy, noisy, error)
    for name, value in zip("abc", truth, strict=True):
        assert fit[name] == pytest.approx(value, abs=4 * fit[f"{name}_err"] + 1e-3)
        assert fit[f"{name}_err"] > 0
    assert fit["chi2_ndf"] < 5
    assert math.isnan(_stats.fit_resolution(energy[:3], noisy[:3], error[:3])["a"])


def test_separation_power_limits():
    h = np.array([0.2, 0.3, 0.5, 0.0])
    assert _stats.separation_power(h, h) == 0.0
    assert _stats.separation_power(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    a, b = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    assert _stats.separation_power(a, b) == pytest.approx(0.5 * (0.25 / 1.5 + 0.25 / 0.5))


def test_kl_moments_and_distances():
    p = np.array([1.0, 3.0])
    assert _stats.kl_divergence(p, p) == 0.0
    assert _stats.kl_divergence(p, np.array([1.0, 1.0])) == pytest.approx(
        0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    )
    bias = _stats.moment_relative_bias(np.array([1.0, 3.0]), np.array([2.0, 2.0]))
    np.testing.assert_allclose(bias, [0.0, 4 / 5 - 1, 8 / 14 - 1])
    a = np.random.default_rng(4).normal(0, 1, 500)
    assert _stats.wasserstein(a, a + 0.5) == pytest.approx(0.5)
    assert _stats.ks_statistic(a, a) == 0.0
    assert _stats.ks_statistic(a, a + 100) == 1.0


def test_frechet_and_kernel_distances():
    x = np.random.default_rng(5).normal(0, 1, (2000, 3))
    assert _stats.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    shift = np.array([0.3, 0.0, -0.4])
    assert _stats.frechet_distance(x, x + shift) == pytest.approx(0.25, rel=1e-6)
    # scaled covariance: Tr(C + 4C - 2 (4 C^2)^(1/2)) = Tr(C) for C = 1
    assert _stats.frechet_distance(x, 2 * x) == pytest.approx(3.0, rel=0.05)
    # a constant column (a degenerate generator) gives its finite, exact distance
    flat = x.copy()
    flat[:, 1] = 0.5
    assert _stats.frechet_distance(x, flat) == pytest.approx(0.25 + 1.0, rel=0.05)
    y = np.random.default_rng(6).normal(0, 1, (2000, 3))
    kpd_same, err_same = _stats.kernel_distance(x, y, subset=500)
    kpd_far, _ = _stats.kernel_distance(x, y + 1.0, subset=500)
    assert abs(kpd_same) < 5 * err_same + 1e-3
    assert kpd_far > 50 * max(err_same, 1e-4)


def test_bin_edges():
    np.testing.assert_allclose(_stats.bin_edges(np.array([1.0, 1000.0]), 3)[:3], [1, 10, 100])
    assert len(_stats.bin_edges(np.array([1.0, 2.0]))) == 9
    np.testing.assert_allclose(_stats.bin_edges(np.array([5.0, 5.0])), [2.5, 7.5])
    np.testing.assert_allclose(_stats.bin_edges(np.ones(3), np.array([0.0, 2.0])), [0, 2])
    edges = quantile_edges(np.array([0.0, 1.0, 2.0]), np.array([3.0]))
    np.testing.assert_allclose(edges, [-0.5, 0.5, 1.5, 2.5, 3.5])


# -- metrics on predictions --------------------------------------------------------------------


def synthetic_predictions(n=4000, seed=0, a=0.15):
    rng = np.random.default_rng(seed)
    energy = np.exp(rng.uniform(np.log(2.0), np.log(500.0), n))
    label = rng.integers(0, 2, n)
    score = 1.0 / (1.0 + np.exp(-(2 * label - 1) * 2.0 - rng.normal(0, 1, n)))
    resolution = _stats.resolution_model(energy, a, 0.01, 0.2)
    predicted = energy * (1.0 + rng.normal(0, 1, n) * resolution)
    return Predictions(
        energy,
        predicted,
        label,
        score,
        theta=rng.uniform(1.0, 2.0, n),
        model="toy",
        signal="gamma",
        background="pi0",
    )


def test_classification_metrics_overall_and_per_bin():
    p = synthetic_predictions()
    auc = get_metric("roc_auc")(energy_bins=4).compute(p)
    assert auc.values["auc"] == pytest.approx(
        mann_whitney_auc(p.label[:300], p.score[:300]), abs=0.05
    )
    assert len(auc.tables["energy"]["auc"]) == 4
    assert "theta" in auc.tables
    assert auc.tables["roc"]["signal_efficiency"][-1] == 1.0
    rejection = get_metric("rejection")(signal_efficiency=0.9).compute(p)
    fpr, tpr, _ = _stats.roc_curve(p.label, p.score)
    assert rejection.values["rejection"] == pytest.approx(1 / fpr[np.argmax(tpr >= 0.9)], rel=0.02)
    accuracy = get_metric("accuracy")().compute(p)
    assert accuracy.values["accuracy"] == pytest.approx(np.mean((p.score > 0.5) == (p.label == 1)))


def test_unknown_labels_are_ignored_and_single_class_bins_are_nan():
    p = synthetic_predictions(n=400)
    p.label[:100] = -1
    result = get_metric("roc_auc")(energy_bins=np.array([0.0, 1.0, 1000.0]), min_entries=1)
    out = result.compute(p)
    assert out.meta["events"] == 300
    p.label[p.incident_energy < 20] = 1
    per_bin = get_metric("accuracy")(energy_bins=np.array([1.0, 20.0, 600.0])).compute(p)
    assert per_bin.tables["energy"]["n"] == [
        float(np.sum((p.incident_energy < 20) & (p.label >= 0))),
        float(np.sum((p.incident_energy >= 20) & (p.label >= 0))),
    ]
    low = get_metric("roc_auc")(energy_bins=np.array([1.0, 20.0, 600.0])).compute(p)
    assert math.isnan(low.tables["energy"]["auc"][0])


def test_regression_metrics_recover_the_truth():
    p = synthetic_predictions(n=60_000, seed=7)
    bias = get_metric("bias")(energy_bins=6).compute(p)
    assert abs(bias.values["median_bias"]) < 0.005
    assert all(
        abs(b) < 5 * e + 1e-3
        for b, e in zip(
            bias.tables["energy"]["mean_bias"], bias.tables["energy"]["mean_bias_err"], strict=True
        )
    )
    fit = get_metric("resolution")(energy_bins=10, fit="rms_resolution").compute(p)
    assert fit.values["fit_a"] == pytest.approx(0.15, abs=0.02)
    assert fit.values["fit_c"] == pytest.approx(0.2, abs=0.1)
    assert fit.values["fit_b"] < 0.02
    assert "fit" in fit.tables
    response = get_metric("response")().compute(p)
    assert response.values["median_response"] == pytest.approx(1.0, abs=0.005)
    moments = get_metric("energy_moments")().compute(p)
    assert abs(moments.values["moment1_relative_bias"]) < 0.01
    assert moments.values["kl_distance"] < 0.01


def test_exact_predictions_have_no_bias_and_refuse_bad_options():
    p = synthetic_predictions(n=500)
    exact = Predictions(p.incident_energy, p.incident_energy)
    result = get_metric("bias")().compute(exact)
    assert result.values["mean_bias"] == 0.0
    assert get_metric("resolution").applies(exact)
    assert not get_metric("roc_auc").applies(exact)
    with pytest.raises(ValueError, match="estimator"):
        get_metric("resolution")(fit="fwhm")


def test_metric_result_round_trips_through_json(tmp_path):
    import matplotlib.pyplot as plt

    p = synthetic_predictions(n=2000)
    for name in ("roc_auc", "rejection", "bias", "resolution", "energy_moments"):
        result = (
            get_metric(name)(energy_bins=5).compute(p)
            if name != "energy_moments"
            else (get_metric(name)().compute(p))
        )
        path = result.save(tmp_path / f"{name}.json")
        back = MetricResult.from_json(path.read_text())
        assert back.metric == name
        assert back.values.keys() == result.values.keys()
        for index in range(len(back.plots)):
            fig, ax = plt.subplots()
            back.plot(ax, index)
            assert ax.get_xlabel()
            plt.close(fig)
    nan = MetricResult("x", "fidelity", values={"v": math.nan})
    assert MetricResult.from_json(nan.to_json()).values["v"] != 0.0


def test_every_registered_metric_is_described():
    entries = list_metrics()
    assert {"roc_auc", "resolution", "histograms", "classifier"} <= {e.name for e in entries}
    for entry in entries:
        cls = entry.load()
        assert cls.kind in KINDS
        assert cls.source
        assert cls.description
        if cls.kind != "fidelity":
            assert issubclass(cls, PredictionMetric)


def test_predictions_save_and_load(tmp_path):
    p = synthetic_predictions(n=50)
    path = p.save(tmp_path / "pred.h5")
    back = Predictions.load(path)
    np.testing.assert_array_equal(back.score, p.score)
    assert back.signal == "gamma"
    assert back.eta is None
    assert "classification gamma vs pi0" in back.describe()
    assert not list(tmp_path.glob(".*partial*"))


def test_resolution_with_too_few_events_per_bin_has_no_fit_but_overall_values():
    rng = np.random.default_rng(1)
    energy = rng.uniform(10.0, 100.0, 30)  # 30 events over 10 bins: every bin under 20
    predictions = Predictions(
        incident_energy=energy, energy=energy * (1 + 0.1 * rng.normal(size=30))
    )
    result = get_metric("resolution")().compute(predictions)
    assert math.isnan(result.values["fit_a"])
    assert 0.05 < result.values["rms_resolution"] < 0.2


def test_too_few_events_per_bin_give_empty_columns_that_still_plot():
    import matplotlib.pyplot as plt

    p = synthetic_predictions(n=30)
    result = get_metric("resolution")(energy_bins=4, min_entries=20).compute(p)
    table = result.tables["energy"]
    assert table["n"] == []
    assert table["sigma90_over_mu90"] == []
    assert np.isfinite(result.values["sigma90_over_mu90"])
    fig, ax = plt.subplots()
    result.plot(ax, 0)
    plt.close(fig)
