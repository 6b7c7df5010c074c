"""Generation speed of the generative models at paper size on the CPU, in ms per shower, against
the seed papers' CPU figures, for batch sizes 1 to 1024 on one thread and on all free cores.

Seed figures: CaloGAN 2.03 ms/shower (Paganini et al., PRD 97 (2018) 014021, Table III, CPU,
batch 1024); 3DGAN 13 ms/particle (Belayneh et al., EPJC 80 (2020) 688, Sect. 4.2, Intel Xeon
8180); ILD WGAN 47.923 ms/shower (Buhmann et al. 2021, Table 1, one core of a Xeon E5-2640 v4,
best batch size). Target: 5x faster per shower than each at equal model size on one core.

Each model is built with its paper preset on the seed's geometry (``calogan``, ``clic_ecal``,
``ild_ahcal``; random weights: the speed does not depend on them). For every batch size and
thread count the script times, interleaved in one run: the bare generator as trained (eval
mode, ``torch.inference_mode``), its inference form (what ``generate`` runs) and
``model.generate`` (inference form, the way back onto the geometry's cells, the readout
threshold), each in every ``--precision`` (fp32; bf16: bfloat16 autocast, as
``generate(precision="bf16")``). Inference forms: CaloGAN's dense layer + 2x2 convolution of
each stream folded into one dense layer and its batch norm into the first locally connected
layer, the streams and the in-painting batch-last (rows, cols, channels, N), so the locally
connected layers are one patch copy and one batched product each, without unfold; the
3DGAN's dense layer, zero padding and first convolution folded into one dense layer, its
up-sampling + convolution pairs into phase convolutions (bias inside, one
cropped interleaving copy into channels-last activations), channels-last 3D weights; the
WGAN's stride-1 transposed convolutions as direct ones, its 5 -> 1 channel output layer as a
depth-tap convolution (:class:`calogeo_generative.blocks.DepthTapConv3d`). The
machine may be shared, so besides the best wall-clock time of ``--rounds`` rounds it prints the
CPU time per shower (process time: on one thread, what one idle core would take) and the ratio
seed / ours from the one-thread CPU time. The thread count reaches ``generate`` through
``CALOGEO_THREADS``.

Before the timings it measures this core's one-thread matrix-product throughput (a 1024^2
torch.mm, fp32 and bf16, best CPU time) and prints per model the multiply-adds per shower of
the generator's inference form (torch's FLOP counter) and the time they take at that throughput:
a floor no layer-by-layer implementation of the same network beats on this core, beside the
throughput the 5x target would need.

    python benchmarks/generate.py [--models calogan,gan3d,wgan] [--batch-sizes 1,16,256,1024]
        [--rounds 3] [--threads 1,all] [--precision fp32,bf16]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import numpy as np
from simulate import best_time

from calogeo import get_geometry, get_model
from calogeo.device import THREADS_ENV, available_cores
from calogeo.testing import blob_showers

SEEDS = {  # model -> (geometry, seed CPU ms/shower, where)
    "calogan": ("calogan", 2.03, "Paganini et al. Table III, batch 1024"),
    "gan3d": ("clic_ecal", 13.0, "Belayneh et al. Sect. 4.2, Xeon 8180"),
    "wgan": ("ild_ahcal", 47.923, "Buhmann et al. Table 1, one core"),
}
TARGET = 5.0
GEMM_SIZE = 1024  # square matrices of the throughput probe


def gemm_rate(precision: str, rounds: int = 10) -> float:
    """This core's (threads') matrix-product throughput in multiply-adds per second: the best
    of ``rounds`` torch.mm of two GEMM_SIZE^2 matrices in fp32 or bf16, by CPU time."""
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = (
        torch.randn(GEMM_SIZE, GEMM_SIZE, dtype=dtype),
        torch.randn(GEMM_SIZE, GEMM_SIZE, dtype=dtype),
    )
    _, cpu = timed(lambda: torch.mm(a, b), rounds)
    return GEMM_SIZE**3 / cpu


def multiply_adds(run: Callable[[], Any], showers: int) -> float:
    """Multiply-adds per shower of the matrix products and convolutions ``run`` performs for
    ``showers`` showers (torch's FLOP counter / 2; a convolution counts every output position,
    zero padding included)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        run()
    return counter.get_total_flops() / 2 / showers


def floor_line(macs: float, rates: dict[str, float], seed_ms: float) -> str:
    """The multiply-adds per shower, the time they take at the measured GEMM ``rates``
    (precision -> multiply-adds/s) and the rate the 5x target would need."""
    floors = ", ".join(f"{p} {macs / r * 1e3:.3f} ms" for p, r in rates.items())
    need = macs / (seed_ms / TARGET * 1e-3)
    return (
        f"{macs / 1e6:.1f} M multiply-adds/shower (inference form); floor at GEMM rate: {floors}; "
        f"{TARGET:g}x ({seed_ms / TARGET:.3f} ms) needs {need / 1e9:.1f} G multiply-adds/s"
    )


