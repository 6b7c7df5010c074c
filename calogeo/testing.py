"""Helpers for testing calogeo plugins the way calogeo tests itself.

>>> with isolated_plugins(my_plugin_module) as manager:
...     assert "tower" in manager.geometries
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from calogeo.plugins import PluginManager, reset_plugin_manager

__all__ = ["isolated_plugins"]


@contextmanager
def isolated_plugins(
    *plugins: Any, entry_points: bool = False, strict: bool = True
) -> Iterator[PluginManager]:
    """Install a fresh process-wide plugin manager holding only ``plugins`` (modules or objects
    with ``@hookimpl`` functions), plus the installed entry points if ``entry_points``.

    Everything that looks names up (``calogeo.get_geometry``, the CLI) sees this manager until
    the block ends; the previous manager is restored afterwards.
    """
    manager = PluginManager(load_entry_points=entry_points, strict=strict)
    for i, plugin in enumerate(plugins):
        manager.register(plugin, name=getattr(plugin, "__name__", f"plugin{i}"))
    old = reset_plugin_manager(manager)
    try:
        yield manager
    finally:
        reset_plugin_manager(old)
