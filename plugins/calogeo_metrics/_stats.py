"""Statistics behind the metrics, written out by hand (numpy/scipy only, no scikit-learn).

Each function states its source; the tests check them against hand computations.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

__all__ = [
    "accuracy",
    "auc",
    "bin_edges",
    "fit_resolution",
    "frechet_distance",
    "iqr_resolution",
    "kernel_distance",
    "kl_divergence",
    "ks_statistic",
    "moment_relative_bias",
    "rejection_at_efficiency",
    "resolution_model",
    "roc_curve",
    "separation_power",
    "sigma90",
    "unit_histogram",
    "wasserstein",
]


# -- binning -----------------------------------------------------------------------------------


def bin_edges(values: np.ndarray, bins: int | np.ndarray | None = None) -> np.ndarray:
    """Edges for binning ``values`` (e.g. true energies in GeV).

    An array is used as given; an int ``n`` (default 8) spans the data range in ``n`` bins,
    log-spaced when the range covers more than a factor 10, else uniform. A single value
    gives one bin around it.
    """
    if bins is not None and not isinstance(bins, (int, np.integer)):
        return np.asarray(bins, dtype=np.float64)
    n = 8 if bins is None else int(bins)
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        pad = 0.5 * abs(lo) if lo else 0.5
        return np.array([lo - pad, hi + pad])
    hi = np.nextafter(hi, np.inf)
    if lo > 0 and hi / lo > 10:
        return np.geomspace(lo, hi, n + 1)
    return np.linspace(lo, hi, n + 1)


def unit_histogram(x: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, float]:
    """(unit-sum histogram of the finite values of ``x`` inside ``edges``, fraction of the
    finite values outside them). Values outside are not counted, as in the CaloChallenge
    histograms (numpy: the last bin includes its upper edge)."""
    x = x[np.isfinite(x)]
    h = np.histogram(x, edges)[0].astype(np.float64)
    inside = h.sum()
    outside = float(1.0 - inside / len(x)) if len(x) else 0.0
    return (h / inside if inside > 0 else h), outside


# -- classification ----------------------------------------------------------------------------


def roc_curve(label: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, threshold), one point per distinct score from
    the highest down, starting at (0, 0). ``label`` is 1 for signal, 0 for background."""
    order = np.argsort(-score, kind="stable")
    s, y = score[order], label[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # end of each group of equal scores
    tp, fp = np.cumsum(y)[last], np.cumsum(1.0 - y)[last]
    tpr = np.r_[0.0, tp / max(tp[-1], 1.0)]
    fpr = np.r_[0.0, fp / max(fp[-1], 1.0)]
    return fpr, tpr, np.r_[np.inf, s[last]]


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under the ROC curve (trapezoids; ties count one half, as Mann-Whitney's U)."""
    return float(np.sum(np.diff(fpr) * 0.5 * (tpr[1:] + tpr[:-1])))


def rejection_at_efficiency(fpr: np.ndarray, tpr: np.ndarray, efficiency: float) -> float:
    """Background rejection 1/eps_bkg at signal efficiency ``efficiency`` (ATLAS pion study:
    pi0 rejection at 90% pi+- efficiency): eps_bkg at the first ROC point reaching the
    efficiency, interpolated linearly from the point before it. Inf if eps_bkg is 0."""
    i = min(int(np.searchsorted(tpr, efficiency, side="left")), len(tpr) - 1)
    if i == 0 or tpr[i] == tpr[i - 1]:
        eps_bkg = float(fpr[i])
    else:
        t = (efficiency - tpr[i - 1]) / (tpr[i] - tpr[i - 1])
        eps_bkg = float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))
    return math.inf if eps_bkg <= 0 else 1.0 / eps_bkg


def accuracy(label: np.ndarray, score: np.ndarray, threshold: float = 0.5) -> float:
    """Fraction of events classified right with ``score > threshold`` meaning signal."""
    return float(np.mean((score > threshold) == (label == 1)))


# -- regression --------------------------------------------------------------------------------


def sigma90(x: np.ndarray) -> tuple[float, float, float, float]:
    """(mu90, sigma90, error of mu90, error of sigma90): mean and RMS of the narrowest window
    holding 90% of the entries (Thomson, NIM A611 (2009) 25); errors sigma90/sqrt(N90) and
    sigma90/sqrt(2 N90)."""
    x = np.sort(x[np.isfinite(x)])
    n = len(x)
    if n < 2:
        return math.nan, math.nan, math.nan, math.nan
    n90 = math.ceil(0.9 * n)
    widths = x[n90 - 1 :] - x[: n - n90 + 1]
    start = int(np.argmin(widths))
    window = x[start : start + n90]
    mu, sigma = float(window.mean()), float(window.std())
    return mu, sigma, sigma / math.sqrt(n90), sigma / math.sqrt(2 * n90)


def iqr_resolution(response: np.ndarray) -> float:
    """(q84.13 - q15.87) / 2 over the median of ``response`` (ATLAS pion study, IQR width)."""
    q16, q50, q84 = np.quantile(response[np.isfinite(response)], [0.1587, 0.5, 0.8413])
    return float((q84 - q16) / 2.0 / q50)


