"""Look things up by name in what the plugins registered."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from calogeo.plugins import Entry, plugin_manager

if TYPE_CHECKING:
    from calogeo.geometry import Geometry

__all__ = [
    "get_format",
    "get_geometry",
    "get_hit_reader",
    "get_metric",
    "get_model",
    "list_formats",
    "list_geometries",
    "list_hit_readers",
    "list_metrics",
    "list_models",
]


def get_geometry(name: str | Path | Geometry) -> Geometry:
    """A registered geometry by name, or one loaded from a spec file path (``*.toml``)."""
    from calogeo.geometry import Geometry

    if isinstance(name, Geometry):
        return name
    if str(name).endswith(".toml"):
        from calogeo.spec import load_geometry

        return load_geometry(name)
    return plugin_manager().geometries.get(str(name))


def list_geometries() -> list[Entry[Geometry]]:
    """Every registered geometry (name, description, kind, providing plugin)."""
    return list(plugin_manager().geometries)


def get_model(name: str) -> Any:
    """The model class registered as ``name``."""
    return plugin_manager().models.get(name)


def list_models() -> list[Entry[Any]]:
    """Every registered model."""
    return list(plugin_manager().models)


def get_metric(name: str) -> Any:
    """The metric class registered as ``name``."""
    return plugin_manager().metrics.get(name)


def list_metrics() -> list[Entry[Any]]:
    """Every registered metric."""
    return list(plugin_manager().metrics)


def get_format(name: str) -> Any:
    """The shower-file format class registered as ``name``."""
    return plugin_manager().formats.get(name)


def list_formats() -> list[Entry[Any]]:
    """Every registered shower-file format."""
    return list(plugin_manager().formats)


def get_hit_reader(name: str) -> Any:
    """The hit-reader class registered as ``name``."""
    return plugin_manager().hit_readers.get(name)


def list_hit_readers() -> list[Entry[Any]]:
    """Every registered hit reader."""
    return list(plugin_manager().hit_readers)
