"""The report of a study: ``results.json``, the table ``calogeo demo`` prints, and one
Markdown page (``report.md``) with, per task, the ROC curves of every model on every detector
version and, per detector version, the bias and resolution against the true energy of every
model beside the calibrated sum and the linear calibration (the shape of Belayneh et al.,
EPJC 80 (2020) 688, Fig. 17-19)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

__all__ = ["outcomes", "table", "write_report"]


def outcomes(records: list[dict[str, Any]]) -> list[Any]:
    """The evaluation records as ``calogeo demo`` Outcomes (metric results rebuilt)."""
    from calogeo.metric import MetricResult
    from calogeo.study.crossgeometry import Outcome

    return [
        Outcome(
            r["version"],
            r["model"],
            auc=float("nan") if r["auc"] is None else r["auc"],
            resolution=float("nan") if r["resolution"] is None else r["resolution"],
            seconds=r.get("seconds", 0.0),
            results={k: MetricResult.from_dict(v) for k, v in r["results"].items()},
            baselines={k: MetricResult.from_dict(v) for k, v in r["baselines"].items()},
        )
        for r in records
    ]


def table(records: list[dict[str, Any]]) -> str:
    """``calogeo demo``'s AUC / resolution table of the records (one task)."""
    from calogeo.study.crossgeometry import results_table

    cells = {
        r["version"]: SimpleNamespace(geometry=SimpleNamespace(n_cells=r["cells"])) for r in records
    }
    return results_table(outcomes(records), cells)  # type: ignore[arg-type]


def _energy_plot(here: list[Any], title: str, path: Path) -> bool:
    """Bias (top) and resolution (bottom) vs true energy of the models and baselines."""
    from calogeo.plotting import plot_energy_performance, save_figure
    from calogeo.predictions import BASELINES

    bias = {o.model: o.results["bias"] for o in here if "bias" in o.results}
    resolution = {o.model: o.results["resolution"] for o in here if "resolution" in o.results}
    if not bias or not resolution:
        return False
    for name, label in BASELINES.items():
        result = next((o.baselines[name] for o in here if name in o.baselines), None)
        if result is not None:
            resolution[label] = result
    figure = plot_energy_performance(bias, resolution)
    figure.axes[0].set_title(title, fontsize=10)
    save_figure(figure, path)
    return True


def write_report(records: list[dict[str, Any]], folder: Path, title: str) -> str:
    """Write ``results.json``, ``table.txt``, ``report.md`` and the plots into ``folder``
    (replaced as a whole, atomically); returns the Markdown text."""
    from calogeo.study.crossgeometry import slug, write_plots

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        clean = json.loads(
            json.dumps(records, default=str).replace("NaN", "null").replace("Infinity", "null")
        )
        (staging / "results.json").write_text(json.dumps(clean, indent=1))
        lines = [f"# {title}", ""]
        tables = []
        tasks = list(dict.fromkeys(r["task"] for r in records))
        for task in tasks:
            mine = [r for r in records if r["task"] == task]
            text = table(mine)
            tables.append(f"{task}\n{text}")
            # one task: its plots in the report folder itself (as calogeo demo writes them)
            plots = staging / slug(task) if len(tasks) > 1 else staging
            plots.mkdir(exist_ok=True)
            where = f"{plots.name}/" if len(tasks) > 1 else ""
            found = outcomes(mine)
            lines += [f"## {task}", "", "```", text, "```", ""]
            for path in write_plots(found, plots):
                if path.name.startswith("roc_"):
                    lines += [f"![{path.stem}]({where}{path.name})", ""]
            for version in dict.fromkeys(o.version for o in found):
                here = [o for o in found if o.version == version]
                path = plots / f"energy_{slug(version)}.png"
                if _energy_plot(here, f"{version}: bias and resolution", path):
                    lines += [f"### {version}", "", f"![{path.stem}]({where}{path.name})", ""]
        (staging / "table.txt").write_text("\n\n".join(tables) + "\n")
        markdown = "\n".join(lines)
        (staging / "report.md").write_text(markdown)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return markdown
