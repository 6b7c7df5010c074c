"""calogeo: machine learning on particle-physics calorimeters across detector geometries.

Lengths are in mm, angles in radians and energies in GeV unless a name says otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from calogeo._version import __version__
from calogeo.errors import (
    CalogeoError,
    GeometryMismatchError,
    MissingDependencyError,
    PluginError,
    ShowerFileError,
    SpecError,
    UnknownFormatError,
    UnknownGeometryError,
    UnknownMetricError,
    UnknownModelError,
    UnknownNameError,
)
from calogeo.hookspecs import hookimpl

# Everything else is imported on first access (PEP 562), so ``import calogeo``, ``calogeo
# --help`` and plugin discovery do not pay for numpy-heavy modules, numba, scipy or torch.
_LAZY = {
    "calogeo.geometry": ("Geometry", "Layer"),
    "calogeo.io": ("ShowerFile", "ShowerWriter", "open_showers", "read_showers", "write_showers"),
    "calogeo.layout": (
        "CellLayout",
        "EtaPhiLayout",
        "GridLayout",
        "PolygonLayout",
        "RectilinearLayout",
    ),
    "calogeo.materials": ("STANDARD_MATERIALS", "Material", "layered", "mixture"),
    "calogeo.registry": (
        "get_format",
        "get_geometry",
        "get_metric",
        "get_model",
        "list_formats",
        "list_geometries",
        "list_metrics",
        "list_models",
    ),
    "calogeo.resample": ("Resampler",),
    "calogeo.showers": ("Showers",),
    "calogeo.sparse": ("SparseShowers",),
    "calogeo.spec": ("geometry_from_spec", "geometry_to_spec_text", "load_geometry"),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

if TYPE_CHECKING:
    from calogeo.geometry import Geometry, Layer
    from calogeo.io import ShowerFile, ShowerWriter, open_showers, read_showers, write_showers
    from calogeo.layout import (
        CellLayout,
        EtaPhiLayout,
        GridLayout,
        PolygonLayout,
        RectilinearLayout,
    )
    from calogeo.materials import STANDARD_MATERIALS, Material, layered, mixture
    from calogeo.registry import (
        get_format,
        get_geometry,
        get_metric,
        get_model,
        list_formats,
        list_geometries,
        list_metrics,
        list_models,
    )
    from calogeo.resample import Resampler
    from calogeo.showers import Showers
    from calogeo.sparse import SparseShowers
    from calogeo.spec import geometry_from_spec, geometry_to_spec_text, load_geometry


def __getattr__(name: str) -> Any:
    """Import a public name (or a submodule, as ``calogeo.observables``) on first access."""
    import importlib

    module = _MODULE_OF.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_"):
        try:
            value = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            value = None
    else:
        value = None
    if value is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))


__all__ = [
    "STANDARD_MATERIALS",
    "CalogeoError",
    "CellLayout",
    "EtaPhiLayout",
    "Geometry",
    "GeometryMismatchError",
    "GridLayout",
    "Layer",
    "Material",
    "MissingDependencyError",
    "PluginError",
    "PolygonLayout",
    "RectilinearLayout",
    "Resampler",
    "ShowerFile",
    "ShowerFileError",
    "ShowerWriter",
    "Showers",
    "SparseShowers",
    "SpecError",
    "UnknownFormatError",
    "UnknownGeometryError",
    "UnknownMetricError",
    "UnknownModelError",
    "UnknownNameError",
    "__version__",
    "geometry_from_spec",
    "geometry_to_spec_text",
    "get_format",
    "get_geometry",
    "get_metric",
    "get_model",
    "hookimpl",
    "layered",
    "list_formats",
    "list_geometries",
    "list_metrics",
    "list_models",
    "load_geometry",
    "mixture",
    "open_showers",
    "read_showers",
    "write_showers",
]
