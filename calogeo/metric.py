"""The Metric interface and the result every metric returns.

A metric has a ``name``, a ``kind`` and a ``description`` (class attributes, used by the
registry) and ``compute(...) -> MetricResult``:

- ``classification`` and ``regression`` metrics (:class:`PredictionMetric`) judge a model's
  :class:`~calogeo.predictions.Predictions` against the truth they carry;
- ``fidelity`` metrics (:class:`FidelityMetric`) compare generated showers with reference
  showers on the same geometry.

Options (binning, thresholds, device) are given to the constructor. A :class:`MetricResult`
holds named scalars, per-bin tables (columns of equal length) and plot descriptions that
:meth:`MetricResult.plot` draws; it serialises to JSON and back, plots included.
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from calogeo.errors import CalogeoError, GeometryMismatchError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from calogeo.predictions import Predictions
    from calogeo.showers import Showers

__all__ = [
    "KINDS",
    "FidelityMetric",
    "Metric",
    "MetricResult",
    "PredictionMetric",
    "check_same_geometry",
    "jsonable",
    "plain_log_ticks",
]

KINDS = ("classification", "regression", "fidelity")


def jsonable(value: Any) -> Any:
    """``value`` (dicts, lists, arrays, numbers) as JSON-ready Python; NaN and inf -> None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def _array(values: list[Any]) -> np.ndarray:
    """JSON list back to a float array (None -> NaN)."""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@dataclass