def resolution_model(energy: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """sigma/E = a/sqrt(E) (+) b (+) c/E, a quadrature sum, E in GeV (Belayneh et al. Eq. 3)."""
    return np.sqrt((a / np.sqrt(energy)) ** 2 + b**2 + (c / energy) ** 2)


def fit_resolution(
    energy: np.ndarray, resolution: np.ndarray, error: np.ndarray
) -> dict[str, float]:
    """Weighted least-squares fit of :func:`resolution_model`; returns a, b, c, their
    uncertainties and chi2/ndf (NaN where fewer than four finite points)."""
    ok = np.isfinite(energy) & np.isfinite(resolution) & np.isfinite(error) & (error > 0)
    keys = ("a", "b", "c", "a_err", "b_err", "c_err", "chi2_ndf")
    if ok.sum() < 4:
        return dict.fromkeys(keys, math.nan)
    e, r, s = energy[ok], resolution[ok], error[ok]
    p0 = [max(float(np.median(r * np.sqrt(e))), 1e-3), 0.01, 0.01]
    params, cov = optimize.curve_fit(
        resolution_model, e, r, p0=p0, sigma=s, absolute_sigma=True, bounds=(0, np.inf)
    )
    chi2 = float(np.sum(((resolution_model(e, *params) - r) / s) ** 2))
    errors = np.sqrt(np.clip(np.diag(cov), 0, None))
    values = [*params, *errors, chi2 / max(len(e) - 3, 1)]
    return dict(zip(keys, (float(v) for v in values), strict=True))


# -- comparing distributions -------------------------------------------------------------------


def separation_power(h1: np.ndarray, h2: np.ndarray) -> float:
    """1/2 sum (h1 - h2)^2 / (h1 + h2) of unit-sum histograms: 0 for identical, 1 for disjoint
    (CaloChallenge, Krause et al., arXiv:2410.21611)."""
    total = h1 + h2
    ok = total > 0
    return float(0.5 * np.sum((h1[ok] - h2[ok]) ** 2 / total[ok]))


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """1D Wasserstein-1 distance between the finite values of two samples."""
    return float(stats.wasserstein_distance(a[np.isfinite(a)], b[np.isfinite(b)]))


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (largest CDF difference)."""
    return float(stats.ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)]).statistic)


KL_FLOOR = 1e-10
"""Floor on the second distribution's bin contents, so that KL stays finite."""


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(P, Q) = sum p_i log(p_i / q_i) of histograms re-normalised to unit sum (LUXE ECAL
    paper, Eq. 6); empty bins of P contribute nothing, Q is floored at :data:`KL_FLOOR`."""
    p = p / p.sum()
    q = np.maximum(q / q.sum(), KL_FLOOR)
    ok = p > 0
    return float(np.sum(p[ok] * np.log(p[ok] / q[ok])))


def moment_relative_bias(reference: np.ndarray, test: np.ndarray, orders: int = 3) -> np.ndarray:
    """(M_i(test) - M_i(ref)) / M_i(ref) for raw moments M_i = <x^i>, i = 1..orders (LUXE ECAL
    paper, Eq. 2)."""
    ref, tst = reference[np.isfinite(reference)], test[np.isfinite(test)]
    k = np.arange(1, orders + 1)
    m_ref = np.array([np.mean(ref**i) for i in k])
    m_tst = np.array([np.mean(tst**i) for i in k])
    return (m_tst - m_ref) / m_ref


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Frechet distance of Gaussians fitted to samples (rows) ``x`` and ``y``:
    |mu_x - mu_y|^2 + Tr(C_x + C_y - 2 (C_x C_y)^(1/2)) (FPD, Kansal et al. arXiv:2211.10295)."""
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    c_x, c_y = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    distance = np.sum((mu_x - mu_y) ** 2) + np.trace(c_x + c_y) - 2.0 * _trace_sqrt(c_x, c_y)
    return max(0.0, float(distance))  # rounding in near-zero eigenvalues can dip below 0


def _trace_sqrt(c_x: np.ndarray, c_y: np.ndarray) -> float:
    """Tr (C_x C_y)^(1/2) of two covariance matrices, as Tr (S C_y S)^(1/2) with S = C_x^(1/2):
    the same eigenvalues, from symmetric eigen-decompositions, so singular covariances (a
    constant column, fewer events than columns) give a finite, exact result."""
    w, v = np.linalg.eigh(c_x)
    root_x = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = np.linalg.eigvalsh(root_x @ c_y @ root_x)
    return float(np.sqrt(np.clip(inner, 0.0, None)).sum())


def _mmd2_poly(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3."""
    d = x.shape[1]
    kxx, kyy, kxy = ((p @ q.T / d + 1.0) ** 3 for p, q in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2.0 * kxy.mean()
    )


def kernel_distance(
    x: np.ndarray, y: np.ndarray, subset: int = 1000, n_subsets: int = 10, seed: int = 0
) -> tuple[float, float]:
    """(mean, standard error) of the unbiased polynomial-kernel MMD^2 over ``n_subsets`` random
    subsets of at most ``subset`` events (and at most half of each sample), as KPD in Kansal
    et al. arXiv:2211.10295."""
    rng = np.random.default_rng(seed)
    size = max(2, min(subset, len(x) // 2, len(y) // 2))  # distinct subsets give the spread
    values = [
        _mmd2_poly(
            x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)]
        )
        for _ in range(n_subsets)
    ]
    return float(np.mean(values)), float(np.std(values, ddof=1) / math.sqrt(n_subsets))
