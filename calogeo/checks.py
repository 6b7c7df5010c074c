"""What a physicist wants to know about a geometry before simulating on it.

:func:`geometry_warnings` lists, in words, the choices calogeo will make on a spec's behalf
and the places where a spec looks unlike a calorimeter (``calogeo check`` prints them).
"""

from __future__ import annotations

import itertools

from calogeo.geometry import Geometry, Layer
from calogeo.materials import AMALDI_COEFFICIENT, amaldi_stochastic_term, mip_scale

__all__ = [
    "ECAL_MIN_DEPTH_X0",
    "JUMP_FACTOR",
    "WINDOW_MIN_RM",
    "geometry_warnings",
]

JUMP_FACTOR = 1.5
"""Neighbouring layers of one group whose X0 or R_M differ by more than this are reported."""
WINDOW_MIN_RM = 2.0
"""A window reaching less than this many Moliere radii from the axis loses shower energy."""
ECAL_MIN_DEPTH_X0 = 20.0
"""An ECAL shallower than this leaks a visible part of high-energy showers."""


def _layer_names(geometry: Geometry, indices: list[int]) -> str:
    names = [geometry.layers[i].name for i in indices]
    return ", ".join(names) if len(names) <= 4 else f"{names[0]}..{names[-1]} ({len(names)})"


def _amaldi(layer: Layer) -> float | None:
    """The simulator's fallback EM sampling term for ``layer``, or None if it has none."""
    material = layer.material
    if not layer.sampling_fraction or material.active is None:
        return None
    active_mm = sum(t for m, t in material.slices if m.name == material.active)
    return amaldi_stochastic_term(active_mm, layer.sampling_fraction)


def geometry_warnings(geometry: Geometry) -> list[str]:
    """Warnings about ``geometry`` (empty when there is nothing to say)."""
    warnings: list[str] = []
    layers = geometry.layers
    if geometry.stochastic_term is None:
        terms = {round(a, 4) for a in map(_amaldi, layers) if a is not None}
        estimate = (
            f"here {', '.join(f'{a:.1%}' for a in sorted(terms))}"
            if terms
            else "here none: no layer names its active slice, so no sampling fluctuation"
        )
        warnings.append(
            "no stochastic_term: `calogeo simulate` falls back to the Amaldi estimate "
            f"a = {AMALDI_COEFFICIENT} sqrt(d_active/mm / f_samp) per layer ({estimate}); "
            "state the detector's sigma/E = a/sqrt(E/GeV) if it is known"
        )
    sampled = [i for i, ly in enumerate(layers) if ly.sampling_fraction is not None]
    for group in geometry.groups:
        in_group = [i for i, ly in enumerate(layers) if ly.group == group]
        missing = [i for i in in_group if layers[i].sampling_fraction is None]
        structured = [i for i in missing if layers[i].material.slices]
        if structured or (missing and set(in_group) & set(sampled)):
            flagged = sorted(
                set(structured) | (set(missing) if set(in_group) & set(sampled) else set())
            )
            warnings.append(
                f"{group}: layers {_layer_names(geometry, flagged)} have no sampling fraction in "
                "a sampling calorimeter: their stored energy counts as deposited (give "
                "`active` or `sampling_fraction`)"
            )
        jumps: dict[tuple[str, str, str], list[tuple[int, int, float]]] = {}
        for i, j in itertools.pairwise(in_group):
            if j != i + 1:
                continue
            a, b = layers[i].material, layers[j].material
            for what, va, vb in (("X0", a.x0_mm, b.x0_mm), ("R_M", a.rm_mm, b.rm_mm)):
                ratio = max(va, vb) / min(va, vb)
                if ratio > JUMP_FACTOR:
                    first, second = sorted((a.name, b.name))
                    key = (what, first, second)
                    jumps.setdefault(key, []).append((i, j, ratio))
        for (what, _, _), pairs in jumps.items():
            i, j, ratio = pairs[0]
            a, b = layers[i].material, layers[j].material
            va, vb = (a.x0_mm, b.x0_mm) if what == "X0" else (a.rm_mm, b.rm_mm)
            more = f" and {len(pairs) - 1} more neighbouring pairs" if len(pairs) > 1 else ""
            warnings.append(
                f"{group}: {what} jumps by x{ratio:.2f} from {layers[i].name} ({a.name}, "
                f"{va:.2f} mm) to {layers[j].name} ({b.name}, {vb:.2f} mm){more}: the resampler "
                "and the simulator take each layer's medium as it is; check that the layers "
                "are meant to differ"
            )
    ax, ay = geometry.anchor_mm
    narrow = []
    for i, layer in enumerate(layers):
        x0, x1, y0, y1 = layer.layout.extent_mm()
        reach = min(ax - x0, x1 - ax, ay - y0, y1 - ay) / layer.material.rm_mm
        if reach < WINDOW_MIN_RM:
            narrow.append((i, reach))
    if narrow:
        worst = min(r for _, r in narrow)
        warnings.append(
            f"layers {_layer_names(geometry, [i for i, _ in narrow])}: the window reaches only "
            f"{worst:.2f} R_M from the axis (< {WINDOW_MIN_RM:g} R_M holds ~95% of an EM shower): "
            "energy outside it is lost"
        )
    ecal = [ly for ly in layers if ly.group == "ECAL"]
    depth = sum(ly.depth_x0 for ly in ecal)
    if ecal and depth < ECAL_MIN_DEPTH_X0:
        warnings.append(
            f"ECAL: {depth:.1f} X0 deep (< {ECAL_MIN_DEPTH_X0:g} X0): high-energy EM showers "
            "leak out of the back"
        )
    mean_mip = [
        i
        for i, ly in enumerate(layers)
        if mip_scale(ly.material, ly.thickness_mm, ly.sampling_fraction).method == "mean"
    ]
    if mean_mip:
        warnings.append(
            f"layers {_layer_names(geometry, mean_mip)}: MIP scale from the mean dE/dx (no "
            "active slice with a PDG mean excitation energy): thresholds in MIPs come out "
            "10-45% higher than with the most probable value; define the material by "
            "`slices` and name the `active` one"
        )
    return warnings
