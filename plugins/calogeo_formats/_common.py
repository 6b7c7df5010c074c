"""Helpers shared by the public layouts: geometry lookup, event columns, layer stacks."""

from __future__ import annotations

from collections.abc import Sequence

import h5py
import numpy as np

from calogeo import (
    CalogeoError,
    Geometry,
    GeometryMismatchError,
    ShowerFileError,
    Showers,
    get_geometry,
)
from calogeo.energy_scale import convert_layers
from calogeo.formats import MEV_PER_GEV, read_dataset


def registered_geometry(h5: h5py.File, layout: str, name: str) -> Geometry:
    """The registered geometry ``name`` a ``layout`` file is on; says what to do if it is not
    registered."""
    try:
        return get_geometry(name)
    except CalogeoError as exc:
        msg = (
            f"{h5.filename}: {layout} files are on geometry {name!r}, which is not available "
            f"({exc}); pass --from GEOMETRY"
        )
        raise ShowerFileError(msg) from exc


def shape_of(h5: h5py.File, key: str) -> tuple[int, ...] | None:
    """Shape of dataset ``key``, or None if there is no such dataset."""
    ds = h5.get(key)
    return ds.shape if isinstance(ds, h5py.Dataset) else None


def event_count(h5: h5py.File, key: str) -> int:
    """The number of events of per-event dataset ``key``; a scalar dataset is refused."""
    ds = h5[key]
    if ds.ndim == 0:
        msg = (
            f"{h5.filename}: dataset {key!r} is a single value; the layout stores one value "
            "per event, (N,) or (N, 1)"
        )
        raise ShowerFileError(msg)
    return len(ds)


def event_column(h5: h5py.File, key: str, start: int, stop: int) -> np.ndarray:
    """A per-event scalar stored as (N,) or (N, 1): events ``start:stop`` as (n,)."""
    values = read_dataset(h5, key, start, stop)
    if values.ndim > 1 and values.shape[1:] != (1,):
        msg = f"{h5.filename}: dataset {key!r} has shape {values.shape[1:]} per event, expected one value"
        raise ShowerFileError(msg)
    return values.reshape(len(values))


def layers_of_groups(
    showers: Showers, groups: Sequence[str], layout: str
) -> dict[str, list[np.ndarray]]:
    """The per-layer arrays of ``showers`` by layer group; every group must be one of ``groups``
    and hold layers of a single image shape (so they stack into one array)."""
    out: dict[str, list[np.ndarray]] = {}
    shapes: dict[str, tuple[int, int]] = {}
    for layer, array in zip(showers.geometry.layers, showers.layers, strict=True):
        if layer.group not in groups:
            msg = (
                f"geometry {showers.geometry.name!r} has layer group {layer.group!r}; the "
                f"{layout} layout holds only {', '.join(groups)}"
            )
            raise ShowerFileError(msg)
        if shapes.setdefault(layer.group, layer.shape) != layer.shape:
            msg = (
                f"geometry {showers.geometry.name!r}: {layer.group} layers of shapes "
                f"{shapes[layer.group]} and {layer.shape} cannot be stacked in the {layout} layout"
            )
            raise ShowerFileError(msg)
        out.setdefault(layer.group, []).append(array)
    return out


def visible_gev(geometry: Geometry, deposited_mev: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per-layer arrays of a layout that stores deposited energy in MeV (visible / sampling
    fraction) as calogeo's visible energy in GeV, float32 (one rounding, factors in float64)."""
    _check_layer_count(geometry, deposited_mev)
    gev = [np.asarray(a, dtype=np.float64) / MEV_PER_GEV for a in deposited_mev]
    return [a.astype(np.float32) for a in convert_layers(geometry, gev, "deposited", "visible")]


def deposited_mev(geometry: Geometry, visible_gev: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The inverse of :func:`visible_gev`: visible GeV -> deposited MeV, float32."""
    _check_layer_count(geometry, visible_gev)
    mev = [np.asarray(a, dtype=np.float64) * MEV_PER_GEV for a in visible_gev]
    return [a.astype(np.float32) for a in convert_layers(geometry, mev, "visible", "deposited")]


def _check_layer_count(geometry: Geometry, layers: Sequence[np.ndarray]) -> None:
    if len(layers) != geometry.n_layers:
        msg = f"geometry {geometry.name!r} has {geometry.n_layers} layers, got {len(layers)} arrays"
        raise GeometryMismatchError(msg)
