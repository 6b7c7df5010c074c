"""Plugin discovery and the registries of geometries, models, metrics and formats.

Plugins are found through the ``calogeo`` entry-point group and called through pluggy. Each
plugin is loaded and called in its own ``try``: a broken plugin is reported on stderr with its
name, distribution and the error, and the others keep working. ``CALOGEO_STRICT_PLUGINS=1``
(set by the test suite) turns these reports into exceptions. A plugin that calls ``sys.exit``
while importing or in a hook is treated like one that raises (Ctrl-C still stops calogeo).

Each registered item is checked on its own: an item that is invalid (no name, a class without
the methods its category needs, a name another plugin already took) is rejected and reported
naming the plugin (and, for a duplicate, both plugins), and the plugin's other items stay. The
first-party plugins are loaded first, so a third-party item reusing a shipped name is the one
rejected. A geometry factory that raises or returns something else than a Geometry, a spec that
does not validate, and a lazy reference that does not import fail with a one-line
:class:`PluginError` at first use; ``calogeo plugins`` builds every item to report them.

Discovery is cheap: a plugin may register a model, metric or format as a lazy reference
``"package.module:Class"`` with its ``name``, ``kind`` and ``description``, so listing reads only
that metadata. The module is imported when the item is first used, and the object found there is
checked against what was registered (a mismatch or a failed import is a one-line
:class:`PluginError` naming the plugin).
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property, partial
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

import pluggy

from calogeo import hookspecs
from calogeo._spec_text import parse_spec_text
from calogeo.errors import (
    PluginError,
    SpecError,
    UnknownFormatError,
    UnknownGeometryError,
    UnknownHitReaderError,
    UnknownMetricError,
    UnknownModelError,
    UnknownNameError,
)

if TYPE_CHECKING:
    from calogeo.geometry import Geometry

__all__ = [
    "INTERFACES",
    "PLUGIN_FAILURES",
    "Entry",
    "GeometryFactory",
    "LazyReference",
    "PluginManager",
    "PluginReport",
    "Registry",
    "lazy_attributes",
    "one_line",
    "plugin_manager",
    "reset_plugin_manager",
    "resolve_reference",
]

ENTRY_POINT_GROUP = "calogeo"
FIRST_PARTY = "calogeo"  # the distribution of the shipped plugins
T = TypeVar("T")

# What a plugin's code may do wrong and be reported for: any exception, or sys.exit. Ctrl-C
# (KeyboardInterrupt) is the user's and is never caught here.
PLUGIN_FAILURES = (Exception, SystemExit)

# The methods calogeo calls on a registered class, per category.
INTERFACES: dict[str, tuple[str, ...]] = {
    "model": ("build",),
    "metric": ("compute",),
    "format": ("detect", "default_geometry", "count", "read"),
    "hit reader": ("detect", "iter_batches"),
}


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered item: its name, how to make it, and which plugin provided it."""

    name: str
    factory: Callable[[], T]
    description: str
    kind: str
    plugin: str

    def load(self) -> T:
        """Build (or return) the item; a lazy reference is imported and checked here."""
        return self.factory()

    @property
    def lazy(self) -> bool:
        """Whether the item is a ``"module:attr"`` reference not imported yet."""
        return isinstance(self.factory, LazyReference) and not self.factory.loaded


class _PluginItem:
    """A factory of one plugin's item whose failures are one-line errors naming the plugin,
    the category and the item (kept in ``error`` for ``calogeo plugins``)."""

    def __init__(self, category: str, name: str, plugin: str) -> None:
        self.category = category
        self.name = name
        self.plugin = plugin
        self.error = ""
        self._object: Any = None
        self.loaded = False

    def _fail(self, detail: str, exc: BaseException | None = None) -> NoReturn:
        self.error = f"{self.category} {self.name!r}: {one_line(detail)}"
        msg = f"plugin {self.plugin!r}: {self.error}"
        raise PluginError(msg) from exc


class GeometryFactory(_PluginItem):
    """Builds a plugin's geometry once (from its spec file or factory) and checks it: an
    exception, ``sys.exit`` or a result that is not a Geometry is a one-line PluginError."""

    def __init__(self, build: Callable[[], Any], name: str, plugin: str) -> None:
        super().__init__("geometry", name, plugin)
        self._build = build

    def __call__(self) -> Geometry:
        if not self.loaded:
            try:
                result = self._build()
            except PLUGIN_FAILURES as exc:
                detail = str(exc) if isinstance(exc, SpecError) else f"{type(exc).__name__}: {exc}"
                self._fail(f"cannot be built: {detail}", exc)
            from calogeo.geometry import Geometry

            if not isinstance(result, Geometry):
                self._fail(f"its factory returned {type(result).__name__}, not a Geometry")
            self._object = result
            self.loaded = True
        return self._object


