"""Resample one group of layers (e.g. the ECAL) and carry the others (the HCAL) through unchanged.

The selected layers (those whose ``group`` is named; they must be consecutive) form a window of
their own, which a :class:`~calogeo.resample.Resampler` maps onto the target geometry. The
output geometry:

- direct resample: the source's layers in depth order with the selected block replaced by all
  of the target's layers (their names, groups, cells and thicknesses). The target block starts
  where the selected block started, and the carried layers behind it keep their distance to
  the block's back (the source's gap), so depths stay consistent. Named
  ``<target>+<source>.<carried groups>``, e.g. ``atlas+clic_large.HCAL``. A target layer whose
  name a carried layer already has is renamed ``<target>.<name>``. The carried layers stay in
  the source's transverse coordinates, so source and target must share their anchor.
- ``round_trip``: the source geometry itself (the selected block comes back on its own cells).

Energy bookkeeping (kept / edge loss) refers to the resampled layers only: the carried ones
keep their energy exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np

from calogeo.errors import CalogeoError, GeometryMismatchError
from calogeo.geometry import Geometry, Layer
from calogeo.resample.bookkeeping import DEPTH_LABELS, LabelMap, front_impact_map
from calogeo.resample.resampler import Resampler
from calogeo.showers import Showers

__all__ = ["GroupResampler", "group_slice", "resampler_for", "split_geometry"]


def group_slice(geometry: Geometry, groups: Sequence[str]) -> slice:
    """The consecutive layers of ``geometry`` whose group is one of ``groups``."""
    unknown = [g for g in groups if g not in geometry.groups]
    if unknown or not groups:
        msg = (
            f"geometry {geometry.name!r} has no layer group {', '.join(unknown) or '(none given)'}"
            f"; its groups: {', '.join(geometry.groups)}"
        )
        raise CalogeoError(msg)
    index = [i for i, layer in enumerate(geometry.layers) if layer.group in groups]
    if index != list(range(index[0], index[-1] + 1)):
        msg = f"geometry {geometry.name!r}: layer groups {', '.join(groups)} are not consecutive"
        raise CalogeoError(msg)
    return slice(index[0], index[-1] + 1)


def _shifted(layers: Sequence[Layer], dz_mm: float) -> list[Layer]:
    return [
        dataclasses.replace(ly, z_front_mm=ly.z_front_mm + dz_mm, z_back_mm=ly.z_back_mm + dz_mm)
        for ly in layers
    ]


def split_geometry(geometry: Geometry, groups: Sequence[str]) -> tuple[slice, Geometry]:
    """The selected layers (:func:`group_slice`) and a geometry of them alone, moved in depth
    so that the first starts at z = 0 (its front then lies that much further from the IP)."""
    selected = group_slice(geometry, groups)
    layers = geometry.layers[selected]
    if selected == slice(0, geometry.n_layers):
        return selected, geometry
    front = layers[0].z_front_mm
    part = Geometry(
        f"{geometry.name}.{'+'.join(dict.fromkeys(ly.group for ly in layers))}",
        _shifted(layers, -front),
        title=f"{geometry.title}: layers {layers[0].name}..{layers[-1].name}",
        citation=geometry.citation,
        variant=geometry.variant,
        distance_from_ip_mm=geometry.distance_from_ip_mm + front,
        anchor_mm=geometry.anchor_mm,
        stochastic_term=geometry.stochastic_term if selected.start == 0 else None,
    )
    return selected, part


def _replace_block(source: Geometry, selected: slice, target: Geometry) -> Geometry:
    """``source`` with the layers ``selected`` replaced by ``target``'s (module docstring)."""
    if source.anchor_mm != target.anchor_mm:
        msg = (
            f"cannot carry layers of {source.name!r} (anchor {source.anchor_mm} mm) beside "
            f"{target.name!r} (anchor {target.anchor_mm} mm): the anchors differ"
        )
        raise GeometryMismatchError(msg)
    before = list(source.layers[: selected.start])
    after = list(source.layers[selected.stop :])
    if not before and not after:
        return target
    old = source.layers[selected]
    block = _shifted(target.layers, old[0].z_front_mm)
    carried = {ly.name for ly in before + after}
    block = [
        dataclasses.replace(ly, name=f"{target.name}.{ly.name}") if ly.name in carried else ly
        for ly in block
    ]
    after = _shifted(after, block[-1].z_back_mm - old[-1].z_back_mm)
    carried_groups = "+".join(dict.fromkeys(ly.group for ly in before + after))
    at_front = selected.start == 0
    return Geometry(
        f"{target.name}+{source.name}.{carried_groups}",
        before + block + after,
        title=f"{target.title}, with the {carried_groups} layers of {source.name} carried over",
        citation=f"{target.citation}; {source.citation}",
        variant=source.variant if source.variant == target.variant else "effective",
        distance_from_ip_mm=(target if at_front else source).distance_from_ip_mm,
        anchor_mm=target.anchor_mm,
        stochastic_term=(target if at_front else source).stochastic_term,
    )


