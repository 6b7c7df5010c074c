"""The generative validation suite: one reference against any number of generated samples.

The figures a physicist looks at before trusting a fast simulation, on any geometry, each an
overlay of every sample with a ratio panel (generated / reference), drawn from the JSON by
:mod:`calogeo.plotting_validation`:

- Buhmann et al., "Hadrons, better, faster, stronger" (2021), Fig. 4: the cell-energy spectrum
  in MIP units with the cell threshold marked, the shower start layer, the centres of gravity,
  the mean profiles along x, y and the depth; Fig. 5: the Pearson correlation matrices of its
  12 quantities (first and second moments along x, y, z, the visible and incident energies,
  the hit count and the energy fractions in the depth thirds) and their differences to the
  reference, with the largest |difference|; Fig. 6: the visible energy and hit count at fixed
  incident energies (default 20, 50, 80 GeV); Fig. 7: mu90 and sigma90/mu90 of the visible
  energy against the incident energy;
- Paganini et al. (CaloGAN), PRD 97 (2018) 014021, Table IV: the shower shapes E_i, E_tot,
  f_i, E_ratio,i, d, s_d, sigma_sd and the lateral width sigma_i (cell units) per layer, for
  geometries whose observable table holds the per-layer columns (at most 8 layers by default).

The per-event observables come from :func:`calogeo.observables.cached_table` (computed once per
file and options, shared with the other fidelity metrics); the cell spectrum and the mean
profiles take one more pass over each file's cells each. The MIP scale is
:func:`calogeo.observables.mip_energy_gev`. The "second moments" are the energy-weighted
standard deviations (the square root of the second central moment), as the ``correlations``
metric defines them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from calogeo import CalogeoError, Geometry, Showers, observables
from calogeo.binning import observable_binning, quantile_edges
from calogeo.metric import MetricResult, check_same_geometry
from calogeo_metrics import _stats
from calogeo_metrics.fidelity import ILD_OBSERVABLES, _ObservableMetric, _pearson

__all__ = ["DEFAULT_ENERGIES_GEV", "Validation"]

DEFAULT_ENERGIES_GEV = (20.0, 50.0, 80.0)
"""The fixed incident energies of Buhmann et al. Fig. 6."""

HISTOGRAM_FIGURES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("hits", "hit count above the cell threshold", ("n_hits",)),
    ("visible_energy", "visible energy", ("e_total", "e_total_over_incident")),
    ("shower_start", "shower start layer", ("shower_start_layer",)),
    ("centre_of_gravity", "centres of gravity", ("x_mean_mm", "y_mean_mm", "z_mean_layer")),
    ("second_moments", "second moments (widths)", ("x_width_mm", "y_width_mm", "z_width_layer")),
    (
        "depth_thirds",
        "energy fraction in the depth thirds",
        ("e_frac_first_third", "e_frac_second_third", "e_frac_last_third"),
    ),
)
"""(figure, title, table columns) of the one-dimensional distributions of Buhmann et al."""

SHOWER_SHAPES = ("e_total", "deepest_layer", "z_mean_layer", "z_width_layer")
"""Event-level CaloGAN shower shapes (Table IV): E_tot, d, s_d, sigma_sd."""

LAYER_SHAPES = ("e_layer", "e_frac", "e_ratio", "x_width_cell")
"""Per-layer CaloGAN shower shapes (Table IV): E_i, f_i, E_ratio,i, sigma_i (cells)."""

LABELS = {
    "n_hits": "hits above threshold",
    "e_total": "visible energy [GeV]",
    "e_total_over_incident": "visible / incident energy",
    "shower_start_layer": "shower start [layer] (-1: none)",
    "x_mean_mm": "centre of gravity x [mm]",
    "y_mean_mm": "centre of gravity y [mm]",
    "z_mean_layer": "centre of gravity depth [layer]",
    "x_width_mm": "width x [mm]",
    "y_width_mm": "width y [mm]",
    "z_width_layer": "width depth [layer]",
    "e_frac_first_third": "E(first third) / E_vis",
    "e_frac_second_third": "E(second third) / E_vis",
    "e_frac_last_third": "E(last third) / E_vis",
    "deepest_layer": "deepest layer d",
}

SPECTRUM_EDGES_MIP = np.geomspace(1e-5, 1e6, 11 * 12 + 1)
"""Cell-energy bins in MIPs: 12 per decade, trimmed to the filled range."""

PROFILE_BINS = 50


class Validation(_ObservableMetric):
    """The validation suite of generated showers: every distribution of Buhmann et al.
    Figs. 4-7 and CaloGAN Table IV, for one or more generated samples (:meth:`compute_many`).

    ``energies``: fixed incident energies in GeV (events within ``energy_tolerance`` x E of
    each are selected, their visible energy scaled by E / E_incident to remove the spread of
    the window to first order; files generated at exactly those energies are used as they
    are);
    ``labels``: names of the reference and the generated samples (default "reference",
    "generated"); the other options select the observable table as for every fidelity
    metric (the cell threshold ``threshold_gev`` applies to everything but the cell spectrum,
    which marks it)."""

    name = "validation"
    description = "generative validation suite: ILD Figs. 4-7, CaloGAN Table IV, any N samples"
    source = "Buhmann et al. 2021 (ILD pions), Figs. 4-7; Paganini et al. (CaloGAN) Table IV"

    def __init__(
        self,
        energies: Sequence[float] | None = None,
        energy_tolerance: float = 0.05,
        labels: Sequence[str] | None = None,
        **options: object,
    ) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.energies = tuple(float(e) for e in (energies or DEFAULT_ENERGIES_GEV))
        if not (math.isfinite(energy_tolerance) and energy_tolerance >= 0):
            msg = f"validation: energy_tolerance must be >= 0, got {energy_tolerance}"
            raise ValueError(msg)
        self.energy_tolerance = float(energy_tolerance)
        self.labels = list(labels) if labels else None

    # -- entry points ------------------------------------------------------------------------

    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        labels = self.labels or ["reference", "generated"]
        if len(labels) != 2:
            msg = f"validation: {len(labels)} labels for a reference and one generated sample"
            raise CalogeoError(msg)
        return self.compare_many(reference, {labels[1]: generated}, labels[0])

    def compute_many(
        self, reference: Showers, generated: Mapping[str, Showers], reference_label: str = ""
    ) -> MetricResult:
        """:meth:`compare_many` after checking geometries and sample sizes."""
        for label, showers in generated.items():
            check_same_geometry(reference, showers, f"{self.name} ({label})")
            if len(showers) < 2:
                msg = f"metric {self.name!r}: sample {label!r} holds {len(showers)} showers"
                raise CalogeoError(msg)
        if len(reference) < 2:
            msg = f"metric {self.name!r}: the reference holds {len(reference)} showers"
            raise CalogeoError(msg)
        return self.compare_many(reference, generated, reference_label)

    def compare_many(
        self, reference: Showers, generated: Mapping[str, Showers], reference_label: str = ""
    ) -> MetricResult:
        """The suite for ``reference`` against every sample of ``generated`` (label ->
        showers, in drawing order)."""
        ref_label = reference_label or (self.labels[0] if self.labels else "reference")
        samples = {ref_label: reference, **generated}
        if len(samples) != len(generated) + 1 or not generated:
            msg = f"validation: sample labels must be distinct, got {[ref_label, *generated]}"
            raise CalogeoError(msg)
        geometry = reference.geometry
        tables = {label: self._table(showers) for label, showers in samples.items()}
        suite = _Suite(list(samples), geometry, self.result())
        suite.cell_spectrum(samples, self.threshold_gev)
        for figure, title, columns in HISTOGRAM_FIGURES:
            suite.histograms(figure, title, tables, columns, self.threshold_gev)
        suite.profiles(samples, self.threshold_gev)
        suite.correlations(tables)
        suite.fixed_energies(tables, self.energies, self.energy_tolerance)
        suite.shower_shapes(tables, self.threshold_gev)
        suite.summarise()
        suite.result.meta.update(
            {
                "samples": list(samples),
                "events": {label: len(s) for label, s in samples.items()},
                "geometry": geometry.name,
                "cell_threshold_gev": observables.cell_thresholds_gev(geometry, self.threshold_gev),
                "mip_gev": observables.mip_energy_gev(geometry),
                "energies_gev": list(self.energies),
                "energy_tolerance": self.energy_tolerance,
                "empty_layer": self.empty_layer,
                "cell_centres": self.cell_centres,
                "second_moment": "energy-weighted standard deviation",
            }
        )
        return suite.result

    def _table(self, showers: Showers) -> dict[str, np.ndarray]:
        """The cached observable table plus incident energy and the per-layer widths in cell
        units (CaloGAN's sigma_i)."""
        table = dict(self.observable_table(showers))
        table["incident_energy"] = showers.incident_energy.astype(np.float64)
        geometry = showers.geometry
        if observables.layer_column("x_width_mm", 0) in table:
            for i, layer in enumerate(geometry.layers):
                pitch_mm = layer.layout.cell_size_mm()[0]  # a grid's column pitch
                table[observables.layer_column("x_width_cell", i)] = (
                    table[observables.layer_column("x_width_mm", i)] / pitch_mm
                )
        return table


class _Suite:
    """Builds the result: tables keyed by sample label, figure descriptions in
    ``meta["figures"]`` and the separation powers of every histogram."""

    def __init__(self, labels: list[str], geometry: Geometry, result: MetricResult) -> None:
        self.labels, self.geometry, self.result = labels, geometry, result
        self.figures: list[dict[str, Any]] = []
        self.separation: dict[str, list[float]] = {label: [] for label in labels[1:]}
        self.quantities: list[str] = []

    # -- helpers -----------------------------------------------------------------------------

    def _histogram_panel(
        self,
        key: str,
        values: dict[str, np.ndarray],
        edges: np.ndarray,
        xlabel: str,
        **extra: Any,
    ) -> dict[str, Any]:
        """Unit-sum histograms of every sample's values in ``edges`` (values outside are
        clipped into the edge bins, so every shower is drawn); records the separation powers."""
        table: dict[str, Any] = {"lo": edges[:-1].tolist(), "hi": edges[1:].tolist()}
        hists = {}
        for label in self.labels:
            x = values[label]
            x = np.clip(x[np.isfinite(x)], edges[0], edges[-1])
            h = np.histogram(x, edges)[0].astype(np.float64)
            hists[label] = h / h.sum() if h.sum() > 0 else h
            table[label] = hists[label].tolist()
        self.result.tables[f"hist:{key}"] = table
        self.quantities.append(key)
        for label in self.labels[1:]:
            self.separation[label].append(
                _stats.separation_power(hists[self.labels[0]], hists[label])
            )
        log = bool(edges[0] > 0 and np.allclose(edges[1:] / edges[:-1], edges[1] / edges[0]))
        return {
            "kind": "hist",
            "table": f"hist:{key}",
            "xlabel": xlabel,
            "ylabel": "fraction of showers",
            "xscale": "log" if log else "linear",
            **extra,
        }

    def _figure(self, name: str, title: str, panels: list[dict[str, Any]], **extra: Any) -> None:
        self.figures.append({"name": name, "title": title, "panels": panels, **extra})

    # -- the figures -------------------------------------------------------------------------

    def cell_spectrum(self, samples: dict[str, Showers], threshold_gev: Any) -> None:
        """Cell-energy spectrum in MIPs of each layer, the threshold marked (ILD Fig. 4)."""
        mip = observables.mip_energy_gev(self.geometry)
        counts = {
            label: observables.cell_energy_histogram(showers, SPECTRUM_EDGES_MIP, mip)
            for label, showers in samples.items()
        }
        filled = np.flatnonzero(np.sum(list(counts.values()), axis=0))
        if len(filled) == 0:
            return
        lo, hi = filled[0], filled[-1] + 1
        edges = SPECTRUM_EDGES_MIP[lo : hi + 1]
        table: dict[str, Any] = {"lo": edges[:-1].tolist(), "hi": edges[1:].tolist()}
        hists = {}
        for label, c in counts.items():
            c = c[lo:hi].astype(np.float64)
            hists[label] = c / c.sum() if c.sum() > 0 else c
            table[label] = hists[label].tolist()
        self.result.tables["hist:cell_energy_mip"] = table
        self.quantities.append("cell_energy_mip")
        for label in self.labels[1:]:
            self.separation[label].append(
                _stats.separation_power(hists[self.labels[0]], hists[label])
            )
        thresholds = observables.cell_thresholds_gev(self.geometry, threshold_gev) / mip
        marks = sorted({float(f"{t:.3g}") for t in thresholds if t > 0})
        self._figure(
            "cell_energy",
            "cell-energy spectrum (dashed: threshold)",
            [
                {
                    "kind": "hist",
                    "table": "hist:cell_energy_mip",
                    "xlabel": "cell energy [MIP of its layer]",
                    "ylabel": "fraction of cells",
                    "xscale": "log",
                    "yscale": "log",
                    "marks": marks,
                    "shade_below": marks[0] if marks else None,
                    **(
                        {"top_axis_scale": mip[0] * 1e3, "top_axis_label": "cell energy [MeV]"}
                        if np.allclose(mip, mip[0])
                        else {}
                    ),
                }
            ],
        )

    def histograms(
        self,
        figure: str,
        title: str,
        tables: dict[str, dict[str, np.ndarray]],
        columns: tuple[str, ...],
        threshold_gev: Any,
    ) -> None:
        """One panel per table column, binned as the ``histograms`` metric bins it."""
        panels = []
        for column in columns:
            values = {label: t[column] for label, t in tables.items()}
            ref = values[self.labels[0]]
            pooled = np.concatenate([values[label] for label in self.labels[1:]])
            if not np.isfinite(ref).any():
                continue
            edges = observable_binning(column, ref, pooled, self.geometry, threshold_gev).edges
            panels.append(self._histogram_panel(column, values, edges, LABELS.get(column, column)))
        if panels:
            self._figure(figure, title, panels)

    def profiles(self, samples: dict[str, Showers], threshold_gev: Any) -> None:
        """Mean energy profiles along x and y (mm and R_M) and the depth (layers and X0)."""
        edges = _profile_edges(self.geometry)
        means = {
            label: observables.mean_profiles(showers, edges, threshold_gev=threshold_gev)
            for label, showers in samples.items()
        }
        for axis in ("x", "y"):
            panels = []
            for unit, name in (("mm", "mm"), ("rm", "R_M")):
                key = f"{axis}_{unit}"
                bins = edges[key]
                table: dict[str, Any] = {"x": (0.5 * (bins[1:] + bins[:-1])).tolist()}
                for label in self.labels:
                    table[label] = (means[label][key] / np.diff(bins)).tolist()
                self.result.tables[f"profile:{key}"] = table
                panels.append(
                    {
                        "kind": "profile",
                        "table": f"profile:{key}",
                        "xlabel": f"{axis} [{name}] (from the shower axis)",
                        "ylabel": f"mean energy [GeV / {name}]",
                        "yscale": "log",
                    }
                )
            self._figure(f"profile_{axis}", f"mean profile along {axis}", panels)
        layer_x0 = np.diff(self.geometry.x0_edges, axis=1).ravel()
        depth: dict[str, Any] = {
            "layer": np.arange(self.geometry.n_layers, dtype=np.float64).tolist(),
            "x0": self.geometry.x0_edges.mean(axis=1).tolist(),
        }
        per_x0: dict[str, Any] = {"x": depth["x0"]}
        for label in self.labels:
            depth[label] = means[label]["layer"].tolist()
            per_x0[label] = (means[label]["layer"] / layer_x0).tolist()
        self.result.tables["profile:z_layer"] = {
            "x": depth["layer"],
            **{label: depth[label] for label in self.labels},
        }
        self.result.tables["profile:z_x0"] = per_x0
        self._figure(
            "profile_depth",
            "mean longitudinal profile",
            [
                {
                    "kind": "profile",
                    "table": "profile:z_layer",
                    "xlabel": "layer",
                    "ylabel": "mean energy [GeV / layer]",
                    "yscale": "log",
                },
                {
                    "kind": "profile",
                    "table": "profile:z_x0",
                    "xlabel": "depth [X0] (layer centres)",
                    "ylabel": "mean energy [GeV / X0]",
                    "yscale": "log",
                },
            ],
        )

    def correlations(self, tables: dict[str, dict[str, np.ndarray]]) -> None:
        """Pearson matrices of the 12 quantities of ILD Fig. 5 per sample, and the reference
        minus each generated one; the largest |difference| (off the diagonal) per sample."""
        names = list(ILD_OBSERVABLES)
        matrices = {label: _pearson({n: t[n] for n in names}) for label, t in tables.items()}
        ref = matrices[self.labels[0]]
        table: dict[str, Any] = {"observable": names}
        off = ~np.eye(len(names), dtype=bool)
        worst = {}
        for label in self.labels:
            table[label] = matrices[label].tolist()
        for label in self.labels[1:]:
            diff = ref - matrices[label]
            table[f"difference:{label}"] = diff.tolist()
            finite = np.abs(diff[off])
            worst[label] = float(np.nanmax(finite)) if np.isfinite(finite).any() else math.nan
            self.result.values[f"max_abs_correlation_difference[{label}]"] = worst[label]
        self.result.tables["correlations"] = table
        self._figure(
            "correlations",
            "Pearson correlations (top) and reference minus sample (bottom)",
            [{"kind": "matrix", "table": "correlations"}],
            max_abs_difference=worst,
        )

    def fixed_energies(
        self,
        tables: dict[str, dict[str, np.ndarray]],
        energies: tuple[float, ...],
        tolerance: float,
    ) -> None:
        """Visible energy and hit count at fixed incident energies (ILD Fig. 6), mu90 and
        sigma90/mu90 of the visible energy against the incident energy (ILD Fig. 7)."""
        points: dict[str, list[float]] = {"energy": []}
        visible, hits, skipped = [], [], []
        for energy in energies:
            chosen = {
                label: np.abs(t["incident_energy"] - energy) <= tolerance * energy
                for label, t in tables.items()
            }
            if min(int(c.sum()) for c in chosen.values()) < 2:
                skipped.append(energy)
                continue
            points["energy"].append(energy)
            scaled = {  # to first order the visible energy at exactly E (response ~ linear)
                label: tables[label]["e_total"][c] * energy / tables[label]["incident_energy"][c]
                for label, c in chosen.items()
            }
            for column, panels in (("e_total", visible), ("n_hits", hits)):
                values = (
                    scaled
                    if column == "e_total"
                    else {label: tables[label][column][c] for label, c in chosen.items()}
                )
                pooled = np.concatenate([values[label] for label in self.labels[1:]])
                fewest = min(len(v) for v in values.values())
                bins = int(np.clip(math.sqrt(fewest), 5, 30))  # no empty-bin noise
                edges = quantile_edges(values[self.labels[0]], pooled, bins)
                panels.append(
                    self._histogram_panel(
                        f"{column}@{energy:g}GeV",
                        values,
                        edges,
                        LABELS[column] if column == "e_total" else "hits above threshold",
                        title=f"E = {energy:g} GeV (+-{100 * tolerance:g}%)",
                    )
                )
            for label, c in chosen.items():
                mu, sigma, mu_err, sigma_err = _stats.sigma90(scaled[label])
                rel = sigma / mu if mu else math.nan
                rel_err = rel * math.hypot(sigma_err / sigma, mu_err / mu) if sigma else 0.0
                for key, value in (
                    ("mu90", mu),
                    ("mu90_err", mu_err),
                    ("sigma90_over_mu90", rel),
                    ("sigma90_over_mu90_err", rel_err),
                    ("events", float(c.sum())),
                ):
                    points.setdefault(f"{key}:{label}", []).append(value)
        self.result.meta["skipped_energies_gev"] = skipped
        if not points["energy"]:
            return
        self._figure("fixed_energy_visible", "visible energy at fixed incident energies", visible)
        self._figure("fixed_energy_hits", "hit count at fixed incident energies", hits)
        self.result.tables["energy_points"] = points
        self._figure(
            "response",
            "mu90 and sigma90/mu90 of the visible energy",
            [
                {
                    "kind": "points",
                    "table": "energy_points",
                    "y": "mu90",
                    "xlabel": "incident energy [GeV]",
                    "ylabel": "mu90 of the visible energy [GeV]",
                },
                {
                    "kind": "points",
                    "table": "energy_points",
                    "y": "sigma90_over_mu90",
                    "xlabel": "incident energy [GeV]",
                    "ylabel": "sigma90 / mu90",
                },
            ],
        )
        ref = self.labels[0]
        for label in self.labels[1:]:
            for key in ("mu90", "sigma90_over_mu90"):
                ratio = np.asarray(points[f"{key}:{label}"]) / np.asarray(points[f"{key}:{ref}"])
                self.result.values[f"max_rel_diff_{key}[{label}]"] = float(
                    np.nanmax(np.abs(ratio - 1.0))
                )

    def shower_shapes(self, tables: dict[str, dict[str, np.ndarray]], threshold_gev: Any) -> None:
        """CaloGAN Table IV: E_tot, d, s_d, sigma_sd and, when the table holds per-layer
        columns, E_i, f_i, E_ratio,i and sigma_i of every layer."""
        reference = tables[self.labels[0]]
        columns = list(SHOWER_SHAPES)
        layered = observables.layer_column("x_width_cell", 0) in reference
        if layered:
            columns += [
                observables.layer_column(base, i)
                for i in range(self.geometry.n_layers)
                for base in LAYER_SHAPES
            ]
        panels = []
        for column in columns:
            values = {label: t[column] for label, t in tables.items()}
            ref = values[self.labels[0]]
            if not np.isfinite(ref).any():
                continue
            pooled = np.concatenate([values[label] for label in self.labels[1:]])
            edges = observable_binning(column, ref, pooled, self.geometry, threshold_gev).edges
            panels.append(
                self._histogram_panel(f"shape:{column}", values, edges, _shape_label(column))
            )
        self._figure(
            "shower_shapes",
            "CaloGAN shower shapes (Table IV)"
            + ("" if layered else ": per-layer shapes need the per-layer observables"),
            panels,
        )

    def summarise(self) -> None:
        """Figures and the separation power of every histogram per generated sample."""
        self.result.meta["figures"] = self.figures
        self.result.tables["separation"] = {"quantity": self.quantities, **self.separation}
        for label, values in self.separation.items():
            self.result.values[f"mean_separation_power[{label}]"] = float(np.mean(values))
            self.result.values[f"max_separation_power[{label}]"] = float(np.max(values))


def _shape_label(column: str) -> str:
    """Axis label of a CaloGAN shower shape, with its Table IV symbol."""
    base, _, layer = column.partition("[")
    layer = layer.rstrip("]")
    symbols = {
        "e_total": "E_tot [GeV]",
        "deepest_layer": "d: deepest layer",
        "z_mean_layer": "s_d: shower depth [layer]",
        "z_width_layer": "sigma_sd: depth width [layer]",
        "e_layer": f"E_{layer} [GeV]",
        "e_frac": f"f_{layer}",
        "e_ratio": f"E_ratio,{layer}",
        "x_width_cell": f"sigma_{layer}: lateral width [cells]",
    }
    return symbols.get(base, column)


def _profile_edges(geometry: Geometry) -> dict[str, np.ndarray]:
    """Bins of the transverse profiles: the whole window (the widest layer's half-width from
    the shower axis, in mm and in Moliere radii of each layer's material) in
    :data:`PROFILE_BINS` bins."""
    out = {}
    for k, axis in enumerate(("x", "y")):
        anchor = geometry.anchor_mm[k]
        half_mm = max(
            max(abs(v - anchor) for v in layer.layout.extent_mm()[2 * k : 2 * k + 2])
            for layer in geometry.layers
        )
        half_rm = max(
            max(abs(v - anchor) for v in layer.layout.extent_mm()[2 * k : 2 * k + 2])
            / layer.material.rm_mm
            for layer in geometry.layers
        )
        out[f"{axis}_mm"] = np.linspace(-half_mm, half_mm, PROFILE_BINS + 1)
        out[f"{axis}_rm"] = np.linspace(-half_rm, half_rm, PROFILE_BINS + 1)
    return out
