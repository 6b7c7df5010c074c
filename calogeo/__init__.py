"""calogeo: machine learning on particle-physics calorimeters across detector geometries.

Lengths are in mm, angles in radians and energies in GeV unless a name says otherwise.
"""

from __future__ import annotations

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
from calogeo.geometry import Geometry, Layer
from calogeo.hookspecs import hookimpl
from calogeo.io import (
    ShowerFile,
    ShowerWriter,
    open_showers,
    read_showers,
    write_showers,
)
from calogeo.layout import CellLayout, EtaPhiLayout, GridLayout, PolygonLayout, RectilinearLayout
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
from calogeo.spec import geometry_from_spec, geometry_to_spec_text, load_geometry

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
