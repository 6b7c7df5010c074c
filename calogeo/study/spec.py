"""The study file: samples, target geometries, models with their presets, tasks and metrics.

::

    name = "gamma-pi0"          # the report's title
    seed = 0                    # every sample's and model's seed derives from it
    source = "clic_ecal_rec"    # geometry of the simulated samples
    test_fraction = 0.3         # of every sample, simulated apart (its own seed)
    device = "auto"             # training and prediction (the command's --device wins)

    [[samples]]                 # simulated: particle, energies (GeV, uniform), events
    particle = "gamma"
    energy_gev = [30.0, 150.0]
    theta = [0.0, 0.5]          # polar angle to the window axis, rad, uniform (default 0)
    events = 1000
    [[samples]]                 # or existing native files on the source geometry
    particle = "pi0"
    train = "data/pi0/train/*.h5"
    test = "data/pi0/test/*.h5"

    [targets]
    geometries = ["atlas", "cms"]
    direct = true               # the showers on the target's cells
    round_trip = true           # source -> target -> source cells

    [[models]]
    name = "cnn3d"
    size = "small"              # the preset; hparams override single values of it
    epochs = 20
    nproc = 1                   # > 1: trained through torchrun with that many processes
    hparams = { dense_units = 128 }

    [[tasks]]
    name = "gamma_pi0"
    task = "both"               # classify | regress | both
    signal = ["gamma"]
    background = ["pi0"]

Every table and key is checked when the file is read; a problem is one line naming the key.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calogeo.errors import CalogeoError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Model", "Sample", "Study", "StudyError", "Task", "load_study", "parse_study"]

BUILTIN = Path(__file__).with_name("builtin")


class StudyError(CalogeoError, ValueError):
    """A study file that cannot be run."""


@dataclass(frozen=True)
class Sample:
    """One particle's showers: simulated (``energy_gev``, polar angles ``theta`` in rad,
    uniform; ``events``) or given files."""

    particle: str
    energy_gev: tuple[float, float] = (30.0, 150.0)
    events: int = 1000
    theta: tuple[float, float] = (0.0, 0.0)
    train: str | None = None
    test: str | None = None


@dataclass(frozen=True)
class Model:
    """A model to train on every detector version: registry name, preset and overrides."""

    name: str
    size: str = "small"
    epochs: int = 20
    nproc: int = 1
    hparams: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """What the models learn: ``task`` over ``signal`` against ``background`` particles."""

    name: str
    task: str = "both"
    signal: tuple[str, ...] = ("gamma",)
    background: tuple[str, ...] = ("pi0",)

    @property
    def particles(self) -> tuple[str, ...]:
        return (*self.signal, *self.background)


@dataclass(frozen=True)
class Study:
    """A parsed study file (see the module docstring)."""

    name: str
    samples: tuple[Sample, ...]
    models: tuple[Model, ...]
    tasks: tuple[Task, ...]
    targets: tuple[str, ...] = ()
    direct: bool = True
    round_trip: bool = True
    source: str = "clic_ecal_rec"
    seed: int = 0
    test_fraction: float = 0.3
    device: str = "auto"
    base: Path = Path()

    def sample(self, particle: str) -> Sample:
        for sample in self.samples:
            if sample.particle == particle:
                return sample
        msg = f"study {self.name!r}: no sample of particle {particle!r}"
        raise StudyError(msg)


def _take(table: dict[str, Any], where: str, allowed: dict[str, type | tuple[type, ...]]) -> None:
    for key, value in table.items():
        if key not in allowed:
            msg = f"{where}: unknown key {key!r} (known: {', '.join(allowed)})"
            raise StudyError(msg)
        if not isinstance(value, allowed[key]) or isinstance(value, bool) != (allowed[key] is bool):
            msg = f"{where}.{key}: {value!r} has the wrong type"
            raise StudyError(msg)


def parse_study(data: dict[str, Any], source: str = "<study>", base: Path = Path()) -> Study:
    """A Study from the parsed TOML of a study file; ``base`` resolves relative file names."""
    number = (int, float)
    _take(
        data,
        source,
        {
            "name": str,
            "seed": int,
            "source": str,
            "test_fraction": number,
            "device": str,
            "samples": list,
            "targets": dict,
            "models": list,
            "tasks": list,
        },
    )
    samples = []
    for i, item in enumerate(data.get("samples", [])):
        where = f"{source}: samples[{i}]"
        _take(item, where, {"particle": str, "energy_gev": list, "events": int, "train": str,
                            "test": str, "theta": list})  # fmt: skip
        if "particle" not in item:
            msg = f"{where}: 'particle' is missing"
            raise StudyError(msg)
        energy = item.get("energy_gev", [30.0, 150.0])
        if len(energy) != 2 or not 0 < energy[0] <= energy[1]:
            msg = f"{where}.energy_gev: expected [LO, HI] with 0 < LO <= HI GeV"
            raise StudyError(msg)
        if ("train" in item) != ("test" in item):
            msg = f"{where}: give both 'train' and 'test' files, or neither (simulated)"
            raise StudyError(msg)
        theta = item.get("theta", [0.0, 0.0])
        if len(theta) != 2 or not 0 <= theta[0] <= theta[1] < 1.5:
            msg = f"{where}.theta: expected [LO, HI] rad with 0 <= LO <= HI < 1.5"
            raise StudyError(msg)
        samples.append(
            Sample(
                item["particle"],
                energy_gev=(float(energy[0]), float(energy[1])),
                events=int(item.get("events", 1000)),
                theta=(float(theta[0]), float(theta[1])),
                train=item.get("train"),
                test=item.get("test"),
            )
        )
    targets = data.get("targets", {})
    _take(targets, f"{source}: targets", {"geometries": list, "direct": bool, "round_trip": bool})
    models = []
    for i, item in enumerate(data.get("models", [])):
        where = f"{source}: models[{i}]"
        _take(item, where, {"name": str, "size": str, "epochs": int, "nproc": int,
                            "hparams": dict})  # fmt: skip
        if "name" not in item:
            msg = f"{where}: 'name' is missing"
            raise StudyError(msg)
        models.append(Model(**item))
    tasks = []
    for i, item in enumerate(data.get("tasks", [{"name": "gamma_pi0"}])):
        where = f"{source}: tasks[{i}]"
        _take(item, where, {"name": str, "task": str, "signal": list, "background": list})
        tasks.append(
            Task(
                item.get("name", f"task{i}"),
                item.get("task", "both"),
                tuple(item.get("signal", ["gamma"])),
                tuple(item.get("background", ["pi0"])),
            )
        )
    study = Study(
        name=data.get("name", "study"),
        samples=tuple(samples),
        models=tuple(models),
        tasks=tuple(tasks),
        targets=tuple(targets.get("geometries", [])),
        direct=targets.get("direct", True),
        round_trip=targets.get("round_trip", True),
        source=data.get("source", "clic_ecal_rec"),
        seed=data.get("seed", 0),
        test_fraction=float(data.get("test_fraction", 0.3)),
        device=data.get("device", "auto"),
        base=base,
    )
    if not study.models:
        msg = f"{source}: no [[models]] to train"
        raise StudyError(msg)
    for task in study.tasks:
        for particle in task.particles:
            study.sample(particle)
    if not 0.0 < study.test_fraction < 1.0:
        msg = f"{source}: test_fraction {study.test_fraction}: expected a number in (0, 1)"
        raise StudyError(msg)
    return study


def load_study(path: str | Path) -> Study:
    """The study of a file, or of a built-in study by name (``demo``)."""
    path = Path(path)
    if not path.exists() and (BUILTIN / f"{path}.toml").exists():
        path = BUILTIN / f"{path}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        builtin = ", ".join(p.stem for p in sorted(BUILTIN.glob("*.toml")))
        msg = f"{path}: no such study file (built-in studies: {builtin})"
        raise StudyError(msg) from exc
    except tomllib.TOMLDecodeError as exc:
        msg = f"{path}: not valid TOML ({exc})"
        raise StudyError(msg) from exc
    return parse_study(data, str(path), path.parent)