class LazyReference(_PluginItem):
    """Imports ``"module:attr"`` on the first call and checks the object against the metadata
    it was registered with (its ``name`` and ``kind`` must match)."""

    def __init__(self, ref: str, category: str, name: str, kind: str, plugin: str) -> None:
        module, sep, attr = ref.partition(":")
        if not sep or not module or not attr:
            msg = f"lazy reference {ref!r} must look like 'package.module:Name'"
            raise PluginError(msg)
        super().__init__(category, name, plugin)
        self.ref = ref
        self.kind = kind

    def __call__(self) -> Any:
        if not self.loaded:
            self._object = self._import()
            self.loaded = True
        return self._object

    def _import(self) -> Any:
        try:
            obj = resolve_reference(self.ref)
        except PLUGIN_FAILURES as exc:  # any import failure (sys.exit too) is the plugin's
            self._fail(f"cannot import {self.ref!r}: {type(exc).__name__}: {exc}", exc)
        try:
            name, _, kind = _class_metadata(obj, self.category)
        except PluginError as exc:
            self._fail(str(exc), exc)
        if (name, kind) != (self.name, self.kind):
            self._fail(
                f"{self.ref!r} is {self.category} {name!r} of kind {kind!r}, "
                f"but was registered as {self.name!r} of kind {self.kind!r}"
            )
        return obj


def one_line(text: str) -> str:
    """``text`` on one line (a multi-line error's lines joined by "; "), for reports and tables."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def resolve_reference(ref: str) -> Any:
    """The object a ``"package.module:attr"`` reference names (imports the module)."""
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def lazy_attributes(module: str, refs: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) importing each name of ``refs`` from its
    ``"package.module:attr"`` reference on first access, so a plugin package can keep exporting
    its classes while registering them lazily::

        __getattr__ = lazy_attributes(__name__, {"Tower": "calogeo_tower.model:Tower"})
    """

    def __getattr__(name: str) -> Any:
        if name not in refs:
            msg = f"module {module!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = resolve_reference(refs[name])
        setattr(sys.modules[module], name, value)
        return value

    return __getattr__


@dataclass
class PluginReport:
    """What calogeo knows about one plugin: where it came from and whether it loaded."""

    name: str
    distribution: str = ""
    version: str = ""
    error: str = ""
    provided: list[str] = field(default_factory=list)


class Registry(Generic[T]):
    """Items of one category by name; a duplicate name is an error naming both providers."""

    def __init__(self, category: str, unknown: type[UnknownNameError]) -> None:
        self.category = category
        self._unknown = unknown
        self._entries: dict[str, Entry[T]] = {}

    def add(self, entry: Entry[T]) -> None:
        """Add ``entry``; raises PluginError if its name is taken."""
        if entry.name in self._entries:
            other = self._entries[entry.name].plugin
            msg = (
                f"duplicate {self.category} name {entry.name!r}: provided by plugin "
                f"{other!r} and by plugin {entry.plugin!r}"
            )
            raise PluginError(msg)
        self._entries[entry.name] = entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> Entry[T]:
        """The entry called ``name``; an unknown name raises with close-match suggestions."""
        try:
            return self._entries[name]
        except KeyError:
            raise self._unknown(name, self._entries) from None

    def get(self, name: str) -> T:
        """Build the item called ``name``."""
        return self.entry(name).load()

    def names(self) -> list[str]:
        """Sorted names."""
        return sorted(self._entries)


