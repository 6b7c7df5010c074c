"""``calogeo show NAME``: a geometry's layers, in mm, Moliere radii and radiation lengths."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calogeo._table import format_table
from calogeo.registry import get_geometry

if TYPE_CHECKING:
    from calogeo.geometry import Geometry, Layer

VARIANT_NOTE = {
    "effective": "effective media computed from each layer's composition (PDG mixture rule)",
    "seed": "SEED VARIANT: the pure-material X0 and R_M of Belayneh et al. Table 1, "
    "to reproduce the paper (not the detector's effective medium)",
}

ORDER = 20


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "show",
        help="show a geometry's layers",
        description="Print a geometry's layers: cells, image shape, cell size in mm and in "
        "Moliere radii, depth in mm and radiation lengths, material.",
    )
    parser.add_argument("geometry", help="registered geometry name or a spec file (.toml)")
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="draw each distinct layer's cells side by side in Moliere-radius units",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    geometry = get_geometry(args.geometry)
    print(describe(geometry))
    if args.plot is not None:
        from calogeo.plotting import plot_geometry, save_figure

        save_figure(plot_geometry(geometry), args.plot)
        print(f"\nwrote {args.plot}")
    return 0


def describe(geometry: Geometry) -> str:
    """The text ``calogeo show`` prints."""
    head = [
        f"{geometry.name}: {geometry.title}",
        f"  variant:   {geometry.variant} - {VARIANT_NOTE.get(geometry.variant, '')}",
        f"  citation:  {geometry.citation}",
        f"  spec:      {geometry.source}",
        (
            f"  front at {geometry.distance_from_ip_mm:g} mm from the interaction point; "
            f"{geometry.n_layers} layers, {geometry.n_cells} cells; depth "
            f"{geometry.total_depth_x0:.2f} X0 = {geometry.total_depth_lambda:.2f} lambda_I"
        ),
    ]
    if geometry.stochastic_term is not None:
        head.append(f"  resolution: sigma/E = {geometry.stochastic_term:.1%}/sqrt(E/GeV) (spec)")
    rows = []
    for first, last in geometry.layer_runs():
        layer = geometry.layers[first]
        count = last - first + 1
        names = layer.name if count == 1 else f"{layer.name}..{geometry.layers[last].name}"
        dx, dy = layer.layout.cell_size_mm()
        rx, ry = layer.cell_size_rm()
        m = layer.material
        z0, z1 = layer.z_front_mm, geometry.layers[last].z_back_mm
        x0a, x0b = geometry.x0_edges[first, 0], geometry.x0_edges[last, 1]
        rows.append(
            (
                names,
                layer.group,
                f"{count} x {layer.n_cells}",
                f"{layer.shape[0]}x{layer.shape[1]}",
                f"{dx:.4g} x {dy:.4g}",
                f"{rx:.3f} x {ry:.3f}",
                f"{z0:.1f}-{z1:.1f}",
                f"{x0a:.2f}-{x0b:.2f} ({layer.depth_x0:.3f} each)",
                f"{m.name} (X0 {m.x0_mm:.2f} mm, R_M {m.rm_mm:.2f} mm)",
                "-" if layer.sampling_fraction is None else f"{layer.sampling_fraction:.4f}",
                _mip_text(layer),
            )
        )
    table = format_table(
        (
            "layers",
            "group",
            "cells",
            "image",
            "cell mm",
            "cell R_M",
            "z mm",
            "depth X0",
            "material",
            "f_samp",
            "MIP MeV",
        ),
        rows,
    )
    note = (
        "MIP: most probable visible energy of a minimum-ionising particle crossing the layer "
        "(Landau-Vavilov, PDG Eq. 34.12, in the active medium; * = mean dE/dx x thickness x "
        "f_samp, the active medium being unknown)"
    )
    return "\n".join(head) + "\n\n" + table + "\n\n" + note


def _mip_text(layer: Layer) -> str:
    """The layer's MIP scale in MeV, ``*`` marking a mean-loss estimate."""
    from calogeo.materials import mip_scale

    mip = mip_scale(layer.material, layer.thickness_mm, layer.sampling_fraction)
    return f"{mip.visible_mev:.4g}" + ("*" if mip.method == "mean" else "")