class GroupResampler:
    """Resample the layers of ``groups`` of ``source`` onto ``target``; carry the others.

    Same interface as :class:`~calogeo.resample.Resampler` (``output_geometry``, ``apply``,
    ``bookkeeping``); ``options`` (``round_trip``, ``cache``, ...) go to the Resampler of the
    selected layers. See the module docstring for the output geometry.
    """

    def __init__(
        self, source: Geometry, target: Geometry, groups: Sequence[str], **options: Any
    ) -> None:
        self.source = source
        self.target = target
        self.groups = tuple(groups)
        self.selected, self.part = split_geometry(source, self.groups)
        self.resampler = Resampler(self.part, target, **options)
        self.round_trip = self.resampler.round_trip
        self.output_geometry: Geometry = (
            source if self.round_trip else _replace_block(source, self.selected, target)
        )

    def __repr__(self) -> str:
        return f"GroupResampler({', '.join(self.groups)} of {self.resampler!r})"

    def _part(self, showers: Showers) -> Showers:
        if showers.geometry != self.source:
            msg = (
                f"showers are on {showers.geometry.name!r}, the resampler maps from "
                f"{self.source.name!r}"
            )
            raise GeometryMismatchError(msg)
        return Showers(
            self.part, showers.layers[self.selected], showers.incident_energy, showers.labels
        )

    def apply(self, showers: Showers, **options: Any) -> Showers:
        """Resampled showers on :attr:`output_geometry`: the selected layers mapped (options
        as :meth:`Resampler.apply`), the others the same arrays as the input's."""
        mapped = self.resampler.apply(self._part(showers), **options)
        layers = (
            showers.layers[: self.selected.start]
            + mapped.layers
            + showers.layers[self.selected.stop :]
        )
        labels = self.label_map.apply(showers.labels, self.bookkeeping(showers))
        return Showers(self.output_geometry, layers, showers.incident_energy, labels)

    @cached_property
    def label_map(self) -> LabelMap:
        """What resampling does to the per-event labels (as :attr:`Resampler.label_map`): the
        impact point moves only if the resampled layers are the front ones, and depths are
        dropped, since the carried layers keep their own."""
        if self.round_trip or self.part is self.source:
            return self.resampler.label_map
        at_front = self.selected.start == 0
        impact = front_impact_map(self.part, self.target, self.resampler.offset_mm)
        return LabelMap(impact=impact if at_front else None, drop=DEPTH_LABELS)

    def bookkeeping(self, showers: Showers) -> dict[str, np.ndarray]:
        """Per-event ``energy_in``, ``energy_out`` and ``edge_loss`` (GeV) of the resampled
        layers (as :meth:`Resampler.bookkeeping`); the carried layers lose nothing."""
        return self.resampler.bookkeeping(self._part(showers))

    @property
    def _columns(self) -> slice:
        """The selected layers' cells in the source's flat cell vector."""
        offsets = self.source.layer_offsets
        return slice(int(offsets[self.selected.start]), int(offsets[self.selected.stop]))

    def apply_dense(
        self, cells: np.ndarray, *, out: np.ndarray | None = None, device: str = "cpu"
    ) -> np.ndarray:
        """:meth:`Resampler.apply_dense` of a dense (N, source cells) float32 batch in GeV:
        the selected block mapped, the carried cells copied; written into ``out`` if given."""
        columns = self._columns
        if out is None:
            out = np.empty((len(cells), self.output_geometry.n_cells), dtype=np.float32)
        block = self.resampler.apply_dense(np.ascontiguousarray(cells[:, columns]), device=device)
        stop = columns.start + block.shape[1]
        out[:, : columns.start] = cells[:, : columns.start]
        out[:, columns.start : stop] = block
        out[:, stop:] = cells[:, columns.stop :]
        return out

    def bookkeeping_dense(self, cells: np.ndarray) -> dict[str, np.ndarray]:
        """:meth:`bookkeeping` of a dense (N, source cells) batch in GeV."""
        return self.resampler.bookkeeping_dense(np.ascontiguousarray(cells[:, self._columns]))


def resampler_for(
    source: Geometry, target: Geometry, groups: Sequence[str] | None = None, **options: Any
) -> Resampler | GroupResampler:
    """A :class:`Resampler` of the whole ``source``, or of the layers of ``groups`` only."""
    if groups:
        return GroupResampler(source, target, groups, **options)
    return Resampler(source, target, **options)
