"""Acceptance study of the generative models: train each small preset on simulated showers,
generate as many showers as a held-out reference, and compare both against two yardsticks.

Cases: photons 10-100 GeV in the ``calogan`` geometry (calogan, gan3d, wgan; 5000 training
showers) and pi+ 10-100 GeV in ``ild_ahcal`` (wgan; 2000 training showers, which keep the
WGAN's small preset within 15 minutes on the 48x25x25 window). The yardsticks, computed in the
same run:

- floor: a second, independent simulated sample against the reference (what a perfect
  generator would score with this many showers);
- baseline: for each requested energy, the mean training shower of the nearest of 10 energy
  bins, scaled to a total drawn from that bin's response E_visible / E_incident.

Per sample: classifier AUC and FPD (the ``classifier`` and ``fpd_kpd`` metrics), W1 of
E_visible / E_incident, mean separation power of the shower-shape observables
(``histograms``), and at fixed incident energies (default 20, 50, 80 GeV) the largest
deviation of the mean visible energy and of sigma90/mu90 (``validation``) from the reference;
train minutes and generated showers per second. Each model is scored twice: as ``generate``
makes its showers (with the response calibration fitted at the end of training) and, in the
rows marked "raw", the network's own output without it. Checks printed at the end: every model beats
the baseline on AUC and FPD, its mean visible energy per energy point is within 3% of the
reference and its sigma90/mu90 within 20%.

    python examples/generative_models.py                    # small presets, CPU
    python examples/generative_models.py --device cuda --train 20000
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from calogeo import Showers, get_geometry, get_metric, get_model
from calogeo.adversarial import response_w1

CASES = {  # geometry -> (particle, models, training showers)
    "calogan": ("gamma", ("calogan", "gan3d", "wgan"), 5000),
    # the WGAN costs ~40 ms per shower and epoch on the 48x25x25 AHCAL window on two cores:
    # 2000 showers keep its small preset's epochs within the 15 minutes
    "ild_ahcal": ("pi+", ("wgan",), 2000),
}
ENERGY_GEV = (10.0, 100.0)
POINTS_GEV = (20.0, 50.0, 80.0)
RAW = " raw"
"""Label suffix of a model's output without its response calibration (shown, not checked)."""


@dataclass
class Sample:
    """Showers standing in for the reference: one set at the reference's energies, one set per
    fixed energy point, and how they were made."""

    label: str
    showers: Showers
    points: dict[float, Showers]
    train_minutes: float = float("nan")
    showers_per_second: float = float("nan")
    scores: dict[str, float] = field(default_factory=dict)


class MeanShowerBaseline:
    """The trivial generator: the mean training shower of the nearest energy bin, scaled to a
    total drawn from that bin's response."""

    def __init__(self, train: Showers, bins: int = 10, seed: int = 0) -> None:
        energy = train.incident_energy
        self.edges = np.quantile(energy, np.linspace(0.0, 1.0, bins + 1))
        self.centres = 0.5 * (self.edges[1:] + self.edges[:-1])
        index = np.clip(np.searchsorted(self.edges, energy, side="right") - 1, 0, bins - 1)
        flat = train.flat().astype(np.float64)
        total = flat.sum(axis=1)
        self.shapes = np.stack(
            [
                flat[index == b].sum(axis=0) / max(total[index == b].sum(), 1e-12)
                for b in range(bins)
            ]
        )
        self.responses = [total[index == b] / energy[index == b] for b in range(bins)]
        self.geometry = train.geometry
        self.rng = np.random.default_rng(seed)

    def generate(self, energies: np.ndarray) -> Showers:
        nearest = np.argmin(np.abs(energies[:, None] - self.centres[None, :]), axis=1)
        response = np.array([self.rng.choice(self.responses[b]) for b in nearest])
        cells = self.shapes[nearest] * (response * energies)[:, None]
        return Showers.from_flat(self.geometry, cells.astype(np.float32), energies)


def simulate(simulator: object, particle: str, energies: np.ndarray) -> Showers:
    return simulator.simulate(particle, energies)  # type: ignore[attr-defined]


def timed(make: Callable[[np.ndarray], Showers], energies: np.ndarray) -> tuple[Showers, float]:
    """Showers at ``energies`` and the showers per second it took."""
    start = time.perf_counter()
    showers = make(energies)
    return showers, len(energies) / (time.perf_counter() - start)


def score(reference: Sample, samples: list[Sample], device: str) -> None:
    """Fill every sample's scores against the reference."""
    classifier = get_metric("classifier")(device=device, seed=0)
    fpd = get_metric("fpd_kpd")()
    histograms = get_metric("histograms")()
    for sample in samples:
        s = sample.scores
        s["auc"] = classifier.compare(reference.showers, sample.showers).values["auc"]
        s["fpd"] = fpd.compare(reference.showers, sample.showers).values["fpd"]
        s["w1_response"] = response_w1(reference.showers, sample.showers)
        sep = histograms.compare(reference.showers, sample.showers).values
        s["separation"] = sep["mean_separation_power"]
        deviations = [
            sample.points[e].flat().sum(axis=1).mean()
            / reference.points[e].flat().sum(axis=1).mean()
            - 1
            for e in reference.points
        ]
        s["response"] = float(np.max(np.abs(deviations)))
    points = Showers.concatenate(list(reference.points.values()))
    validation = get_metric("validation")(energies=list(reference.points))
    result = validation.compute_many(
        points,
        {sample.label: Showers.concatenate(list(sample.points.values())) for sample in samples},
        reference.label,
    )
    for sample in samples:
        s = sample.scores
        s["resolution"] = result.values[f"max_rel_diff_sigma90_over_mu90[{sample.label}]"]


