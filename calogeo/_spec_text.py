"""Spec TOML text: parsing it and writing it for a geometry, kept apart from :mod:`calogeo.spec`
so that naming a registered geometry (plugin discovery reads only a spec's head) imports neither
numpy nor the geometry classes, and so that :class:`~calogeo.geometry.Geometry` can describe
itself without importing the spec builder (which imports it)."""

from __future__ import annotations

import json
import numbers
import sys
from typing import TYPE_CHECKING, Any

from calogeo.errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from calogeo.geometry import Geometry
    from calogeo.materials import Material

__all__ = ["geometry_to_spec_text", "parse_spec_text"]


def parse_spec_text(text: str, source: str = "<string>") -> dict[str, Any]:
    """Parse spec TOML into a dict, turning syntax errors into a SpecError naming ``source``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, [f"invalid TOML: {exc}"]) from exc


def geometry_to_spec_text(geometry: Geometry) -> str:
    """A spec (TOML) that rebuilds ``geometry``: materials as direct lengths, one table per layer.

    Used for geometries built in Python (e.g. the resampler's voxel grids) so that files on them
    stay self-describing.
    """
    lines = [
        f"name = {_toml(geometry.name)}",
        f"title = {_toml(geometry.title)}",
        f"citation = {_toml(geometry.citation or 'built in Python by calogeo')}",
        f"variant = {_toml(geometry.variant)}",
        f"distance_from_ip_mm = {_toml(geometry.distance_from_ip_mm)}",
        f"anchor_mm = {_toml(list(geometry.anchor_mm))}",
    ]
    if geometry.stochastic_term is not None:
        lines.append(f"stochastic_term = {_toml(geometry.stochastic_term)}")
    lines += _material_lines(geometry)
    for layer in geometry.layers:
        lines += [
            "",
            "[[layers]]",
            f"name = {_toml(layer.name)}",
            f"z_front_mm = {_toml(layer.z_front_mm)}",
            f"thickness_mm = {_toml(layer.thickness_mm)}",
            f"material = {_toml(layer.material.name)}",
            f"group = {_toml(layer.group)}",
            f"layout = {_toml({k: v for k, v in layer.layout.to_spec().items() if k != 'description'})}",
        ]
        if layer.sampling_fraction is not None:
            lines.append(f"sampling_fraction = {_toml(layer.sampling_fraction)}")
        if layer.material.active is not None:
            lines.append(f"active = {_toml(layer.material.active)}")
    return "\n".join(lines) + "\n"


def _material_lines(geometry: Geometry) -> list[str]:
    """Spec tables of the layers' materials: direct lengths (with the energy-loss data that the
    MIP scale needs), and sampling structures as ``slices`` of direct materials written first,
    so that a layer keeps its active medium."""
    written: dict[str, Material] = {}
    for layer in geometry.layers:
        for m in [s for s, _ in layer.material.slices] + [layer.material]:
            written.setdefault(m.name, m)
    lines: list[str] = []
    for name, m in written.items():
        lines += ["", f"[materials.{_toml_key(name)}]"]
        if m.slices:
            pairs = [[s.name, t] for s, t in m.slices]
            lines.append(f"slices = {_toml(pairs)}")
            continue
        lines += [
            f"x0_mm = {_toml(m.x0_mm)}",
            f"rm_mm = {_toml(m.rm_mm)}",
            f"lambda_i_mm = {_toml(m.lambda_i_mm)}",
            f"density_g_cm3 = {_toml(m.density_g_cm3)}",
            f"z = {_toml(float(m.z))}",
            f"dedx_min_mev_cm2_g = {_toml(m.dedx_min_mev_cm2_g)}",
        ]
        if m.z_over_a > 0 and m.i_ev > 0:
            lines += [
                f"z_over_a = {_toml(float(m.z_over_a))}",
                f"mean_excitation_ev = {_toml(float(m.i_ev))}",
            ]
            if m.density_effect:
                lines.append(f"density_effect = {_toml([float(v) for v in m.density_effect])}")
    return lines


def _toml(value: Any) -> str:
    """A TOML literal for the plain values specs hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):  # numpy integers too
        return str(int(value))
    if isinstance(value, numbers.Real):  # numpy floats too
        # 12 significant digits: derived lengths written and read back stay the same text.
        return repr(float(f"{value:.12g}"))
    if isinstance(value, str):
        return json.dumps(value)
    if hasattr(value, "tolist") and not isinstance(value, numbers.Number):  # numpy arrays
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    msg = f"cannot write {value!r} to a spec"
    raise TypeError(msg)


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").isalnum() else json.dumps(key)