class MetricResult:
    """What a metric computed.

    ``values``: named scalars; ``tables``: name -> {column: values} (per-bin results, curves,
    matrices as lists of rows); ``plots``: descriptions of figures, each a dict with ``type``
    ("line", "errorbar", "step", "bar" or "matrix"), ``table``, the columns to draw, optional
    ``curves`` (dicts with table, x, y, label: e.g. a fit drawn over the points) and the axis
    labels (with units); ``meta``: free text facts (bins, sample sizes, options).
    """

    metric: str
    kind: str
    values: dict[str, float] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    plots: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    # -- serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite numbers become null)."""
        return jsonable(
            {
                "metric": self.metric,
                "kind": self.kind,
                "values": self.values,
                "tables": self.tables,
                "plots": self.plots,
                "meta": self.meta,
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        """The result as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricResult:
        """Inverse of :meth:`to_dict` (null numbers come back as NaN)."""
        values = {k: (np.nan if v is None else v) for k, v in data.get("values", {}).items()}
        return cls(
            data["metric"],
            data["kind"],
            values,
            dict(data.get("tables", {})),
            list(data.get("plots", [])),
            dict(data.get("meta", {})),
        )

    @classmethod
    def from_json(cls, text: str) -> MetricResult:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        """Write the JSON to ``path`` atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
        try:
            tmp.write_text(self.to_json() + "\n", encoding="utf-8")
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    # -- access and drawing --------------------------------------------------------------------

    def column(self, table: str, column: str) -> np.ndarray:
        """One column of a table as a float array."""
        return _array(list(self.tables[table][column]))

    def plot(self, ax: Axes, index: int = 0) -> Axes:
        """Draw plot description ``index`` on ``ax``; returns ``ax``."""
        spec = self.plots[index]
        kind = spec.get("type", "line")
        table = self.tables[spec["table"]]
        if kind == "matrix":
            matrix = np.array(
                [[np.nan if v is None else v for v in row] for row in table[spec["column"]]],
                dtype=np.float64,
            )
            names = list(table[spec["names"]])
            limit = spec.get("limit") or float(np.nanmax(np.abs(matrix))) or 1.0
            image = ax.imshow(matrix, cmap=spec.get("cmap", "RdBu_r"), vmin=-limit, vmax=limit)
            ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
            ax.set_yticks(range(len(names)), names, fontsize=6)
            ax.figure.colorbar(image, ax=ax, label=spec.get("zlabel", ""))
            if len(names) <= 16:  # small matrices carry their numbers, as ILD Fig. 5
                for (i, j), value in np.ndenumerate(matrix):
                    if np.isfinite(value):
                        ax.text(
                            j,
                            i,
                            f"{value:.2f}",
                            ha="center",
                            va="center",
                            fontsize=5,
                            color="white" if abs(value) > 0.6 * limit else "black",
                        )
        elif kind == "bar":
            labels = list(table[spec["x"]])
            for k, column in enumerate(spec["y"]):
                ax.barh(
                    np.arange(len(labels)) + 0.8 * (k + 0.5) / len(spec["y"]) - 0.4,
                    self.column(spec["table"], column),
                    height=0.8 / len(spec["y"]),
                    label=spec.get("labels", spec["y"])[k],
                )
            ax.set_yticks(range(len(labels)), labels, fontsize=6)
            ax.invert_yaxis()
        else:
            x = self.column(spec["table"], spec["x"])
            errors = spec.get("yerr") or [None] * len(spec["y"])
            for k, column in enumerate(spec["y"]):
                y = self.column(spec["table"], column)
                label = spec.get("labels", spec["y"])[k]
                if kind == "errorbar":
                    yerr = None if errors[k] is None else self.column(spec["table"], errors[k])
                    ax.errorbar(x, y, yerr=yerr, fmt="o", ms=4, capsize=2, label=label)
                elif kind == "step":
                    ax.step(x, y, where="mid", label=label)
                else:
                    ax.plot(x, y, label=label)
            for curve in spec.get("curves", []):
                cx = self.column(curve["table"], curve["x"])
                cy = self.column(curve["table"], curve["y"])
                ax.plot(cx, cy, "-", color="0.3", lw=1, label=curve.get("label"))
            ax.set_xscale(spec.get("xscale", "linear"))  # scales reset tick labels: lines only
            ax.set_yscale(spec.get("yscale", "linear"))
            if spec.get("xscale") == "log":
                plain_log_ticks(ax.xaxis)
        ax.set_xlabel(spec.get("xlabel", ""))
        ax.set_ylabel(spec.get("ylabel", ""))
        if spec.get("title"):
            ax.set_title(spec["title"], fontsize=10)
        if kind not in ("matrix",) and (len(spec.get("y", [])) > 1 or spec.get("curves")):
            ax.legend(fontsize=8, frameon=False)
        if kind != "matrix":
            ax.grid(alpha=0.3)
        return ax


def plain_log_ticks(axis: object) -> None:
    """Label a log axis at 1, 2, 5 x 10^k with plain numbers (10, 20, 50 GeV), no minor labels."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    axis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))  # type: ignore[attr-defined]
    axis.set_major_formatter(ScalarFormatter())  # type: ignore[attr-defined]
    axis.set_minor_formatter(NullFormatter())  # type: ignore[attr-defined]


class Metric:
    """Base of every metric; options are given to the constructor and kept as attributes."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    description: ClassVar[str] = ""
    source: ClassVar[str] = ""
    """Where the definition comes from (paper, section)."""

    def result(self, **parts: Any) -> MetricResult:
        """A MetricResult stamped with this metric's name and kind."""
        return MetricResult(self.name, self.kind, **parts)


class PredictionMetric(Metric, ABC):
    """A classification or regression metric of a model's predictions."""

    @classmethod
    def applies(cls, predictions: Predictions) -> bool:
        """True if ``predictions`` hold what this metric needs."""
        if cls.kind == "classification":
            return predictions.has_classification
        return predictions.has_regression

    @abstractmethod
    def compute(self, predictions: Predictions) -> MetricResult:
        """Judge ``predictions`` against the truth they carry."""


class FidelityMetric(Metric, ABC):
    """A comparison of generated showers with reference showers on the same geometry."""

    kind = "fidelity"

    @abstractmethod
    def compare(self, reference: Showers, generated: Showers) -> MetricResult:
        """The comparison proper (geometries already checked)."""

    def compute(self, reference: Showers, generated: Showers) -> MetricResult:
        """Compare ``generated`` with ``reference``; refuses showers on different geometries."""
        check_same_geometry(reference, generated, self.name)
        if len(reference) < 2 or len(generated) < 2:
            msg = (
                f"metric {self.name!r} needs at least 2 reference and 2 generated showers, got "
                f"{len(reference)} and {len(generated)}"
            )
            raise CalogeoError(msg)
        return self.compare(reference, generated)


def check_same_geometry(reference: Showers, generated: Showers, what: str = "comparison") -> None:
    """Raise GeometryMismatchError unless both batches are on the same geometry."""
    if reference.geometry != generated.geometry:
        msg = (
            f"{what}: reference showers are on geometry {reference.geometry.name!r} and "
            f"generated showers on {generated.geometry.name!r}; compare showers on the same "
            f"geometry (resample one of them first)"
        )
        raise GeometryMismatchError(msg)