class PluginManager:
    """Loads plugins and fills the registries. Use :func:`plugin_manager` for the shared one."""

    def __init__(self, *, load_entry_points: bool = True, strict: bool | None = None) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.strict = (
            strict if strict is not None else os.environ.get("CALOGEO_STRICT_PLUGINS") == "1"
        )
        self.reports: dict[str, PluginReport] = {}
        if load_entry_points:
            self._load_entry_points()

    # -- loading -----------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        def order(ep: metadata.EntryPoint) -> tuple[bool, str]:  # first-party plugins first
            dist = getattr(ep, "dist", None)
            return (dist is None or dist.name != FIRST_PARTY, ep.name)

        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=order):
            dist = getattr(ep, "dist", None)
            report = PluginReport(
                ep.name,
                distribution=dist.name if dist is not None else "",
                version=dist.version if dist is not None else "",
            )
            self.reports[ep.name] = report
            try:
                plugin = ep.load()
            except PLUGIN_FAILURES as exc:  # a broken plugin must not break the others
                self._report(
                    report, f"failed to import {ep.value!r}: {type(exc).__name__}: {exc}", exc
                )
                continue
            self.register(plugin, name=ep.name)

    def register(self, plugin: Any, name: str) -> None:
        """Register a plugin object (module or instance with hook implementations)."""
        self.reports.setdefault(name, PluginReport(name))
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001 - reported by plugin name
            self._report(self.reports[name], f"invalid plugin: {type(exc).__name__}: {exc}", exc)
        else:
            self._check_hook_names(name)
        for category in ("geometries", "models", "metrics", "formats", "hit_readers"):
            self.__dict__.pop(category, None)  # registries are rebuilt with the new plugin

    def _check_hook_names(self, name: str) -> None:
        """Report a hook implementation of ``name`` that matches no hook (a typo is otherwise
        silently never called)."""
        for hook_name, caller in vars(self.pm.hook).items():
            if caller.has_spec():
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin_name == name and not impl.optionalhook:
                    known = sorted(h for h, c in vars(self.pm.hook).items() if c.has_spec())
                    close = difflib.get_close_matches(hook_name, known, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    error = PluginError(f"unknown hook {hook_name!r}{hint}")
                    self._report(self.reports[name], str(error), error)

    def _report(self, report: PluginReport, message: str, exc: BaseException) -> None:
        message = one_line(message)
        report.error = report.error + ("; " if report.error else "") + message
        origin = f" ({report.distribution} {report.version})" if report.distribution else ""
        text = f"calogeo: plugin {report.name!r}{origin}: {message}"
        if self.strict:
            raise PluginError(text) from exc
        print(text, file=sys.stderr)

    def _collect(
        self, hook_name: str, registry: Registry[Any], make: Callable[..., Entry[Any]]
    ) -> Registry[Any]:
        """Call ``hook_name`` on every plugin separately so a failure names its plugin."""
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # registration order
            report = self.reports.setdefault(impl.plugin_name, PluginReport(impl.plugin_name))

            def register(item: Any, _plugin: str = impl.plugin_name, **kwargs: Any) -> None:
                """Add one item; an invalid one is reported and skipped, the others stay."""
                try:
                    entry = make(item, _plugin, **kwargs)
                    registry.add(entry)
                except (PluginError, TypeError) as exc:
                    detail = str(exc) if isinstance(exc, PluginError) else f"TypeError: {exc}"
                    self._report(self.reports[_plugin], f"{hook_name}: {detail}", exc)
                    return
                self.reports[_plugin].provided.append(f"{registry.category}:{entry.name}")

            try:
                impl.function(register=register)
            except PLUGIN_FAILURES as exc:  # reported by plugin name, sys.exit included
                if self.strict and isinstance(exc, PluginError):
                    raise  # already reported by register()
                self._report(report, f"{hook_name} failed: {type(exc).__name__}: {exc}", exc)
        return registry

    # -- registries --------------------------------------------------------------------------

    @cached_property
    def geometries(self) -> Registry[Geometry]:
        """Registered geometries."""
        return self._collect(
            "calogeo_register_geometries",
            Registry("geometry", UnknownGeometryError),
            _geometry_entry,
        )

    @cached_property
    def models(self) -> Registry[Any]:
        """Registered model classes."""
        return self._collect(
            "calogeo_register_models",
            Registry("model", UnknownModelError),
            partial(_class_entry, category="model"),
        )

    @cached_property
    def metrics(self) -> Registry[Any]:
        """Registered metric classes."""
        return self._collect(
            "calogeo_register_metrics",
            Registry("metric", UnknownMetricError),
            partial(_class_entry, category="metric"),
        )

    @cached_property
    def formats(self) -> Registry[Any]:
        """Registered shower-file formats."""
        return self._collect(
            "calogeo_register_formats",
            Registry("format", UnknownFormatError),
            partial(_class_entry, category="format"),
        )

    @cached_property
    def hit_readers(self) -> Registry[Any]:
        """Registered readers of simulated hits."""
        return self._collect(
            "calogeo_register_hit_readers",
            Registry("hit reader", UnknownHitReaderError),
            partial(_class_entry, category="hit reader"),
        )

    def load_all(self, *, resolve: bool = False) -> None:
        """Fill every registry (so every plugin's errors are reported); ``resolve`` also builds
        every item (imports lazy references, builds and validates every geometry) and reports
        those that fail, per item."""
        for category in ("geometries", "models", "metrics", "formats", "hit_readers"):
            registry = getattr(self, category)
            if not resolve:
                continue
            for entry in registry:
                try:
                    entry.load()
                except PluginError as exc:
                    report = self.reports.setdefault(entry.plugin, PluginReport(entry.plugin))
                    self._report(report, getattr(entry.factory, "error", "") or str(exc), exc)


def _geometry_entry(
    item: Any, plugin: str, *, name: str | None = None, description: str | None = None
) -> Entry[Geometry]:
    if isinstance(item, (str, Path)):
        path = Path(item)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"cannot read geometry spec {path}: {exc.strerror}"
            raise PluginError(msg) from exc
        head = parse_spec_text(text, str(path))  # cheap: names the entry without building it

        def build() -> Geometry:
            from calogeo.spec import load_geometry

            return load_geometry(path)

        entry_name = str(name or head.get("name", path.stem))
        return Entry(
            entry_name,
            GeometryFactory(build, entry_name, plugin),
            str(description or head.get("title", "")),
            _geometry_kind(head),
            plugin,
        )
    # A Geometry instance implies its module is loaded; not importing it keeps discovery light.
    geometry_module = sys.modules.get("calogeo.geometry")
    if geometry_module is not None and isinstance(item, geometry_module.Geometry):
        kind = "+".join(item.groups) + (" (seed)" if item.variant == "seed" else "")
        return Entry(name or item.name, lambda: item, description or item.title, kind, plugin)
    if callable(item):
        if not name or not description:
            msg = "a geometry factory needs name= and description="
            raise PluginError(msg)
        return Entry(name, GeometryFactory(item, name, plugin), description, "geometry", plugin)
    msg = f"cannot register {item!r} as a geometry: expected a spec path, Geometry or factory"
    raise PluginError(msg)


def _geometry_kind(spec: dict[str, Any]) -> str:
    layers = spec.get("layers") or []
    groups = list(dict.fromkeys(str(t.get("group", "ECAL")) for t in layers if isinstance(t, dict)))
    kind = "+".join(groups) or "?"
    return kind + (" (seed)" if spec.get("variant") == "seed" else "")


def _class_metadata(item: Any, category: str = "item") -> tuple[str, str, str]:
    """(name, first line of description, kind) of a registered class, checked to have the
    methods its category needs (:data:`INTERFACES`); kinds are joined by commas."""
    name = getattr(item, "name", None)
    if not isinstance(name, str) or not name:
        msg = f"cannot register {item!r}: it has no 'name' attribute"
        raise PluginError(msg)
    missing = [m for m in INTERFACES.get(category, ()) if not callable(getattr(item, m, None))]
    abstract = sorted(getattr(item, "__abstractmethods__", ()))
    if missing or abstract:
        what = (
            f"has no {', '.join(missing)}" if missing else f"leaves {', '.join(abstract)} abstract"
        )
        where = f"{getattr(item, '__module__', '?')}.{getattr(item, '__qualname__', item)}"
        msg = f"cannot register {category} {name!r} ({where}): it {what}"
        raise PluginError(msg)
    description = _first_line(getattr(item, "description", ""))
    return name, description, _kind_text(getattr(item, "kind", ""))


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _kind_text(kind: Any) -> str:
    return ",".join(kind) if isinstance(kind, (tuple, list, frozenset, set)) else str(kind)


def _class_entry(
    item: Any,
    plugin: str,
    *,
    name: str | None = None,
    kind: str | tuple[str, ...] = "",
    description: str | None = None,
    category: str = "item",
) -> Entry[Any]:
    """An entry for a class, or for a lazy ``"module:Class"`` reference with its metadata."""
    if isinstance(item, str):
        if not name or description is None:
            msg = f"a lazy reference ({item!r}) needs name= and description="
            raise PluginError(msg)
        text = _kind_text(kind)
        factory = LazyReference(item, category, name, text, plugin)
        return Entry(name, factory, _first_line(description), text, plugin)
    item_name, item_description, item_kind = _class_metadata(item, category)
    if (name or item_name, _kind_text(kind) or item_kind) != (item_name, item_kind):
        msg = f"{item!r} has name {item_name!r} and kind {item_kind!r}: do not override them"
        raise PluginError(msg)
    description = _first_line(description) or item_description
    return Entry(item_name, lambda: item, description, item_kind, plugin)


_MANAGER: PluginManager | None = None


def plugin_manager() -> PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _MANAGER
    if _MANAGER is None:
        _MANAGER = PluginManager()
    return _MANAGER


def reset_plugin_manager(manager: PluginManager | None = None) -> PluginManager | None:
    """Replace the process-wide manager (None: rebuild on next use); returns the old one."""
    global _MANAGER
    old, _MANAGER = _MANAGER, manager
    return old
