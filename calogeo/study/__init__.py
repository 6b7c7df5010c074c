"""Declarative, resumable studies: ``calogeo study STUDY.toml``.

A study file (:mod:`calogeo.study.spec`) becomes the stage graph simulate -> resample -> train
-> evaluate -> report (:mod:`calogeo.study.runner`), each stage cached under a key of its
inputs and settings; the report (:mod:`calogeo.study.report`) is a directory with
``results.json``, the table of ``calogeo demo`` and one Markdown page of plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from calogeo.study.spec import Model, Sample, Study, StudyError, Task, load_study, parse_study

__all__ = [
    "Model",
    "Sample",
    "Study",
    "StudyError",
    "Task",
    "load_study",
    "parse_study",
    "run_study",
]


def run_study(
    study: Study,
    folder: Path,
    *,
    client: Any = None,
    device: str | None = None,
    report: Path | None = None,
) -> tuple[list[dict[str, Any]], Any]:
    """Run every stage of ``study`` into ``folder`` (cache in ``folder/cache``, report in
    ``report``, default ``folder/report``); returns (evaluation records, the Runner: what
    ran, what was cached)."""
    from calogeo.study.report import write_report
    from calogeo.study.runner import Runner

    runner = Runner(study, folder, client=client, device=device)
    records = runner.run()
    write_report(records, report or Path(folder) / "report", study.name)
    return records, runner
