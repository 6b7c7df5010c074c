"""Mean longitudinal and radial shower profiles from the parametric simulator.

Photons, neutral pions and charged pions of one energy in the CLIC calorimeters (ECAL + HCAL,
25 + 60 layers) and in the CMS ECAL barrel (PbWO4 crystals, one layer in depth). Energies are
calibrated (visible energy / sampling fraction); depth in radiation lengths, radius in Moliere
radii of each layer's material, around the particle's axis.

    python examples/profiles.py [-n 400] [--energy 50] [-o profiles.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np

from calogeo import Showers, get_geometry, get_model
from calogeo.observables import longitudinal_profile
from calogeo.plotting import save_figure

PARTICLES = {"gamma": ("tab:blue", "-"), "pi0": ("tab:orange", "--"), "pi+": ("tab:red", "-")}
GEOMETRIES = ("clic", "cms")
MAX_RADIUS_RM = 4.0


def calibrated(showers: Showers) -> Showers:
    """The same showers with each layer divided by its sampling fraction (GeV deposited)."""
    layers = [
        array / (layer.sampling_fraction or 1.0)
        for layer, array in zip(showers.geometry.layers, showers.layers, strict=True)
    ]
    return Showers(showers.geometry, layers, showers.incident_energy, showers.labels)


def radial_density(showers: Showers, group: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean 1/E dE/dA (1/R_M^2) of ``group``'s layers in rings one cell pitch wide, and the
    ring centres (R_M). Rings as wide as a cell always hold cell centres, so coarse cells
    (CMS crystals: 1 R_M) give few points rather than empty rings."""
    geometry = showers.geometry
    layers = [i for i, ly in enumerate(geometry.layers) if ly.group == group]
    layer = geometry.layers[layers[0]]
    pitch = max(layer.cell_size_rm())
    edges = np.arange(0.0, MAX_RADIUS_RM + pitch, pitch)
    xy = layer.layout.centres_mm() - np.asarray(geometry.anchor_mm)
    ring = np.digitize(np.hypot(xy[:, 0], xy[:, 1]) / layer.material.rm_mm, edges) - 1
    area = layer.layout.areas_mm2() / layer.material.rm_mm**2
    energy = sum(showers.layers[i].reshape(len(showers), -1).mean(axis=0) for i in layers)
    keep = (ring >= 0) & (ring < len(edges) - 1)
    ring_energy = np.bincount(ring[keep], energy[keep], minlength=len(edges) - 1)
    ring_area = np.bincount(ring[keep], area[keep], minlength=len(edges) - 1)
    covered = ring_area > 0
    centres = 0.5 * (edges[1:] + edges[:-1])
    density = ring_energy[covered] / ring_area[covered] / showers.incident_energy.mean()
    return centres[covered], density


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=400, help="showers per particle and detector")
    parser.add_argument("--energy", type=float, default=50.0, help="incident energy (GeV)")
    parser.add_argument("-o", "--output", type=Path, default=Path("profiles.png"))
    args = parser.parse_args()

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    for column, name in enumerate(GEOMETRIES):
        geometry = get_geometry(name)
        simulator = get_model("gflash").build(geometry, seed=1)
        depth_edges = geometry.x0_edges
        for particle, (colour, style) in PARTICLES.items():
            showers = calibrated(simulator.simulate(particle, np.full(args.n, args.energy)))
            # Longitudinal: 1/E dE/dX0 per layer, drawn as steps over each layer's depth.
            per_x0 = longitudinal_profile(showers, unit="x0").mean(axis=0) / args.energy
            steps = np.append(per_x0, per_x0[-1])
            axes[0, column].step(
                np.append(depth_edges[:, 0], depth_edges[-1, 1]),
                steps,
                where="post",
                color=colour,
                ls=style,
                label=f"{particle} ({showers.total_energy().mean() / args.energy:.0%} seen)",
            )
            # Radial: 1/E dE/dA summed over each group's layers, one line per group.
            for group, marker in zip(geometry.groups, "os", strict=False):
                r, density = radial_density(showers, group)
                axes[1, column].plot(
                    r, density, marker=marker, ls=style, ms=3, color=colour,
                    label=f"{particle} {group}" if len(geometry.groups) > 1 else particle,
                )  # fmt: skip
        top, bottom = axes[0, column], axes[1, column]
        for group in geometry.groups[1:]:
            first = next(i for i, ly in enumerate(geometry.layers) if ly.group == group)
            top.axvline(depth_edges[first, 0], color="grey", ls=":", lw=1)
            top.text(depth_edges[first, 0], 0.9, f" {group}", transform=top.get_xaxis_transform())
        shapes = ", ".join(f"{r}x{c}" for r, c in dict.fromkeys(geometry.shapes))
        layers = f"{geometry.n_layers} layer{'s' if geometry.n_layers > 1 else ''}"
        top.set_title(f"{name}: {layers} ({shapes}), {args.energy:g} GeV")
        top.set_xlabel("depth [X0]")
        top.set_ylabel("1/E dE/dX0 [1/X0]")
        top.set_yscale("log")
        top.set_ylim(1e-5, 0.5)
        top.legend(fontsize=8)
        bottom.set_xlabel("distance from the axis [R_M] (rings one cell wide)")
        bottom.set_ylabel("1/E dE/dA, summed over depth [1/R_M^2]")
        bottom.set_yscale("log")
        bottom.legend(fontsize=8)
        cells = ", ".join(
            f"{g} {geometry.layers[[ly.group for ly in geometry.layers].index(g)].cell_size_rm()[0]:.2f}"
            for g in geometry.groups
        )
        bottom.set_title(f"{name}: cell pitch [R_M] {cells}")
    fig.suptitle(
        "Parametric showers (calogeo gflash): mean profiles, calibrated energy\n"
        "(CMS has one crystal layer: its depth profile is one step over 25.8 X0)",
        fontsize=10,
    )
    fig.tight_layout()
    save_figure(fig, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
