"""Training and inference throughput of the reconstruction models, in showers per second.

Showers are gamma and pi0 showers (30-150 GeV) simulated in this run by the registered
``gflash`` generator on ``clic_ecal_rec`` (the 25x25x25 CLIC REC window, Belayneh et al.
Sect. 2) and resampled to ``atlas`` (direct; the CNN's voxel view then resamples EMB1-3 onto a
regular grid on every batch). For each model (small preset) and geometry the script times
``--epochs`` training epochs (view building, normalisation, forward, backward, optimiser; the
small validation passes are subtracted at the measured inference rate) and one ``predict`` pass
over the same showers, and prints showers/s and the ratio inference / training of this run.

    python benchmarks/train.py [-n 1000] [--models cnn3d,dnn] [--device cpu|cuda] [--epochs 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from calogeo import Showers, get_geometry, get_model
from calogeo.resample import Resampler

ENERGY_GEV = (30.0, 150.0)


def simulate(n: int, seed: int) -> Showers:
    """``n`` gamma and ``n`` pi0 showers on clic_ecal_rec."""
    geometry = get_geometry("clic_ecal_rec")
    rng = np.random.default_rng(seed)
    parts = [
        get_model("gflash")
        .build(geometry, seed=seed + k)
        .generate(rng.uniform(*ENERGY_GEV, n), particle=particle)
        for k, particle in enumerate(("gamma", "pi0"))
    ]
    return Showers.concatenate(parts)


def throughput(
    name: str, showers: Showers, epochs: int, device: str, batch: int
) -> tuple[float, float]:
    """(training showers/s, inference showers/s) of model ``name`` (small preset)."""
    model = get_model(name).build(showers.geometry, size="small", batch_size=batch)
    held_out = showers[: max(2, len(showers) // 20)]
    start = time.perf_counter()
    model.fit(showers, val=held_out, epochs=epochs, patience=epochs, device=device, progress=False)
    train_s = time.perf_counter() - start
    validated = len(held_out) * len(model.history)
    start = time.perf_counter()
    model.predict(showers, device=device, batch_size=256)
    infer_s = time.perf_counter() - start
    # validation passes are inference too: take them out of the training time
    train_s -= validated * infer_s / len(showers)
    return len(showers) * len(model.history) / train_s, len(showers) / infer_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--events", type=int, default=1000, help="showers per particle")
    parser.add_argument("--models", default="cnn3d,dnn", help="comma-separated model names")
    parser.add_argument("--geometries", default="clic_ecal_rec,atlas")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64, help="training batch size")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    showers = simulate(args.events, args.seed)
    print(f"simulated {len(showers)} showers in {time.perf_counter() - start:.1f} s")
    versions = {"clic_ecal_rec": showers}
    for name in args.geometries.split(","):
        if name != "clic_ecal_rec":
            versions[name] = Resampler(showers.geometry, get_geometry(name)).apply(showers)
    print(f"{'model':<12} {'geometry':<14} {'train/s':>9} {'infer/s':>9} {'infer/train':>12}")
    for model in args.models.split(","):
        for geometry, data in versions.items():
            train, infer = throughput(model, data, args.epochs, args.device, args.batch)
            print(f"{model:<12} {geometry:<14} {train:9.0f} {infer:9.0f} {infer / train:12.1f}")


if __name__ == "__main__":
    main()
