"""``calogeo demo-generative``: the generative comparison in one command (simulate a reference,
train generative models, generate, validate, print the table). The study is
:mod:`calogeo.study.generative`; this module only parses and prints."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from calogeo._table import format_table
from calogeo.device import DEVICE_CHOICES

ORDER = 91


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo-generative",
        help="simulate, train generative models, generate, validate, compare (minutes)",
        description="Simulate a reference in one geometry (default: pi+ 10-100 GeV in the ILD "
        "AHCAL window), train each generative model there (small preset), generate showers at "
        "the reference's energies and validate them against an independent reference: "
        "classifier AUC, FPD, separation powers, response and resolution ratios, largest "
        "correlation difference, generation speed. Writes shower files, checkpoints, "
        "validation/<model>/ (JSON and PNG per metric) and summary.json.",
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("calogeo-demo-generative"))
    parser.add_argument("--geometry", default="ild_ahcal", help="registered name or spec file")
    parser.add_argument("--particle", default="pi+")
    parser.add_argument("--energy", default="10:100", metavar="LO:HI", help="GeV, uniform")
    parser.add_argument("--models", default="bibae,wgan", help="comma-separated generative models")
    parser.add_argument("-n", "--events", type=int, default=1500, help="training showers")
    parser.add_argument(
        "--reference-events", type=int, default=1000, help="independent reference showers"
    )
    parser.add_argument("--size", choices=("small", "paper"), default="small")
    parser.add_argument(
        "--epochs", type=int, default=3, help="every model's epochs (0: each preset's own)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="MODEL.NAME=VALUE",
        help="a hyper-parameter of one model (VALUE as JSON), e.g. --set bibae.pp_epochs=2",
    )
    parser.add_argument(
        "--threshold-mip", type=float, default=0.5, help="validation cell threshold in MIPs"
    )
    parser.add_argument("--device", choices=DEVICE_CHOICES, default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from calogeo.cli.cmd_simulate import parse_range
    from calogeo.cli.cmd_train import parse_settings
    from calogeo.errors import CalogeoError
    from calogeo.study.generative import TABLE_COLUMNS, DemoOptions, run_demo

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    hparams: dict[str, dict[str, Any]] = DemoOptions().hparams if args.epochs else {}
    hparams = {m: dict(v) for m, v in hparams.items() if m in models}
    for key, value in parse_settings(args.set).items():
        model, dot, name = key.partition(".")
        if not dot or model not in models:
            msg = f"--set {key}=...: expected MODEL.NAME with MODEL one of {', '.join(models)}"
            raise CalogeoError(msg)
        hparams.setdefault(model, {})[name] = value
    options = DemoOptions(
        geometry=args.geometry,
        particle=args.particle,
        energy_gev=parse_range(args.energy, "--energy", positive=True),
        models=models,
        n_train=args.events,
        n_reference=args.reference_events,
        size=args.size,
        epochs=args.epochs or None,
        hparams=hparams,
        threshold_mip=args.threshold_mip,
        device=args.device,
        seed=args.seed,
    )
    rows = run_demo(options, args.output)
    print(format_table(TABLE_COLUMNS, [[_cell(r[c]) for c in TABLE_COLUMNS] for r in rows]))
    print(f"wrote {args.output}/ (summary.json, validation/<model>/)")
    return 0


def _cell(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