def timed(run: Callable[[], Any], rounds: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds) of ``rounds`` calls after one warm-up call."""
    run()
    return best_time(run, rounds)


def prepared(name: str) -> Any:
    """The paper-size model on the seed's geometry, with units fitted on toy showers."""
    geometry = get_geometry(SEEDS[name][0])
    model = get_model(name).build(geometry, size="paper")
    model.fit_normalisation(blob_showers(geometry, 64, seed=0))
    for net in model.nets.values():
        net.eval()
    return model


def generator_macs(model: Any, showers: int = 4) -> float:
    """Multiply-adds per shower of the model's generator in its inference form."""
    import torch

    cond = torch.from_numpy(model.condition_array(np.linspace(10.0, 100.0, showers)))
    fast = model.generation_networks()["generator"]
    z = model.latent({"generator": fast}, cond)
    return multiply_adds(lambda: fast(z, cond), showers)


def rows(
    model: Any, batch: int, threads: int, rounds: int, precision: str
) -> dict[str, tuple[float, float]]:
    """Per variant (bare, inference form, generate): best (wall, CPU) ms per shower, the
    networks in ``precision`` ("fp32" or "bf16": bfloat16 autocast)."""
    import torch

    torch.set_num_threads(threads)
    os.environ[THREADS_ENV] = str(threads)  # generate() sets torch's threads from it
    rng = np.random.default_rng(batch)
    energies = rng.uniform(10.0, 100.0, batch)
    cond = torch.from_numpy(model.condition_array(energies))
    bare = model.nets["generator"]
    fast = model.generation_networks()["generator"]
    z = model.latent({"generator": bare}, cond)

    def network(net: Any) -> Callable[[], Any]:
        def run() -> Any:
            with torch.inference_mode(), torch.autocast("cpu", enabled=precision == "bf16"):
                return net(z, cond)

        return run

    variants = {
        "bare": network(bare),
        "inference": network(fast),
        "generate": lambda: model.generate(
            energies, device="cpu", batch_size=batch, seed=0, precision=precision
        ),
    }
    out = {}
    for key, run in variants.items():
        wall, cpu = timed(run, rounds)
        out[key] = (wall / batch * 1e3, cpu / batch * 1e3)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="calogan,gan3d,wgan")
    parser.add_argument("--batch-sizes", default="1,4,16,64,256,1024")
    parser.add_argument("--threads", default="1,all")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precision", default="fp32,bf16")
    args = parser.parse_args(argv)
    import torch

    batches = [int(b) for b in args.batch_sizes.split(",")]
    wanted = [available_cores() if t == "all" else int(t) for t in args.threads.split(",")]
    threads = sorted(set(wanted))
    print(f"torch {torch.__version__}, {available_cores()} free cores; ms per shower")
    torch.set_num_threads(1)
    rates = {p: gemm_rate(p) for p in args.precision.split(",")}
    print(
        "one-thread GEMM throughput: "
        + ", ".join(f"{p} {r / 1e9:.1f} G multiply-adds/s" for p, r in rates.items())
    )
    for name in args.models.split(","):
        geometry, seed_ms, where = SEEDS[name]
        model = prepared(name)
        print(f"\n{name} (paper preset) on {geometry}; seed {seed_ms} ms/shower ({where})")
        print(floor_line(generator_macs(model), rates, seed_ms))
        header = (
            "prec batch thr | bare wall/cpu | inference wall/cpu | generate wall/cpu | seed/ours"
        )
        print(header)
        best: dict[str, float] = {}
        for precision in args.precision.split(","):
            for batch in batches:
                for t in threads:
                    r = rows(model, batch, t, args.rounds, precision)
                    ratio = seed_ms / r["generate"][1] if t == 1 else float("nan")
                    if t == 1:
                        best[precision] = max(best.get(precision, 0.0), ratio)
                    print(
                        f"{precision} {batch:5d} {t:3d} | "
                        f"{r['bare'][0]:6.2f} / {r['bare'][1]:6.2f} | "
                        f"{r['inference'][0]:6.2f} / {r['inference'][1]:6.2f} | "
                        f"{r['generate'][0]:6.2f} / {r['generate'][1]:6.2f} | {ratio:5.2f}",
                        flush=True,
                    )
        for precision, ratio in best.items():
            verdict = "meets" if ratio >= TARGET else "misses"
            print(
                f"{precision}: best one-core ratio seed/ours {ratio:.2f} "
                f"({verdict} the {TARGET:g}x target)"
            )


if __name__ == "__main__":
    main()
