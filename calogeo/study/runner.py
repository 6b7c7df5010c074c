"""Running a study: the stage graph simulate -> resample -> train -> evaluate -> report.

Every stage's output lives in ``DIR/cache/<stage>/<label>-<key>/``, ``key`` a hash of the
stage's settings and of the keys of the stages it reads, and counts as done once its
``stage.json`` is written (last, atomically). So a rerun skips every finished stage, a stage
interrupted half-way resumes (simulation and resampling write partitions with a manifest,
:mod:`calogeo.distributed.partitions`), and a changed setting reruns exactly the stages that
depend on it: another preset for one model retrains and re-evaluates that model only.

Simulation and resampling run on the Dask cluster when one is given; a model with ``nproc``
> 1 trains through ``torchrun --nproc-per-node nproc`` (gloo on the CPU, NCCL on CUDA).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from calogeo.study.crossgeometry import slug
from calogeo.study.spec import Model, Sample, Study, StudyError, Task

__all__ = ["SIM_BATCH", "Runner", "version_names"]

SIM_BATCH = 500  # events per simulated batch
SIM_PARTITION_BATCHES = 16  # batches per partition file (8,000 events)
STAGE_FILE = "stage.json"


def version_names(study: Study) -> list[tuple[str, str | None, bool]]:
    """(version name, target geometry or None, round trip) of every detector version: the
    source itself, each target directly and each target round trip (names as ``calogeo
    demo`` prints them)."""
    from calogeo.registry import get_geometry

    source = get_geometry(study.source).name  # a spec file's geometry by its name
    out: list[tuple[str, str | None, bool]] = [(source, None, False)]
    for target in study.targets:
        name = get_geometry(target).name
        if study.direct:
            out.append((name, target, False))
        if study.round_trip:
            out.append((f"{source} via {name}", target, True))
    return out


def _key(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class Runner:
    """Runs a :class:`Study` into ``folder``; ``client`` a dask.distributed Client (or None),
    ``device`` overrides the study's. ``ran`` and ``cached`` list the stages (``kind:label``)
    run and skipped by :meth:`run`."""

    def __init__(
        self,
        study: Study,
        folder: Path,
        *,
        client: Any = None,
        device: str | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.study = study
        self.folder = Path(folder)
        self.cache = self.folder / "cache"
        self.client = client
        self.device = device or study.device
        self.say = say or (lambda text: print(text, file=sys.stderr, flush=True))
        self.ran: list[str] = []
        self.cached: list[str] = []

    # -- the stage cache --------------------------------------------------------------------

    def stage(
        self,
        kind: str,
        label: str,
        settings: dict[str, Any],
        inputs: list[Path],
        build: Callable[[Path], None],
    ) -> Path:
        """The folder of stage ``kind`` for ``label``: built by ``build(folder)`` unless a
        finished one with the same settings and inputs exists."""
        key = _key({"kind": kind, "settings": settings, "inputs": [p.name for p in inputs]})
        path = self.cache / kind / f"{slug(label)}-{key}"
        name = f"{kind}:{label}"
        if (path / STAGE_FILE).exists():
            self.cached.append(name)
            return path
        self.say(f"{kind} {label} ...")
        begin = time.perf_counter()
        path.mkdir(parents=True, exist_ok=True)
        build(path)
        record = {"kind": kind, "label": label, "settings": settings,
                  "inputs": [str(p) for p in inputs],
                  "seconds": time.perf_counter() - begin}  # fmt: skip
        tmp = path / f"{STAGE_FILE}.partial-{os.getpid()}"
        tmp.write_text(json.dumps(record, indent=1, default=str))
        tmp.replace(path / STAGE_FILE)
        self.ran.append(name)
        return path

    # -- stages -----------------------------------------------------------------------------

    def _seed(self, *parts: int) -> int:
        return int(np.random.SeedSequence([self.study.seed, *parts]).generate_state(1)[0])

    def simulate(self, sample: Sample, split: str) -> Path:
        """Showers of ``sample`` (train or test split), as a partitioned dataset."""
        from calogeo.distributed.ops import simulate_partitioned
        from calogeo.incident import draw_particles
        from calogeo.registry import get_geometry

        study = self.study
        k = [s.particle for s in study.samples].index(sample.particle)
        n_test = round(study.test_fraction * sample.events)
        n = n_test if split == "test" else sample.events - n_test
        seed = self._seed(k, split == "test")
        settings = {"geometry": study.source, "particle": sample.particle,
                    "energy_gev": sample.energy_gev, "theta": sample.theta, "events": n,
                    "seed": seed}  # fmt: skip

        def build(path: Path) -> None:
            geometry = get_geometry(study.source)
            rng = np.random.default_rng([seed, 1])
            batches = [
                draw_particles(rng, min(SIM_BATCH, n - a), sample.energy_gev, sample.theta)
                for a in range(0, n, SIM_BATCH)
            ]
            simulate_partitioned(
                geometry,
                sample.particle,
                batches,
                path / "showers",
                seed=seed,
                batches_per_partition=SIM_PARTITION_BATCHES,
                client=self.client,
            )

        folder = self.stage("simulate", f"{sample.particle}-{split}", settings, [], build)
        return folder / "showers"

    def resample(self, data: Path, label: str, target: str, round_trip: bool) -> Path:
        from calogeo.distributed.ops import resample_partitioned
        from calogeo.registry import get_geometry

        settings = {"target": target, "round_trip": round_trip}

        def build(path: Path) -> None:
            resample_partitioned(
                data, get_geometry(target), path / "showers", round_trip=round_trip,
                client=self.client,
            )  # fmt: skip

        return self.stage("resample", label, settings, [data.parent], build) / "showers"

    def train(self, task: Task, model: Model, version: str, data: list[Path]) -> Path:
        settings = {"task": asdict(task), "model": asdict(model), "seed": self.study.seed}

        def build(path: Path) -> None:
            if model.nproc > 1:
                self._torchrun(task, model, data, path / "model.pt")
            else:
                self._train_here(task, model, data, path / "model.pt")

        inputs = [d.parent for d in data]
        label = f"{task.name}-{model.name}-{version}"
        return self.stage("train", label, settings, inputs, build) / "model.pt"

    def _train_here(self, task: Task, model: Model, data: list[Path], out: Path) -> None:
        from calogeo.io import open_showers
        from calogeo.reconstruction import TorchModel
        from calogeo.registry import get_model

        sources = [open_showers(d) for d in data]
        cls = get_model(model.name)
        kind = task.task if task.task != "both" or "classify" in cls.kind else "regress"
        built = cls.build(
            sources[0].geometry,
            size=model.size,
            task=kind,
            signal=task.signal,
            background=task.background,
            seed=self.study.seed,
            **model.hparams,
        )
        if isinstance(built, TorchModel):
            built.fit(sources, device=self.device, seed=self.study.seed, epochs=model.epochs)
        else:
            built.fit(sources)
        built.save(out)

    def _torchrun(self, task: Task, model: Model, data: list[Path], out: Path) -> None:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", str(model.nproc), "-m", "calogeo", "train", model.name,
                   "--data", *map(str, data), "--task", task.task,
                   "--signal", *task.signal, "--background", *task.background,
                   "--size", model.size, "--epochs", str(model.epochs),
                   "--seed", str(self.study.seed), "--device", self.device, "-o", str(out)]  # fmt: skip
        for name, value in model.hparams.items():
            command += ["--set", f"{name}={json.dumps(value)}"]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
            msg = f"torchrun training of {model.name} failed: {last}"
            raise StudyError(msg)

    def evaluate(self, task: Task, model: Model, version: str, checkpoint: Path,
                 data: list[Path]) -> Path:  # fmt: skip
        settings = {"metrics": ["roc_auc", "bias", "resolution"]}

        def build(path: Path) -> None:
            from calogeo.checkpoint import load_model
            from calogeo.streams import read_all
            from calogeo.study.crossgeometry import score

            trained = load_model(checkpoint)
            test = read_all([str(d) for d in data])
            begin = time.perf_counter()
            predictions = trained.predict(test, device=self.device)
            trained_in = json.loads((checkpoint.parent / STAGE_FILE).read_text())["seconds"]
            seconds = trained_in + time.perf_counter() - begin
            outcome = score(predictions, version, model.name, seconds)
            predictions.save(path / "predictions.h5")
            record = {
                "task": task.name,
                "version": version,
                "model": model.name,
                "cells": test.geometry.n_cells,
                "geometry": test.geometry.name,
                "auc": outcome.auc,
                "resolution": outcome.resolution,
                "seconds": seconds,
                "results": {k: r.to_dict() for k, r in outcome.results.items()},
                "baselines": {k: r.to_dict() for k, r in outcome.baselines.items()},
            }
            (path / "outcome.json").write_text(json.dumps(record, indent=1))

        inputs = [checkpoint.parent, *(d.parent for d in data)]
        label = f"{task.name}-{model.name}-{version}"
        return self.stage("evaluate", label, settings, inputs, build) / "outcome.json"

    # -- the graph --------------------------------------------------------------------------

    def _given(self, pattern: str) -> Path:
        path = Path(pattern)
        return path if path.is_absolute() else self.study.base / path

    def data(self) -> dict[tuple[str, str, str], Path]:
        """(particle, split, version) -> the dataset folder of every sample on every version."""
        study = self.study
        used = {p for task in study.tasks for p in task.particles}
        out = {}
        for sample in study.samples:
            if sample.particle not in used:
                continue
            for split in ("train", "test"):
                given = sample.train if split == "train" else sample.test
                base = self._given(given) if given else self.simulate(sample, split)
                for version, target, round_trip in version_names(study):
                    if target is None:
                        out[sample.particle, split, version] = base
                    else:
                        label = f"{sample.particle}-{split}-{slug(version)}"
                        out[sample.particle, split, version] = self.resample(
                            base, label, target, round_trip
                        )
        return out

    def run(self) -> list[dict[str, Any]]:
        """Every stage; returns the evaluation records (see :mod:`calogeo.study.report`)."""
        data = self.data()
        jobs = [
            (task, model, version)
            for task in self.study.tasks
            for version, _, _ in version_names(self.study)
            for model in self.study.models
        ]
        checkpoints = [
            self.train(task, model, version, [data[p, "train", version] for p in task.particles])
            for task, model, version in jobs
        ]
        records = []
        for (task, model, version), checkpoint in zip(jobs, checkpoints, strict=True):
            test = [data[p, "test", version] for p in task.particles]
            outcome = self.evaluate(task, model, version, checkpoint, test)
            records.append(json.loads(outcome.read_text()))
        return records
