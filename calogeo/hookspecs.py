"""Hook specifications: the extension points of calogeo.

A plugin is a module (or object) exposing functions marked with :data:`hookimpl`, made known
through the ``calogeo`` entry-point group. Every hook receives a ``register`` callable owned by
the core; the plugin calls it once per item it provides::

    from calogeo import hookimpl

    @hookimpl
    def calogeo_register_geometries(register):
        register(Path(__file__).parent / "tower.toml")
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "calogeo"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def calogeo_register_geometries(register: Callable[..., None]) -> None:
    """Register detector geometries.

    ``register(item, *, name=None, description=None)`` takes a path to a spec file (TOML), a
    :class:`~calogeo.Geometry`, or a zero-argument factory returning one (then ``name`` and
    ``description`` are required).
    """


@hookspec
def calogeo_register_models(register: Callable[..., None]) -> None:
    """Register models: ``register(cls)`` with a :class:`~calogeo.model.Model` subclass, whose
    ``name``, ``kind`` and ``description`` class attributes identify it, or lazily
    ``register("package.module:Class", name=..., kind=..., description=...)``: the module is
    imported on first use and the class's ``name`` and ``kind`` must match."""


@hookspec
def calogeo_register_metrics(register: Callable[..., None]) -> None:
    """Register metrics: ``register(cls)`` with a :class:`~calogeo.metric.Metric` subclass, whose
    ``name``, ``kind`` and ``description`` class attributes identify it, or lazily
    ``register("package.module:Class", name=..., kind=..., description=...)``."""


@hookspec
def calogeo_register_formats(register: Callable[..., None]) -> None:
    """Register shower-file formats: ``register(cls)`` with a
    :class:`~calogeo.formats.ShowerFormat` subclass (``name``, ``description``, ``detect``,
    ``read``, optionally ``write``), or lazily
    ``register("package.module:Class", name=..., description=...)``."""


@hookspec
def calogeo_register_hit_readers(register: Callable[..., None]) -> None:
    """Register readers of simulated hits (EDM4hep ROOT, hit tables, point clouds...):
    ``register(cls)`` with a :class:`~calogeo.hits.HitReader` subclass (``name``,
    ``description``, ``detect``, ``iter_batches``), or lazily
    ``register("package.module:Class", name=..., description=...)``."""
