"""``calogeo train MODEL --data TRAIN.h5``: train a reconstruction or generative model on shower
files; ``--resume CKPT`` continues a generative model's run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calogeo._table import format_table
from calogeo.device import DEVICE_CHOICES
from calogeo.errors import CalogeoError
from calogeo.presets import SIZES, TASKS

if TYPE_CHECKING:
    from calogeo.generative import GenerativeModel

ORDER = 50


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a reconstruction or generative model on shower files",
        description="Train a registered model (see `calogeo list models`) on the geometry of "
        "the training files and write a checkpoint. Without --val, a seeded random 20%% of "
        "every training file is held out for validation. Ctrl-C keeps the last good "
        "checkpoint. Generative models (calogan, gan3d, wgan...) learn the showers of the "
        "training files, conditioned on their incident energy (and particle type when the "
        "files hold several); --task, --signal, --background and --target do not apply to "
        "them, and --resume continues an earlier run from its checkpoint.",
    )
    parser.add_argument("model", help="registered model name, e.g. cnn3d, dnn, bdt, linear")
    parser.add_argument(
        "--data", nargs="+", type=Path, required=True, metavar="TRAIN.h5", help="training files"
    )
    parser.add_argument("--val", nargs="+", type=Path, metavar="VAL.h5", help="validation files")
    parser.add_argument("--task", choices=TASKS, default="both", help="default: both")
    parser.add_argument(
        "--signal", nargs="+", default=["gamma"], help="signal particles (default: gamma)"
    )
    parser.add_argument(
        "--background", nargs="+", default=["pi0"], help="background particles (default: pi0)"
    )
    parser.add_argument(
        "--target",
        default="energy",
        help="what --task regress/both regresses: the incident energy (default) or a "
        "per-event label of the files, e.g. multiplicity (LUXE bunches)",
    )
    parser.add_argument(
        "--size", choices=SIZES, default="paper", help="hyper-parameter preset (default: paper)"
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default: $CALOGEO_THREADS, else the cores not busy with other "
        "processes at the start of each epoch)",
    )
    parser.add_argument("--epochs", type=int, help="maximum epochs (default: the preset's)")
    parser.add_argument("--batch-size", type=int, help="events per batch")
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="show each training shower as a random transverse mirror image or rotation of "
        "itself, for showers at normal incidence (default: the preset's; on for --size small)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other hyper-parameter (VALUE as JSON, e.g. --set dense_units=256)",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="CKPT",
        help="generative models: continue the run saved in CKPT (its hyper-parameters, "
        "networks, optimisers and random state) up to --epochs in all",
    )
    parser.add_argument("-o", "--output", type=Path, help="checkpoint to write (default: MODEL.pt)")
    parser.set_defaults(func=run)


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings -> hyper-parameters (values parsed as JSON, else kept as text)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            msg = f"--set {item!r}: expected NAME=VALUE"
            raise CalogeoError(msg)
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[name.strip()] = value
    return out


def run(args: argparse.Namespace) -> int:
    from calogeo.checkpoint import check_writable
    from calogeo.device import resolve_device, torch_threads
    from calogeo.generative import GenerativeModel
    from calogeo.io import open_showers
    from calogeo.reconstruction import TorchModel
    from calogeo.registry import get_model

    cls = get_model(args.model)
    resolve_device(args.device)  # an unusable --device fails before any work
    torch_threads(args.threads)  # and so does a bad --threads or $CALOGEO_THREADS
    output = args.output or Path(f"{args.model}.pt")
    check_writable(output)  # a place no checkpoint can go fails before any training
    sources = [open_showers(path) for path in args.data]
    val = [open_showers(path) for path in args.val] if args.val else None
    geometry = sources[0].geometry
    generative = issubclass(cls, GenerativeModel)
    if args.resume is not None and not generative:
        msg = f"--resume: only generative models resume a run; {args.model!r} is not one"
        raise CalogeoError(msg)
    hparams = {"seed": args.seed, **parse_settings(args.set)}
    if generative:
        if args.lr is not None:
            names = ", ".join(f"lr_{n}" for ns in cls.phase_networks.values() for n in ns)
            msg = f"--lr: a generative model has one learning rate per network; use --set NAME=VALUE with NAME one of {names}"
            raise CalogeoError(msg)
        hparams.update(epochs=args.epochs, batch_size=args.batch_size)
    else:
        hparams.update(
            task=args.task, signal=args.signal, background=args.background, target=args.target
        )
    if issubclass(cls, TorchModel):
        hparams.update(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, augment=args.augment
        )
    model = (
        resumed(args, cls)
        if args.resume is not None
        else cls.build(geometry, size=args.size, **hparams)
    )
    if isinstance(model, TorchModel):
        model.network  # noqa: B018 - hyper-parameters no network can have fail before training
    for path, source in zip(args.data + (args.val or []), sources + (val or []), strict=True):
        model.check_geometry(source.geometry, str(path))
    n_train = sum(len(s) for s in sources)
    what = "generative" if generative else f"task {args.task}"
    ranks = int(os.environ.get("WORLD_SIZE", "1"))  # under torchrun: rank 0 prints
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"training {model.name} ({args.size}) on {geometry.name}: {n_train} events from "
            f"{len(sources)} file(s), {what}"
            + (f"; {ranks} processes (DistributedDataParallel)" if ranks > 1 else ""),
            file=sys.stderr,
        )
    before = _identity(output)
    try:
        if generative:
            model.fit(
                sources,
                val,
                device=args.device,
                checkpoint=output,
                threads=args.threads,
                epochs=args.epochs,
                resume=args.resume is not None,
            )
        elif isinstance(model, TorchModel):
            model.fit(sources, val, device=args.device, checkpoint=output, threads=args.threads)
        else:
            model.fit(sources, val)
    except KeyboardInterrupt:
        print(f"calogeo train: interrupted; {_interrupted(output, before)}", file=sys.stderr)
        return 130
    from calogeo import ddp

    if not ddp.is_main():  # under torchrun, rank 0 alone writes
        return 0
    model.save(output)
    print(history_table(model.history))
    print(f"\nwrote {output}")
    return 0


def resumed(args: argparse.Namespace, cls: type) -> GenerativeModel:
    """The model of ``--resume CKPT``, checked to be a ``MODEL`` checkpoint; hyper-parameters
    other than ``--epochs`` come from the checkpoint."""
    from calogeo.checkpoint import load_model
    from calogeo.generative import GenerativeModel

    model = load_model(args.resume)
    if not isinstance(model, cls) or not isinstance(model, GenerativeModel):
        msg = f"--resume {args.resume}: holds model {model.name!r}, not {args.model!r}"
        raise CalogeoError(msg)
    if not model.training_state:
        msg = f"--resume {args.resume}: the checkpoint holds no training state to continue"
        raise CalogeoError(msg)
    return model


def _identity(path: Path) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of ``path``, None if it does not exist: whether this run wrote it."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _interrupted(output: Path, before: tuple[int, int, int] | None) -> str:
    """What an interrupted training left at ``output`` (identity ``before`` it started)."""
    now = _identity(output)
    if now is None:
        return "no checkpoint written"
    if now != before:
        return f"{output} holds the last good checkpoint of this run"
    return f"no checkpoint written yet; {output} is left as it was (from an earlier run)"


def history_table(history: list[dict[str, float]]) -> str:
    """The per-epoch history as a text table."""
    if not history:
        return "(no history)"
    columns = list(dict.fromkeys(k for row in history for k in row))
    rows = [
        tuple(
            "" if k not in row else (f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]))
            for k in columns
        )
        for row in history
    ]
    return format_table(tuple(columns), rows)
