"""Streaming resampling: reader / resampler / writer threads, buffers, errors, the cache."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from calogeo import GeometryMismatchError, Showers, geometry_from_spec
from calogeo.resample import Resampler
from calogeo.resample.stream import pipeline, resample_stream
from calogeo.sparse import SparseShowers

SPEC = """
name = "{name}"
title = "{name}"
citation = "test"
distance_from_ip_mm = 1500.0
[[layers]]
name = "layer"
repeat = 3
thickness_x0 = 2.0
material = "W"
sampling_fraction = {fraction}
layout = {layout}
"""
FINE = geometry_from_spec(
    SPEC.format(
        name="fine", fraction=0.05, layout='{ type = "grid", pitch_mm = [5, 5], shape = [8, 8] }'
    )
)
COARSE = geometry_from_spec(
    SPEC.format(
        name="coarse", fraction=0.1, layout='{ type = "grid", pitch_mm = [12, 12], shape = [3, 3] }'
    )
)
HEXAGONS = geometry_from_spec(
    SPEC.format(
        name="hexagons",
        fraction=0.1,
        layout='{ type = "hexagonal", pitch_mm = 10.0, shape = [4, 4] }',
    )
)


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CALOGEO_CACHE_DIR", str(tmp_path / "cache"))


def showers(n: int = 50) -> Showers:
    rng = np.random.default_rng(0)
    cells = rng.exponential(size=(n, FINE.n_cells)).astype(np.float32)
    return Showers.from_flat(FINE, cells, rng.uniform(1, 9, n), {"pdg": np.arange(n)})


@pytest.mark.parametrize("round_trip", [False, True])
def test_the_stream_gives_what_apply_gives_in_order_with_the_bookkeeping(round_trip) -> None:
    resampler = Resampler(FINE, COARSE, round_trip=round_trip)
    events = showers()
    got: list[tuple[Showers, dict]] = []
    batches = [events[k : k + 7] for k in range(0, len(events), 7)]

    def sink(resampled: Showers, books: dict) -> None:
        # The buffers are reused: the sink must copy what it keeps (the writer does).
        got.append((Showers.concatenate([resampled]), {k: v.copy() for k, v in books.items()}))

    resample_stream(resampler, iter(batches), sink, depth=1)
    out = Showers.concatenate([s for s, _ in got])
    expected = resampler.apply(events, batch_size=5)
    np.testing.assert_array_equal(out.flat(), expected.flat())
    np.testing.assert_array_equal(out.labels["pdg"], np.arange(50))
    np.testing.assert_array_equal(out.incident_energy, events.incident_energy)
    books = resampler.bookkeeping(events)
    for key in books:
        np.testing.assert_allclose(np.concatenate([b[key] for _, b in got]), books[key])


@pytest.mark.parametrize(("target", "round_trip"), [(COARSE, False), (HEXAGONS, True)])
def test_sparse_batches_give_what_dense_ones_give(target, round_trip) -> None:
    """Non-zero cells in (a version-2 file's batches) resample and book exactly as the dense
    images, through the Resampler and through the stream, for separable and clipped tables."""
    resampler = Resampler(FINE, target, round_trip=round_trip)
    events = showers(31)
    events.layers[1][3:9] = 0.0  # empty layers and events among the rest
    events.layers[0][5] = 0.0
    dense = events.flat()
    sparse = SparseShowers.from_showers(events)
    assert len(sparse.index) < dense.size
    np.testing.assert_allclose(
        resampler.apply_sparse(sparse), resampler.apply_dense(dense), rtol=1e-6, atol=1e-7
    )
    books = resampler.bookkeeping_dense(dense)
    for key, value in resampler.bookkeeping_sparse(sparse).items():
        np.testing.assert_allclose(value, books[key], rtol=1e-12)
    got: list[Showers] = []
    batches = [SparseShowers.from_showers(events[k : k + 8]) for k in range(0, len(events), 8)]
    resample_stream(resampler, batches, lambda s, _: got.append(Showers.concatenate([s])))
    np.testing.assert_allclose(
        Showers.concatenate(got).flat(), resampler.apply_dense(dense), rtol=1e-6, atol=1e-7
    )
    with pytest.raises(GeometryMismatchError, match="maps from 'coarse'"):
        Resampler(COARSE, FINE).apply_sparse(sparse)


def test_apply_in_batches_equals_apply_array() -> None:
    resampler = Resampler(FINE, COARSE, round_trip=True)
    events = showers(23)
    expected = resampler.apply_array(events.flat())
    for size in (1, 5, 23, 100):
        np.testing.assert_array_equal(resampler.apply(events, batch_size=size).flat(), expected)


@pytest.mark.parametrize("stage", ["read", "process", "write"])
def test_an_error_in_any_stage_stops_the_others_and_is_raised(stage) -> None:
    processed = []

    def source():
        for k in range(100):
            if stage == "read" and k == 5:
                msg = "read failed"
                raise OSError(msg)
            yield k

    def process(k: int) -> int:
        if stage == "process" and k == 5:
            msg = "process failed"
            raise ValueError(msg)
        processed.append(k)
        return k

    def sink(k: int) -> None:
        if stage == "write" and k == 5:
            msg = "write failed"
            raise RuntimeError(msg)

    before = threading.active_count()
    with pytest.raises((OSError, ValueError, RuntimeError), match=f"{stage} failed"):
        pipeline(source(), process, sink, depth=2)
    assert max(processed) < 10  # the bounded queues stop the others soon
    assert threading.active_count() == before


def test_cheap_separable_weights_skip_the_cache_and_clipped_ones_use_it(tmp_path) -> None:
    folder = tmp_path / "cache" / "resample"
    Resampler(FINE, COARSE)
    assert not folder.exists() or not list(folder.glob("*.npz"))
    Resampler(FINE, HEXAGONS)
    assert len(list(folder.glob("*.npz"))) == 1
