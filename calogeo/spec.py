"""Declarative geometry specs (TOML): loading, validation, and the spec file format.

A spec describes the window of cells a network sees. Every problem in a spec is collected and
reported at once, each with the key at fault, in one :class:`~calogeo.errors.SpecError` that
names the file. The format is documented in ``geometries/README.md``.
"""

from __future__ import annotations

import math
from collections import ChainMap, Counter
from collections.abc import Iterator, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from calogeo._spec_text import geometry_to_spec_text, parse_spec_text
from calogeo.clip import overlapping_cells
from calogeo.errors import SpecError
from calogeo.geometry import Geometry, Layer
from calogeo.layout import (
    CellLayout,
    EtaPhiLayout,
    GridLayout,
    PolygonLayout,
    convex_polygon_problems,
)
from calogeo.materials import STANDARD_MATERIALS, Material, layered, mixture

__all__ = ["geometry_from_spec", "geometry_to_spec_text", "load_geometry", "parse_spec_text"]

_TOP_KEYS = {
    "name",
    "title",
    "citation",
    "variant",
    "notes",
    "distance_from_ip_mm",
    "anchor_mm",
    "stochastic_term",
    "materials",
    "layers",
}
_LAYER_KEYS = {
    "name",
    "repeat",
    "thickness_mm",
    "thickness_x0",
    "thickness_lambda",
    "z_front_mm",
    "material",
    "sampling_fraction",
    "active",
    "group",
    "layout",
    "source",
}
_MATERIAL_KEYS = {
    "element",
    "mass_fractions",
    "density_g_cm3",
    "slices",
    "x0_mm",
    "rm_mm",
    "lambda_i_mm",
    "z",
    "dedx_min_mev_cm2_g",
    "z_over_a",
    "mean_excitation_ev",
    "density_effect",
    "source",
}
_Z_TOLERANCE_MM = 1e-6
"""Layers may touch within this (rounding of written specs); closer is an overlap."""
_THICKNESS_KEYS = ("thickness_mm", "thickness_x0", "thickness_lambda")
_DIRECT_KEYS = ("x0_mm", "rm_mm", "lambda_i_mm", "density_g_cm3", "z", "dedx_min_mev_cm2_g")
_LOSS_KEYS = ("z_over_a", "mean_excitation_ev")
"""Optional direct-material keys for the MIP scale (<Z/A> mol/g, I eV), with ``density_effect``
(Sternheimer Cbar, x0, x1, a, k, delta0)."""
_LAYOUT_KEYS = {
    "grid": {"pitch_mm", "shape"},
    "eta_phi": {"d_eta", "d_phi", "shape", "radius_mm", "eta_centre"},
    "hexagonal": {"pitch_mm", "shape", "orientation", "axis_on"},
    "r_alpha": {"r_edges_mm", "n_alpha", "arc_segments"},
    "polygons": {"cells", "shape"},
}
_OPTIONAL_LAYOUT_KEYS = {"radius_mm", "eta_centre", "arc_segments", "orientation", "axis_on"}
_BLOCK_KEYS = {"block", "repeat"}
_HEX_ORIENTATIONS = ("pointy", "flat")
_HEX_AXIS_ON = ("centre", "vertex", "edge")


