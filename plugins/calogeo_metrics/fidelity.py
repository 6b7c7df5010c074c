"""Fidelity metrics: how well generated showers reproduce reference showers on one geometry.

The observables are those of :func:`calogeo.observables.table`, computed once per batch of
showers and options (:func:`calogeo.observables.cached_table`) and shared by the metrics and
plots of one evaluation.
"""

from __future__ import annotations

import math

import numpy as np

from calogeo import CalogeoError, Geometry, Showers, observables
from calogeo.binning import observable_binning
from calogeo.metric import FidelityMetric, MetricResult
from calogeo_metrics import _stats
from calogeo_metrics.regression import spectrum_result

__all__ = [
    "ClassifierTest",
    "Correlations",
    "EnergySpectrum",
    "FrechetKernel",
    "Histograms",
    "NearestNeighbour",
    "Profiles",
    "ResponseVsEnergy",
]


class _ObservableMetric(FidelityMetric):
    """A fidelity metric on the observable table; options select the table's columns.

    ``threshold_gev``: cell threshold (GeV, scalar or per layer) applied before the
    observables; ``per_layer``: add the per-layer observables (default: geometries of at most
    8 layers; naming a per-layer observable in ``observables`` turns them on); ``empty_layer``:
    "zero" or "nan" for the centre and width of an empty layer (see
    :data:`calogeo.observables.EMPTY_LAYER`); ``cell_centres``: "centroid" or "reference"
    (:data:`calogeo.observables.CELL_CENTRES`)."""

    def __init__(
        self,
        per_layer: bool | None = None,
        threshold_gev: float | np.ndarray = 0.0,
        observables: list[str] | None = None,
        empty_layer: str = "zero",
        cell_centres: str = "centroid",
    ) -> None:
        self.per_layer = per_layer
        self.threshold_gev = threshold_gev
        self.observables = observables
        self.empty_layer = empty_layer
        self.cell_centres = cell_centres

    def observable_table(self, showers: Showers) -> dict[str, np.ndarray]:
        """The (cached) observable table of ``showers`` with this metric's options."""
        names = observables.resolve_names(self.observables or [], showers.geometry)
        per_layer = True if any(map(observables.is_per_layer, names)) else self.per_layer
        return observables.cached_table(
            showers,
            per_layer=per_layer,
            threshold_gev=self.threshold_gev,
            empty_layer=self.empty_layer,
            cell_centres=self.cell_centres,
        )

    default_observables: tuple[str, ...] = ()
    """Columns used when none are chosen (empty: all)."""

    def tables(
        self, reference: Showers, generated: Showers
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The observable tables of both samples, restricted to the chosen columns."""
        ref, gen = self.observable_table(reference), self.observable_table(generated)
        chosen = observables.resolve_names(self.observables or [], reference.geometry)
        names = chosen or [n for n in self.default_observables if n in ref] or list(ref)
        unknown = [n for n in names if n not in ref]
        if unknown:
            msg = f"metric {self.name!r}: unknown observables {unknown}; known: {list(ref)}"
            raise CalogeoError(msg)
        return {n: ref[n] for n in names}, {n: gen[n] for n in names}

    def features(
        self, reference: Showers, generated: Showers
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(reference, generated) observable matrices standardised with the reference's mean
        and spread; columns constant in the reference are dropped, undefined values set to 0
        (the reference mean)."""
        ref, gen = self.tables(reference, generated)
        xr = np.stack(list(ref.values()), axis=1)
        xg = np.stack(list(gen.values()), axis=1)
        mean, std = np.nanmean(xr, axis=0), np.nanstd(xr, axis=0)
        keep = np.isfinite(std) & (std > 0)
        names = [n for n, k in zip(ref, keep, strict=True) if k]
        xr, xg = ((x[:, keep] - mean[keep]) / std[keep] for x in (xr, xg))
        return np.nan_to_num(xr, nan=0.0), np.nan_to_num(xg, nan=0.0), names


class Histograms(_ObservableMetric):
    """For every observable: separation power, 1D Wasserstein distance and KS statistic of the
    reference and generated histograms.

    Each observable is binned by the rule of :func:`calogeo.binning.observable_binning` for its
    kind (log bins from the cell threshold for energies, fixed physical ranges for centres,
    widths and fractions); values outside the bins are not counted, and the fraction of each
    sample outside is reported. ``n_bins`` replaces every rule's bin count; ``ranges`` maps
    columns or per-layer bases to (lo, hi, bins or None), e.g. a published binning."""

    name = "histograms"
    description = "per observable: separation power, Wasserstein-1 distance, KS statistic"
    source = "CaloChallenge (Krause et al., arXiv:2410.21611): separation power; scipy W1, KS"

    def __init__(
        self,
        n_bins: int | None = None,
        ranges: dict[str, tuple[float, float, int | None]] | None = None,
        **options: object,
    ) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.n_bins, self.ranges = n_bins, ranges

    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        ref, gen = self.tables(reference, generated)
        rows: dict[str, list[object]] = {
            "observable": [],
            "unit": [],
            "separation_power": [],
            "wasserstein": [],
            "ks": [],
            "binning": [],
            "scale": [],
            "lo": [],
            "hi": [],
            "n_bins": [],
            "outside_reference": [],
            "outside_generated": [],
        }
        result = self.result()
        geometry = reference.geometry
        for name in ref:
            a, b = ref[name], gen[name]
            if not (np.isfinite(a).any() and np.isfinite(b).any()):
                continue
            binning = observable_binning(
                name, a, b, geometry, self.threshold_gev, self.n_bins, self.ranges
            )
            edges = binning.edges
            (h_ref, out_ref), (h_gen, out_gen) = (_stats.unit_histogram(x, edges) for x in (a, b))
            rows["observable"].append(name)
            rows["unit"].append(observables.unit_of(name))
            rows["separation_power"].append(_stats.separation_power(h_ref, h_gen))
            rows["wasserstein"].append(_stats.wasserstein(a, b))
            rows["ks"].append(_stats.ks_statistic(a, b))
            for key, value in binning.describe().items():
                rows["binning" if key == "rule" else key].append(value)
            rows["outside_reference"].append(out_ref)
            rows["outside_generated"].append(out_gen)
            result.tables[f"hist:{name}"] = {
                "lo": edges[:-1].tolist(),
                "hi": edges[1:].tolist(),
                "reference": h_ref.tolist(),
                "generated": h_gen.tolist(),
            }
        result.tables["observables"] = rows
        separation = np.asarray(rows["separation_power"], dtype=np.float64)
        worst = int(np.argmax(separation)) if len(separation) else -1
        result.values = {
            "mean_separation_power": float(separation.mean()) if len(separation) else math.nan,
            "max_separation_power": float(separation.max()) if len(separation) else math.nan,
            "mean_ks": float(np.mean(rows["ks"])) if rows["ks"] else math.nan,
        }
        result.meta = {
            "worst_observable": rows["observable"][worst] if worst >= 0 else "",
            "reference_events": len(reference),
            "generated_events": len(generated),
            "cell_threshold_gev": observables.cell_thresholds_gev(geometry, self.threshold_gev),
            "empty_layer": self.empty_layer,
            "cell_centres": self.cell_centres,
            "outside_bins": "not counted; fraction per sample in outside_reference/_generated",
        }
        scalar = [k for k, n in enumerate(rows["observable"]) if not observables.is_per_layer(n)]
        bar = "observables"
        if len(scalar) < len(rows["observable"]):  # per-layer ones: one curve per kind instead
            bar = "event_observables"
            result.tables[bar] = {
                key: [rows[key][k] for k in scalar]
                for key in ("observable", "separation_power", "ks")
            }
            result.tables["per_layer"] = _per_layer_separation(rows, geometry.n_layers)
            bases = [key for key in result.tables["per_layer"] if key != "layer"]
            result.plots.append(
                {
                    "type": "line",
                    "table": "per_layer",
                    "x": "layer",
                    "y": bases,
                    "xlabel": "layer index",
                    "ylabel": "separation power",
                    "title": "per-layer observables: separation power",
                }
            )
        if result.tables[bar]["observable"]:
            result.plots.insert(
                0,
                {
                    "type": "bar",
                    "table": bar,
                    "x": "observable",
                    "y": ["separation_power", "ks"],
                    "labels": ["separation power", "KS statistic"],
                    "xlabel": "separation power / KS statistic (0 = identical)",
                    "title": "observable histograms: reference vs generated",
                },
            )
        return result


def _threshold_text(geometry: Geometry, threshold_gev: float | np.ndarray) -> str:
    """The cell threshold for a label: "0.5 MeV", or "the per-layer threshold"."""
    thresholds = observables.cell_thresholds_gev(geometry, threshold_gev)
    if np.all(thresholds == thresholds[0]):
        return f"{thresholds[0] * 1e3:g} MeV"
    return "the per-layer threshold"


def _per_layer_separation(rows: dict[str, list[object]], n_layers: int) -> dict[str, list[float]]:
    """Columns layer, BASE...: the separation power of each per-layer observable by layer
    (NaN where it was not compared)."""
    table: dict[str, list[float]] = {"layer": [float(i) for i in range(n_layers)]}
    for name, value in zip(rows["observable"], rows["separation_power"], strict=True):
        if observables.is_per_layer(str(name)):
            base, index = str(name)[:-1].split("[")
            table.setdefault(base, [math.nan] * n_layers)[int(index)] = float(value)  # type: ignore[arg-type]
    return table


ILD_OBSERVABLES = (
    "x_mean_mm",
    "y_mean_mm",
    "z_mean_mm",
    "x_width_mm",
    "y_width_mm",
    "z_width_mm",
    "e_total",
    "incident_energy",
    "n_hits",
    "e_frac_first_third",
    "e_frac_second_third",
    "e_frac_last_third",
)
"""The quantities of the ILD study's correlation matrices (Buhmann et al. Fig. 5)."""


class Correlations(_ObservableMetric):
    """Pearson correlation matrices of the observables and their difference (reference minus
    generated)."""

    name = "correlations"
    description = "difference of the observables' Pearson correlation matrices (ILD Fig. 5)"
    source = "Buhmann et al. 2021 (ILD pions), Fig. 5"
    default_observables = ILD_OBSERVABLES

    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        ref, gen = self.tables(reference, generated)
        ref = {**ref, "incident_energy": reference.incident_energy.astype(np.float64)}
        gen = {**gen, "incident_energy": generated.incident_energy.astype(np.float64)}
        names = list(ref)
        c_ref, c_gen = _pearson(ref), _pearson(gen)
        diff = c_ref - c_gen
        off = ~np.eye(len(names), dtype=bool)
        return self.result(
            values={
                "max_abs_difference": float(np.nanmax(np.abs(diff[off]))),
                "mean_abs_difference": float(np.nanmean(np.abs(diff[off]))),
            },
            tables={
                "matrices": {
                    "observable": names,
                    "reference": c_ref.tolist(),
                    "generated": c_gen.tolist(),
                    "difference": diff.tolist(),
                }
            },
            plots=[
                {
                    "type": "matrix",
                    "table": "matrices",
                    "column": "difference",
                    "names": "observable",
                    "zlabel": "rho(reference) - rho(generated)",
                    "title": "Pearson correlations: reference minus generated",
                },
                {
                    "type": "matrix",
                    "table": "matrices",
                    "column": "reference",
                    "names": "observable",
                    "limit": 1.0,
                    "zlabel": "Pearson rho",
                    "title": "Pearson correlations: reference",
                },
            ],
        )


def _pearson(columns: dict[str, np.ndarray]) -> np.ndarray:
    """Pearson correlation matrix of the columns over the events where all are finite."""
    x = np.stack(list(columns.values()), axis=1)
    x = x[np.isfinite(x).all(axis=1)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.corrcoef(x, rowvar=False)


class FrechetKernel(_ObservableMetric):
    """Frechet (FPD) and kernel (KPD) physics distances on the standardised observable vector."""

    name = "fpd_kpd"
    description = "Frechet and kernel physics distances (FPD, KPD) on the observable vector"
    source = "Kansal et al., PRD 107 (2023) 076017, arXiv:2211.10295"

    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        xr, xg, names = self.features(reference, generated)
        kpd, kpd_err = _stats.kernel_distance(xr, xg)
        return self.result(
            values={"fpd": _stats.frechet_distance(xr, xg), "kpd": kpd, "kpd_err": kpd_err},
            meta={"observables": names},
        )


class ClassifierTest(_ObservableMetric):
    """Classifier two-sample test: a small DNN learns to tell generated from reference showers;
    AUC 0.5 and JSD 0 mean it cannot."""

    name = "classifier"
    description = "DNN two-sample test on observables or cells: AUC and JSD=(ln2-BCE)/ln2"
    source = "CaloChallenge (Krause et al., arXiv:2410.21611), classifier metric"

    def __init__(
        self,
        inputs: str = "observables",
        epochs: int = 50,
        device: str = "auto",
        seed: int = 0,
        **options: object,
    ) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        if inputs not in ("observables", "cells"):
            msg = f"classifier: inputs must be 'observables' or 'cells', got {inputs!r}"
            raise ValueError(msg)
        self.inputs, self.epochs, self.device, self.seed = inputs, epochs, device, seed

    def matrices(self, reference: Showers, generated: Showers) -> tuple[np.ndarray, np.ndarray]:
        """Standardised inputs of both samples: observables, or log(1 + E/MeV) per cell."""
        if self.inputs == "observables":
            xr, xg, _ = self.features(reference, generated)
            return xr, xg
        xr, xg = (np.log1p(s.flat().astype(np.float64) * 1e3) for s in (reference, generated))
        mean, std = xr.mean(axis=0), xr.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        return (xr - mean) / std, (xg - mean) / std

    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        import torch

        from calogeo.device import resolve_device

        xr, xg = self.matrices(reference, generated)
        rng = np.random.default_rng(self.seed)
        n = min(len(xr), len(xg))
        x = np.concatenate([xr[rng.permutation(len(xr))[:n]], xg[rng.permutation(len(xg))[:n]]])
        y = np.r_[np.zeros(n), np.ones(n)]
        order = rng.permutation(2 * n)
        device = resolve_device(self.device)
        xt = torch.as_tensor(x[order], dtype=torch.float32, device=device)
        yt = torch.as_tensor(y[order], dtype=torch.float32, device=device)
        train, val, test = (
            slice(0, 6 * n // 5),
            slice(6 * n // 5, 8 * n // 5),
            slice(8 * n // 5, None),
        )
        torch.manual_seed(self.seed)
        model = _small_dnn(x.shape[1]).to(device)
        _train(model, (xt[train], yt[train]), (xt[val], yt[val]), self.epochs, self.seed)
        with torch.no_grad():
            logits = model(xt[test]).squeeze(1)
            bce = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[test]))
            prob = torch.sigmoid(logits).cpu().numpy().astype(np.float64)
        fpr, tpr, _ = _stats.roc_curve(y[order][test].astype(np.int64), prob)
        return self.result(
            values={
                "auc": _stats.auc(fpr, tpr),
                "bce": bce,
                "jsd": (math.log(2) - bce) / math.log(2),
            },
            meta={
                "inputs": self.inputs,
                "events_train_val_test": [6 * n // 5, 2 * n // 5, 2 * n - 8 * n // 5],
            },
        )


def _small_dnn(n_inputs: int):  # type: ignore[no-untyped-def]
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(n_inputs, 64),
        torch.nn.LeakyReLU(),
        torch.nn.Linear(64, 64),
        torch.nn.LeakyReLU(),
        torch.nn.Linear(64, 1),
    )


def _train(model, train, val, epochs: int, seed: int, batch: int = 256) -> None:  # type: ignore[no-untyped-def]
    """Adam on binary cross-entropy for up to ``epochs`` passes over shuffled mini-batches;
    keeps the weights of the epoch with the lowest validation loss, stops after 5 epochs
    without improvement."""
    import copy

    import torch

    (x, y), (x_val, y_val) = train, val
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best, best_state, patience = math.inf, copy.deepcopy(model.state_dict()), 0
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=generator).split(batch):
            idx = idx.to(x.device)
            optimiser.zero_grad()
            loss_fn(model(x[idx]).squeeze(1), y[idx]).backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            loss = float(loss_fn(model(x_val).squeeze(1), y_val))
        if loss < best:
            best, best_state, patience = loss, copy.deepcopy(model.state_dict()), 0
        else:
            patience += 1
            if patience >= 5:
                break
    model.load_state_dict(best_state)


class ResponseVsEnergy(_ObservableMetric):
    """Sampling fraction (deposited / incident energy) and hit count per incident-energy bin."""

    name = "response_vs_energy"
    description = "deposited/incident energy and hit count (mean, spread) per incident energy"
    source = "Buhmann et al. 2021 (ILD), Figs. 6-7; Belayneh et al. Fig. 9"

    def __init__(self, energy_bins: int | np.ndarray | None = None, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.energy_bins = energy_bins

    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        edges = _stats.bin_edges(reference.incident_energy.astype(np.float64), self.energy_bins)
        table: dict[str, list[float]] = {"lo": edges[:-1].tolist(), "hi": edges[1:].tolist()}
        for tag, showers in (("reference", reference), ("generated", generated)):
            obs = self.observable_table(showers)
            which = np.digitize(showers.incident_energy, edges) - 1
            for name, short in (("e_total_over_incident", "response"), ("n_hits", "hits")):
                means, spreads, errs = [], [], []
                for k in range(len(edges) - 1):
                    v = obs[name][(which == k) & np.isfinite(obs[name])]
                    means.append(float(v.mean()) if len(v) else math.nan)
                    spreads.append(float(v.std()) if len(v) > 1 else math.nan)
                    errs.append(float(v.std() / math.sqrt(len(v))) if len(v) > 1 else math.nan)
                table[f"{short}_mean_{tag}"] = means
                table[f"{short}_std_{tag}"] = spreads
                table[f"{short}_err_{tag}"] = errs
        table["centre"] = (0.5 * (edges[1:] + edges[:-1])).tolist()
        rel = {
            short: np.abs(
                np.asarray(table[f"{short}_mean_generated"])
                / np.asarray(table[f"{short}_mean_reference"])
                - 1.0
            )
            for short in ("response", "hits")
        }
        log = edges[0] > 0 and edges[-1] / edges[0] > 10
        common = {
            "type": "errorbar",
            "table": "energy",
            "x": "centre",
            "xlabel": "incident energy [GeV]",
            "xscale": "log" if log else "linear",
        }
        return self.result(
            values={
                "max_rel_diff_response": float(np.nanmax(rel["response"])),
                "max_rel_diff_hits": float(np.nanmax(rel["hits"])),
            },
            tables={"energy": table},
            plots=[
                {
                    **common,
                    "y": ["response_mean_reference", "response_mean_generated"],
                    "yerr": ["response_std_reference", "response_std_generated"],
                    "labels": ["reference", "generated"],
                    "ylabel": "E_deposited / E_incident (mean, bars: spread)",
                    "title": "sampling fraction vs energy",
                },
                {
                    **common,
                    "y": ["hits_mean_reference", "hits_mean_generated"],
                    "yerr": ["hits_std_reference", "hits_std_generated"],
                    "labels": ["reference", "generated"],
                    "ylabel": f"cells above {_threshold_text(reference.geometry, self.threshold_gev)}",
                    "title": "hit count vs energy",
                },
            ],
            meta={"energy_bins_gev": edges},
        )


class NearestNeighbour(FidelityMetric):
    """Euclidean distance (cells, GeV) of each generated shower to its nearest reference one,
    against the same distance for held-out reference showers (memorisation check)."""

    name = "nearest_neighbour"
    description = "distance of generated showers to the closest reference (training) shower"
    source = "Paganini et al. (CaloGAN), PRD 97 (2018) 014021, Figs. 9-11"

    def __init__(self, max_events: int = 2000, device: str = "auto", seed: int = 0) -> None:
        self.max_events, self.device, self.seed = max_events, device, seed

    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(reference))
        half = len(reference) // 2
        pool = reference.flat()[order[:half]]
        held_out = reference.flat()[order[half:]][: self.max_events]
        gen = generated.flat()[rng.permutation(len(generated))[: self.max_events]]
        d_gen = self._nearest(gen, pool)
        d_ref = self._nearest(held_out, pool)
        edges = np.histogram_bin_edges(np.r_[d_gen, d_ref], 40)
        h_gen = np.histogram(d_gen, edges)[0] / len(d_gen)
        h_ref = np.histogram(d_ref, edges)[0] / len(d_ref)
        return self.result(
            values={
                "median_distance_generated_gev": float(np.median(d_gen)),
                "median_distance_reference_gev": float(np.median(d_ref)),
                "ratio": float(np.median(d_gen) / np.median(d_ref)),
            },
            tables={
                "distance": {
                    "centre": (0.5 * (edges[1:] + edges[:-1])).tolist(),
                    "generated": h_gen.tolist(),
                    "held-out reference": h_ref.tolist(),
                }
            },
            plots=[
                {
                    "type": "step",
                    "table": "distance",
                    "x": "centre",
                    "y": ["held-out reference", "generated"],
                    "xlabel": "distance to nearest training shower [GeV]",
                    "ylabel": "fraction of showers",
                    "title": "nearest-neighbour distances",
                }
            ],
            meta={"pool_events": half, "compared_events": len(gen)},
        )

    def _nearest(self, queries: np.ndarray, pool: np.ndarray, block: int = 512) -> np.ndarray:
        """Distance of each query row to its nearest pool row (torch.cdist, in blocks)."""
        import torch

        from calogeo.device import resolve_device

        device = resolve_device(self.device)
        p = torch.as_tensor(pool, dtype=torch.float32, device=device)
        out = [
            torch.cdist(torch.as_tensor(q, dtype=torch.float32, device=device), p)
            .min(dim=1)
            .values.cpu()
            .numpy()
            for q in np.array_split(queries, max(1, math.ceil(len(queries) / block)))
        ]
        return np.concatenate(out).astype(np.float64)


class EnergySpectrum(FidelityMetric):
    """Relative bias of the first three moments and KL distance of the deposited-energy
    spectra of generated vs reference showers."""

    name = "energy_spectrum"
    description = "LUXE: moments 1-3 relative bias and KL distance of deposited-energy spectra"
    source = "LUXE ECAL deep-learning paper, Eqs. 2 and 6"

    def __init__(self, n_bins: int = 20) -> None:
        self.n_bins = n_bins

    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        return spectrum_result(
            self,
            reference.total_energy(),
            generated.total_energy(),
            ("reference", "generated"),
            self.n_bins,
            "deposited energy [GeV]",
        )


class Profiles(FidelityMetric):
    """Average longitudinal profile (energy per X0 in each layer) and radial profile (energy
    per ring in Moliere radii), reference vs generated, normalised per shower energy.

    Cells count in the ring holding their centre, so rings are made no narrower than the
    coarsest layer's cells (smaller side, in R_M): finer rings would only show aliasing."""

    name = "profiles"
    description = "mean longitudinal (per X0) and radial (per R_M) energy profiles"
    source = "Buhmann et al. 2021 (ILD), Fig. 4; Belayneh et al. Fig. 10 (shower shapes)"

    def __init__(self, r_max_rm: float = 5.0, n_rings: int = 20) -> None:
        self.r_max_rm, self.n_rings = r_max_rm, n_rings

    def ring_edges(self, geometry: Geometry) -> np.ndarray:
        """Ring radii in R_M: ``n_rings`` up to ``r_max_rm``, widened to the coarsest cells."""
        coarsest = max(min(layer.cell_size_rm()) for layer in geometry.layers)
        width = max(self.r_max_rm / self.n_rings, coarsest)
        return np.arange(0.0, max(self.r_max_rm, 4 * width) + 0.5 * width, width)

    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        geometry = reference.geometry
        r_edges = self.ring_edges(geometry)
        profiles = {}
        for tag, showers in (("reference", reference), ("generated", generated)):
            total = showers.total_energy()
            keep = total > 0
            long = observables.longitudinal_profile(showers, "x0")[keep] / total[keep, None]
            rings = observables.radial_profile(showers, r_edges, "rm")[keep]
            rings = rings / total[keep, None] / np.diff(r_edges)
            profiles[tag] = (long.mean(axis=0), rings.mean(axis=0))
        x0_mid = geometry.x0_edges.mean(axis=1)
        r_mid = 0.5 * (r_edges[1:] + r_edges[:-1])
        with np.errstate(divide="ignore", invalid="ignore"):
            dev_long = np.abs(profiles["generated"][0] / profiles["reference"][0] - 1.0)
            dev_rad = np.abs(profiles["generated"][1] / profiles["reference"][1] - 1.0)
        # deviations weighted by where the reference energy is (empty bins do not count)
        w_long, w_rad = profiles["reference"][0], profiles["reference"][1]
        ok_long, ok_rad = np.isfinite(dev_long) & (w_long > 0), np.isfinite(dev_rad) & (w_rad > 0)
        return self.result(
            values={
                "longitudinal_mean_abs_deviation": float(
                    np.average(dev_long[ok_long], weights=w_long[ok_long])
                ),
                "radial_mean_abs_deviation": float(
                    np.average(dev_rad[ok_rad], weights=w_rad[ok_rad])
                ),
            },
            tables={
                "longitudinal": {
                    "depth_x0": x0_mid.tolist(),
                    "reference": profiles["reference"][0].tolist(),
                    "generated": profiles["generated"][0].tolist(),
                },
                "radial": {
                    "r_rm": r_mid.tolist(),
                    "reference": profiles["reference"][1].tolist(),
                    "generated": profiles["generated"][1].tolist(),
                },
            },
            plots=[
                {
                    "type": "step",
                    "table": "longitudinal",
                    "x": "depth_x0",
                    "y": ["reference", "generated"],
                    "xlabel": "depth [X0] (layer centres)",
                    "ylabel": "(1/E) dE/dt [1/X0]",
                    "yscale": "log",
                    "title": "mean longitudinal profile",
                },
                {
                    "type": "step",
                    "table": "radial",
                    "x": "r_rm",
                    "y": ["reference", "generated"],
                    "xlabel": "distance to the shower axis [R_M] (cell centres)",
                    "ylabel": "(1/E) dE/dr [1/R_M]",
                    "yscale": "log",
                    "title": "mean radial profile",
                },
            ],
        )