def run_case(
    geometry_name: str,
    particle: str,
    models: tuple[str, ...],
    n_train: int,
    args: argparse.Namespace,
) -> list[dict[str, object]]:
    geometry = get_geometry(geometry_name)
    rng = np.random.default_rng(args.seed)
    gflash = get_model("gflash")

    def sample_of(label: str, seed: int, energies: np.ndarray) -> Sample:
        sim = gflash.build(geometry, seed=seed)
        points = {e: simulate(sim, particle, np.full(args.per_point, e)) for e in POINTS_GEV}
        return Sample(label, simulate(sim, particle, energies), points)

    energies = rng.uniform(*ENERGY_GEV, args.reference)
    print(
        f"\n== {particle} in {geometry_name}: {n_train} training, {args.reference} reference showers ==",
        flush=True,
    )
    train = simulate(
        gflash.build(geometry, seed=args.seed + 1), particle, rng.uniform(*ENERGY_GEV, n_train)
    )
    reference = sample_of("reference", args.seed + 2, energies)
    samples = [sample_of("floor", args.seed + 3, energies)]
    baseline = MeanShowerBaseline(train, seed=args.seed)
    showers, rate = timed(baseline.generate, energies)
    samples.append(
        Sample(
            "baseline",
            showers,
            {e: baseline.generate(np.full(args.per_point, e)) for e in POINTS_GEV},
            0.0,
            rate,
        )
    )
    for name in models:
        model = get_model(name).build(geometry, size="small", seed=args.seed)
        start = time.perf_counter()
        model.fit(train, device=args.device, progress=False, epochs=args.epochs)
        minutes = (time.perf_counter() - start) / 60.0
        if args.output:
            model.save(args.output / f"{name}_{geometry_name}.pt")
        print(f"trained {name} in {minutes:.1f} min; last epoch {model.history[-1]}", flush=True)
        for calibrated in (True, False):

            def make(
                e: np.ndarray, model: object = model, calibrated: bool = calibrated
            ) -> Showers:
                return model.generate(e, device=args.device, seed=args.seed, calibrated=calibrated)  # type: ignore[attr-defined]

            showers, rate = timed(make, energies)
            points = {e: make(np.full(args.per_point, e)) for e in POINTS_GEV}
            label = name if calibrated else f"{name}{RAW}"
            samples.append(Sample(label, showers, points, minutes, rate))
    score(reference, samples, args.device)
    rows = []
    for sample in samples:
        rows.append(
            {
                "model": sample.label,
                "geometry": geometry_name,
                **sample.scores,
                "train_minutes": sample.train_minutes,
                "showers_per_s": sample.showers_per_second,
            }
        )
    return rows


def table(rows: list[dict[str, object]]) -> str:
    columns = [
        "model",
        "geometry",
        "auc",
        "fpd",
        "w1_response",
        "separation",
        "response",
        "resolution",
        "train_minutes",
        "showers_per_s",
    ]
    lines = ["  ".join(f"{c:>13}" for c in columns)]
    for row in rows:
        cells = [
            f"{row[c]:>13.4g}" if isinstance(row[c], float) else f"{row[c]!s:>13}" for c in columns
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def checks(rows: list[dict[str, object]]) -> list[tuple[str, bool]]:
    out = []
    for geometry in dict.fromkeys(r["geometry"] for r in rows):
        mine = [r for r in rows if r["geometry"] == geometry]
        base = next(r for r in mine if r["model"] == "baseline")
        for r in mine:
            if r["model"] in ("floor", "baseline") or str(r["model"]).endswith(RAW):
                continue
            tag = f"{r['model']} on {geometry}"
            out.append(
                (f"{tag}: AUC {r['auc']:.3f} < baseline {base['auc']:.3f}", r["auc"] < base["auc"])
            )
            out.append(
                (f"{tag}: FPD {r['fpd']:.3g} < baseline {base['fpd']:.3g}", r["fpd"] < base["fpd"])
            )
            out.append(
                (
                    f"{tag}: mean visible energy per point within 3% ({100 * r['response']:.1f}%)",
                    r["response"] <= 0.03,
                )
            )
            out.append(
                (
                    f"{tag}: sigma90/mu90 per point within 20% ({100 * r['resolution']:.1f}%)",
                    r["resolution"] <= 0.20,
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, help="training showers (default: the case's)")
    parser.add_argument("--reference", type=int, default=2000, help="reference showers per case")
    parser.add_argument("--per-point", type=int, default=500, help="showers per fixed energy")
    parser.add_argument("--epochs", type=int, help="epochs (default: the small preset's)")
    parser.add_argument("--cases", default=",".join(CASES), help="geometries to run")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=Path("generative-models"))
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.cases.split(","):
        particle, models, n_train = CASES[name]
        rows += run_case(name, particle, models, args.train or n_train, args)
        print(table(rows), flush=True)
    (args.output / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n" + table(rows))
    results = checks(rows)
    for text, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