def load_geometry(path: str | Path) -> Geometry:
    """Load and validate a geometry spec file (TOML)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror}"
        raise SpecError(str(path), [msg]) from exc
    return geometry_from_spec(text, source=str(path))


def geometry_from_spec(text: str, source: str = "<string>") -> Geometry:
    """Build a Geometry from spec TOML text; ``source`` names it in error messages."""
    spec = parse_spec_text(text, source)
    builder = _Builder(spec)
    geometry = builder.build(text, source)
    if builder.problems:
        raise SpecError(source, builder.problems)
    assert geometry is not None
    return geometry


class _Builder:
    """Walks a parsed spec, collecting every problem rather than stopping at the first."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.problems: list[str] = []

    def fail(self, key: str, message: str) -> None:
        problem = f"{key}: {message}"
        if problem not in self.problems:  # a repeated block reports its problems once
            self.problems.append(problem)

    def unknown_keys(self, table: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in sorted(set(table) - allowed):
            self.fail(f"{where}{key}", "unknown key")

    def number(
        self,
        table: dict[str, Any],
        key: str,
        where: str,
        *,
        positive: bool = True,
        default: float | None = None,
    ) -> float | None:
        if key not in table:
            if default is None:
                self.fail(f"{where}{key}", "missing field")
            return default
        value = table[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            self.fail(f"{where}{key}", f"must be a number, got {value!r}")
            return None
        if positive and value <= 0:
            self.fail(f"{where}{key}", f"must be positive, got {value!r}")
            return None
        return float(value)

    def shape(self, table: dict[str, Any], where: str) -> tuple[int, int] | None:
        value = table.get("shape")
        if value is None:
            self.fail(f"{where}shape", "missing field")
            return None
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        ):
            self.fail(f"{where}shape", f"must be [rows, cols] of positive integers, got {value!r}")
            return None
        return value[0], value[1]

    # -- top level ---------------------------------------------------------------------------

    def build(self, text: str, source: str) -> Geometry | None:
        spec = self.spec
        self.unknown_keys(spec, _TOP_KEYS, "")
        for key in ("name", "title", "citation"):
            if not isinstance(spec.get(key), str) or not spec.get(key):
                self.fail(key, "missing field" if key not in spec else "must be a non-empty string")
        variant = spec.get("variant", "effective")
        if variant not in ("effective", "seed"):
            self.fail("variant", f"must be 'effective' or 'seed', got {variant!r}")
        distance = self.number(spec, "distance_from_ip_mm", "")
        anchor = spec.get("anchor_mm", [0.0, 0.0])
        if not (
            isinstance(anchor, list)
            and len(anchor) == 2
            and all(
                isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a)
                for a in anchor
            )
        ):
            self.fail("anchor_mm", f"must be [x, y] in mm, got {anchor!r}")
            anchor = [0.0, 0.0]
        stochastic = None
        if "stochastic_term" in spec:
            stochastic = self.number(spec, "stochastic_term", "")
        materials = self.materials(spec.get("materials", {}))
        layers = self.layers(spec.get("layers"), materials, distance or 0.0)
        if self.problems:
            return None
        return Geometry(
            spec["name"],
            layers,
            title=spec["title"],
            citation=spec["citation"],
            variant=variant,
            distance_from_ip_mm=distance or 0.0,
            anchor_mm=(float(anchor[0]), float(anchor[1])),
            stochastic_term=stochastic,
            spec=spec,
            spec_text=text,
            source=source,
        )

    # -- materials ---------------------------------------------------------------------------

    def materials(self, tables: Any) -> MutableMapping[str, Material]:
        # The standard materials are built on first use: look them up, never copy them all.
        known: MutableMapping[str, Material] = ChainMap({}, STANDARD_MATERIALS)  # type: ignore[arg-type]
        if not isinstance(tables, dict):
            self.fail("materials", "must be a table of named materials")
            return known
        self.slices_of: dict[str, list[tuple[str, float]]] = {}
        for name, table in tables.items():
            where = f"materials.{name}."
            if not isinstance(table, dict):
                self.fail(f"materials.{name}", "must be a table")
                continue
            self.unknown_keys(table, _MATERIAL_KEYS, where)
            material = self.material(name, table, known, where)
            if material is not None:
                known[name] = material
        return known

    def material(
        self, name: str, table: dict[str, Any], known: MutableMapping[str, Material], where: str
    ) -> Material | None:
        source = str(table.get("source", ""))
        kinds = [k for k in ("element", "mass_fractions", "slices", "x0_mm") if k in table]
        if len(kinds) != 1:
            self.fail(
                where.rstrip("."),
                "give exactly one of element, mass_fractions, slices or x0_mm (direct values)",
            )
            return None
        kind = kinds[0]
        if kind == "element":
            element = table["element"]
            if element not in known:
                self.fail(f"{where}element", f"unknown material {element!r}")
                return None
            return known[element]
        if kind == "mass_fractions":
            if not isinstance(table["mass_fractions"], dict):
                self.fail(f"{where}mass_fractions", "must be a table of material = fraction")
                return None
            n_problems = len(self.problems)
            fractions = {}
            for part, w in table["mass_fractions"].items():
                if part not in known:
                    self.fail(f"{where}mass_fractions.{part}", f"unknown material {part!r}")
                elif not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
                    self.fail(f"{where}mass_fractions.{part}", f"must be positive, got {w!r}")
                else:
                    fractions[known[part]] = float(w)
            total = sum(fractions.values())
            if fractions and abs(total - 1.0) > 1e-3:
                self.fail(f"{where}mass_fractions", f"must sum to 1, got {total:.4f}")
            density = self.number(table, "density_g_cm3", where)
            if len(self.problems) > n_problems or density is None:
                return None
            return mixture(name, fractions, density, source=source)
        if kind == "slices":
            slices: list[tuple[Material, float]] = []
            names: list[tuple[str, float]] = []
            for i, item in enumerate(table["slices"]):
                key = f"{where}slices[{i}]"
                if not (
                    isinstance(item, list)
                    and len(item) == 2
                    and isinstance(item[0], str)
                    and isinstance(item[1], (int, float))
                ):
                    self.fail(key, "must be [material, thickness_mm]")
                elif item[0] not in known:
                    self.fail(key, f"unknown material {item[0]!r}")
                elif not math.isfinite(item[1]) or item[1] <= 0:
                    self.fail(key, f"thickness must be positive, got {item[1]!r}")
                else:
                    slices.append((known[item[0]], float(item[1])))
                    names.append((item[0], float(item[1])))
            self.slices_of[name] = names
            if not slices:
                return None
            return layered(name, slices, source=source)
        values = [self.number(table, k, where) for k in _DIRECT_KEYS]
        if any(v is None for v in values):
            return None
        x0, rm, lam, rho, z, dedx = (float(v) for v in values)  # type: ignore[arg-type]
        medium = Material.from_lengths(
            name,
            x0_mm=x0,
            rm_mm=rm,
            lambda_i_mm=lam,
            density_g_cm3=rho,
            z=z,
            dedx_min_mev_cm2_g=dedx,
            source=source,
        )
        return self.loss_data(medium, table, where)

    def loss_data(self, medium: Material, table: dict[str, Any], where: str) -> Material | None:
        """``medium`` with the optional energy-loss keys of a direct material table."""
        given = [k for k in (*_LOSS_KEYS, "density_effect") if k in table]
        if not given:
            return medium
        if not all(k in table for k in _LOSS_KEYS):
            self.fail(f"{where}{given[0]}", f"give {' and '.join(_LOSS_KEYS)} together")
            return None
        z_over_a, i_ev = (self.number(table, k, where) for k in _LOSS_KEYS)
        effect = table.get("density_effect", [])
        if not (
            isinstance(effect, list)
            and len(effect) in (0, 6)
            and all(isinstance(v, (int, float)) and math.isfinite(v) for v in effect)
        ):
            self.fail(f"{where}density_effect", "must be [Cbar, x0, x1, a, k, delta0]")
            return None
        if z_over_a is None or i_ev is None:
            return None
        return replace(
            medium, z_over_a=z_over_a, i_ev=i_ev, density_effect=tuple(float(v) for v in effect)
        )

    # -- layers ------------------------------------------------------------------------------

    def layers(
        self, tables: Any, materials: MutableMapping[str, Material], distance_mm: float
    ) -> list[Layer]:
        if not isinstance(tables, list) or not tables:
            self.fail("layers", "missing field" if tables is None else "must be a list of tables")
            return []
        layers: list[Layer] = []
        numbered: dict[str, int] = {}
        # Materials the spec defines but that failed already have their own error.
        spec_materials = self.spec.get("materials")
        defined = set(spec_materials) if isinstance(spec_materials, dict) else set()
        z = 0.0
        for where, table, in_block in self.layer_tables(tables):
            self.unknown_keys(table, _LAYER_KEYS, where)
            material_name = table.get("material")
            material = materials.get(material_name) if isinstance(material_name, str) else None
            if material_name is None:
                self.fail(f"{where}material", "missing field")
            elif material is None and material_name not in defined:
                self.fail(f"{where}material", f"unknown material {material_name!r}")
            repeat = table.get("repeat", 1)
            if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
                self.fail(f"{where}repeat", f"must be a positive integer, got {repeat!r}")
                repeat = 1
            thickness = self.thickness(table, material, where)
            if "z_front_mm" in table:
                z_front = self.number(table, "z_front_mm", where, positive=False)
                if z_front is not None and z_front < z - _Z_TOLERANCE_MM:
                    self.fail(
                        f"{where}z_front_mm",
                        f"layer starts at {z_front:g} mm, overlapping the previous layer "
                        f"that ends at {z:g} mm",
                    )
                z = z_front if z_front is not None else z
            sampling = self.sampling_fraction(table, material_name, materials, where)
            material = self.with_active(material, material_name, table)
            if material is None or thickness is None:
                self.layout(table.get("layout"), where, distance_mm + z)  # report its problems
                continue
            group = str(table.get("group", "ECAL"))
            base = str(table.get("name", "layer"))
            if base in ("", ".", "..") or "/" in base or "\0" in base:
                # a layer name is a dataset name in shower files (HDF5 path component)
                self.fail(
                    f"{where}name",
                    f"{base!r} is not a usable layer name (non-empty, "
                    "not '.' or '..', without '/')",
                )
                continue
            for _ in range(repeat):
                # Repeated layers are numbered on from earlier tables with the same name.
                name = (
                    base if repeat == 1 and not in_block else f"{base}{numbered.get(base, 0):02d}"
                )
                numbered[base] = numbered.get(base, 0) + 1
                radius = distance_mm + z + 0.5 * thickness
                layout = self.layout(table.get("layout"), where, radius)
                if layout is None:
                    break
                layers.append(Layer(name, z, z + thickness, material, layout, sampling, group))
                z += thickness
        counts = Counter(ly.name for ly in layers)  # linear in the number of layers
        for dup in sorted(n for n, c in counts.items() if c > 1):
            self.fail("layers", f"duplicate layer name {dup!r}")
        return layers

    def thickness(
        self, table: dict[str, Any], material: Material | None, where: str
    ) -> float | None:
        given = [key for key in _THICKNESS_KEYS if key in table]
        if len(given) != 1:
            self.fail(f"{where}thickness_mm", f"give exactly one of {', '.join(_THICKNESS_KEYS)}")
            return None
        key = given[0]
        depth = self.number(table, key, where)
        if key == "thickness_mm" or depth is None:
            return depth
        if material is None:
            return None
        length_mm = material.x0_mm if key == "thickness_x0" else material.lambda_i_mm
        return depth * length_mm

    def sampling_fraction(
        self,
        table: dict[str, Any],
        material_name: Any,
        materials: MutableMapping[str, Material],
        where: str,
    ) -> float | None:
        """Explicit ``sampling_fraction``, or the MIP visible fraction of the ``active`` slices
        (both may be given: the quoted fraction wins, ``active`` still names the MIP medium)."""
        if "sampling_fraction" in table:
            if "active" in table:
                self.sampling_fraction({"active": table["active"]}, material_name, materials, where)
            value = self.number(table, "sampling_fraction", where)
            if value is not None and value > 1:
                self.fail(f"{where}sampling_fraction", f"must be in (0, 1], got {value!r}")
            return value
        if "active" not in table:
            return None
        active = table["active"]
        slices = getattr(self, "slices_of", {}).get(material_name)
        if slices is None:
            self.fail(f"{where}active", "needs a material defined by slices")
            return None
        if active not in {n for n, _ in slices}:
            self.fail(f"{where}active", f"{active!r} is not a slice of {material_name!r}")
            return None
        loss = [(n, materials[n].mip_mev_per_mm * t) for n, t in slices]
        return sum(e for n, e in loss if n == active) / sum(e for _, e in loss)

    def layout(self, table: Any, where: str, radius_mm: float) -> CellLayout | None:
        key = f"{where}layout"
        if not isinstance(table, dict):
            self.fail(key, "missing field" if table is None else "must be a table")
            return None
        kind = table.get("type")
        if kind not in _LAYOUT_KEYS:
            self.fail(f"{key}.type", f"must be one of {', '.join(_LAYOUT_KEYS)}, got {kind!r}")
            return None
        self.unknown_keys(table, _LAYOUT_KEYS[kind] | {"type"}, f"{key}.")
        for required in sorted(_LAYOUT_KEYS[kind] - _OPTIONAL_LAYOUT_KEYS):
            if required not in table:
                self.fail(f"{key}.{required}", "missing field")
        if any(p.startswith(key) for p in self.problems):
            return None
        inner = f"{key}."
        if kind == "grid":
            pitch = table["pitch_mm"]
            shape = self.shape(table, inner)
            if not (isinstance(pitch, list) and len(pitch) == 2):
                self.fail(f"{key}.pitch_mm", f"must be [x, y] in mm, got {pitch!r}")
                return None
            px = self.number({"pitch_mm": pitch[0]}, "pitch_mm", inner)
            py = self.number({"pitch_mm": pitch[1]}, "pitch_mm", inner)
            if shape is None or px is None or py is None:
                return None
            return GridLayout(px, py, n_x=shape[1], n_y=shape[0])
        if kind == "eta_phi":
            shape = self.shape(table, inner)
            d_eta = self.number(table, "d_eta", inner)
            d_phi = self.number(table, "d_phi", inner)
            radius = self.number(table, "radius_mm", inner, default=radius_mm)
            eta0 = self.number(table, "eta_centre", inner, positive=False, default=0.0)
            if None in (shape, d_eta, d_phi, radius, eta0):
                return None
            return EtaPhiLayout(d_eta, d_phi, shape[0], shape[1], radius, eta0)  # type: ignore[arg-type,index]
        if kind == "hexagonal":
            return self.hexagonal(table, inner)
        if kind == "r_alpha":
            edges = _float_array(table["r_edges_mm"])
            if (
                edges is None
                or edges.ndim != 1
                or len(edges) < 2
                or edges[0] < 0
                or np.any(np.diff(edges) <= 0)
            ):
                self.fail(f"{key}.r_edges_mm", "must be increasing radii >= 0 in mm")
                return None
            n_alpha = self.count(table, "n_alpha", inner, minimum=1)
            arc_segments = self.count(table, "arc_segments", inner, minimum=0, default=0)
            if n_alpha is None or arc_segments is None:
                return None
            return PolygonLayout.r_alpha(edges, n_alpha, arc_segments)
        shape = self.shape(table, inner)
        if not isinstance(table["cells"], list):
            self.fail(f"{key}.cells", "must be a list of cells, each a list of [x, y] vertices")
            return None
        cells = [_float_array(c) for c in table["cells"]]
        if shape is None:
            return None
        if len(cells) != shape[0] * shape[1]:
            self.fail(f"{key}.cells", f"has {len(cells)} cells, shape needs {shape[0] * shape[1]}")
            return None
        return self.polygon_layout(cells, shape, key)

    def polygon_layout(
        self, cells: list[np.ndarray | None], shape: tuple[int, int], key: str
    ) -> PolygonLayout | None:
        """The ``polygons`` layout of ``cells`` (vertex arrays, mm), or None after reporting:
        each cell must be a simple convex polygon, and no two cells may overlap by more than
        :data:`calogeo.clip.OVERLAP_TOLERANCE` of the smaller one (the energy in an overlap
        would be counted twice by the resampler)."""
        polygons: list[np.ndarray] = []
        for i, cell in enumerate(cells):
            if cell is None or cell.ndim != 2 or cell.shape[1] != 2 or len(cell) < 3:
                self.fail(f"{key}.cells[{i}]", "must be a list of at least 3 [x, y] vertices")
                return None
            polygons.append(cell)
        for i, problem in list(convex_polygon_problems(polygons).items())[:1]:
            self.fail(f"{key}.cells[{i}]", f"must be a convex polygon, but it {problem}")
            return None
        spec = {"type": "polygons", "shape": list(shape), "cells": [c.tolist() for c in polygons]}
        layout = PolygonLayout.from_polygons(polygons, shape, spec)
        overlaps = overlapping_cells(layout.pieces())
        if overlaps:
            shown = ", ".join(
                f"{a} and {b} ({area:.4g} mm2, {fraction:.3%} of the smaller cell)"
                for a, b, area, fraction in overlaps[:5]
            )
            more = f" and {len(overlaps) - 5} more pairs" if len(overlaps) > 5 else ""
            self.fail(
                f"{key}.cells",
                f"cells overlap in layer {self._layer_label(key)}: {shown}{more} "
                "(energy in an overlap would be counted twice)",
            )
            return None
        return layout

    def _layer_label(self, key: str) -> str:
        """The layer a key such as ``layers[3].layout`` belongs to, by name if it has one."""
        index = int(key.split("[", 1)[1].split("]", 1)[0]) if key.startswith("layers[") else -1
        tables = self.spec.get("layers")
        table = tables[index] if isinstance(tables, list) and 0 <= index < len(tables) else {}
        name = table.get("name") if isinstance(table, dict) else None
        return repr(name) if name is not None else f"{index}"

    def layer_tables(self, tables: list[Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
        """(where, layer table, inside a repeated block) of every layer table, blocks unrolled.

        A ``[[layers]]`` table with a ``block`` (a list of layer tables) and ``repeat = n`` stands
        for its tables n times in order; their layers are numbered even when each makes one.
        """
        for i, table in enumerate(tables):
            if not isinstance(table, dict):
                self.fail(f"layers[{i}]", "must be a table")
                continue
            if "block" not in table:
                yield f"layers[{i}].", table, False
                continue
            self.unknown_keys(table, _BLOCK_KEYS, f"layers[{i}].")
            block = table["block"]
            if not isinstance(block, list) or not block:
                self.fail(f"layers[{i}].block", "must be a non-empty list of layer tables")
                continue
            repeat = table.get("repeat", 1)
            if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
                self.fail(f"layers[{i}].repeat", f"must be a positive integer, got {repeat!r}")
                continue
            for _ in range(repeat):
                for j, entry in enumerate(block):
                    if not isinstance(entry, dict) or "block" in entry:
                        self.fail(f"layers[{i}].block[{j}]", "must be a layer table")
                        continue
                    yield f"layers[{i}].block[{j}].", entry, repeat > 1

    def with_active(
        self, material: Material | None, material_name: Any, table: dict[str, Any]
    ) -> Material | None:
        """The layer's medium with its ``active`` slice marked (for the MIP scale), if any."""
        active = table.get("active")
        names = [n for n, _ in getattr(self, "slices_of", {}).get(material_name, [])]
        if material is None or active not in names:
            return material  # a bad ``active`` is reported by sampling_fraction
        return material.with_active(material.slices[names.index(active)][0].name)

    def hexagonal(self, table: dict[str, Any], where: str) -> PolygonLayout | None:
        """A ``hexagonal`` layout with its ``orientation`` and ``axis_on`` options."""
        shape = self.shape(table, where)
        pitch = self.number(table, "pitch_mm", where)
        orientation = table.get("orientation", "pointy")
        axis_on = table.get("axis_on")
        if orientation not in _HEX_ORIENTATIONS:
            choices = " or ".join(repr(o) for o in _HEX_ORIENTATIONS)
            self.fail(f"{where}orientation", f"must be {choices}, got {orientation!r}")
            return None
        if axis_on is not None and axis_on not in _HEX_AXIS_ON:
            choices = ", ".join(repr(a) for a in _HEX_AXIS_ON)
            self.fail(f"{where}axis_on", f"must be one of {choices}, got {axis_on!r}")
            return None
        if shape is None or pitch is None:
            return None
        return PolygonLayout.hexagonal(
            pitch, shape[0], shape[1], orientation=orientation, axis_on=axis_on
        )

    def count(
        self,
        table: dict[str, Any],
        key: str,
        where: str,
        *,
        minimum: int,
        default: int | None = None,
    ) -> int | None:
        """An integer option >= ``minimum``; ``default`` if absent (None: required)."""
        if key not in table and default is not None:
            return default
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(f"{where}{key}", f"must be an integer >= {minimum}, got {value!r}")
            return None
        return value


def _float_array(value: Any) -> np.ndarray | None:
    """``value`` as a float64 array, or None if it is not a (nested) list of numbers."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if np.isfinite(array).all() else None
