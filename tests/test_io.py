"""The native shower file: round trips (format versions 1 and 2, dense and sparse batches),
chunked appends, streaming, atomic writes and the one-line errors for newer versions,
mismatched arrays and truncated files."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest

from calogeo import (
    ShowerFile,
    ShowerFileError,
    Showers,
    ShowerWriter,
    geometry_from_spec,
    get_geometry,
    list_geometries,
    open_showers,
    read_showers,
    write_showers,
)
from calogeo.io import FORMAT_VERSION, FORMAT_VERSIONS, is_native
from calogeo.sparse import SparseShowers
from calogeo.testing import TWO_LAYER_SPEC

SPEC = TWO_LAYER_SPEC


@pytest.fixture(scope="module")
def geometry():
    return geometry_from_spec(SPEC)


def make(geometry, n: int, seed: int = 0) -> Showers:
    rng = np.random.default_rng(seed)
    layers = [
        (rng.exponential(1.0, (n, *s)) * (rng.random((n, *s)) < 0.3)).astype(np.float32)
        for s in geometry.shapes
    ]
    labels = {
        "pdg": rng.choice([22, 111, 211], n),
        "theta": rng.uniform(0, 0.1, n),
        "overflow": rng.random((n, 2)),
        "converted": rng.random(n) < 0.5,
    }
    return Showers(geometry, layers, rng.uniform(1, 100, n), labels)


def assert_same(a: Showers, b: Showers) -> None:
    assert a.geometry == b.geometry
    np.testing.assert_array_equal(a.incident_energy, b.incident_energy)
    for x, y in zip(a.layers, b.layers, strict=True):
        np.testing.assert_array_equal(x, y)
    assert sorted(a.labels) == sorted(b.labels)
    for name in a.labels:
        assert a.labels[name].dtype == b.labels[name].dtype
        np.testing.assert_array_equal(a.labels[name], b.labels[name])


def one_line(exc: pytest.ExceptionInfo, path: Path, dataset: str | None = None) -> str:
    text = str(exc.value)
    assert "\n" not in text
    assert str(path) in text
    if dataset is not None:
        assert repr(dataset) in text
    return text


def write_batches(path: Path, showers: Showers, batch: int = 5, **options) -> None:
    with ShowerWriter(path, showers.geometry, **options) as writer:
        for part in showers.batches(batch):
            writer.append(part)


@pytest.fixture(params=FORMAT_VERSIONS)
def written(request, tmp_path, geometry):
    showers = make(geometry, 40)
    path = tmp_path / "showers.h5"
    write_batches(path, showers, chunk_events=8, chunk_cells=16, format_version=request.param)
    return path, showers


@pytest.fixture
def written_v1(tmp_path, geometry):
    showers = make(geometry, 40)
    path = tmp_path / "showers.h5"
    write_batches(path, showers, chunk_events=8, format_version=1)
    return path, showers


@pytest.mark.parametrize("version", FORMAT_VERSIONS)
def test_round_trip_keeps_energies_labels_and_geometry(tmp_path, geometry, version):
    showers = make(geometry, 12)
    path = tmp_path / "a.h5"
    write_showers(path, showers, metadata={"particle": "gamma", "seed": 3}, format_version=version)
    assert is_native(path)
    back = read_showers(path)
    assert_same(showers, back)
    with ShowerFile(path) as f:
        assert f.format_version == version
        assert f.stores_sparse == (version >= 2)
        assert f.metadata == {"particle": "gamma", "seed": 3}
        assert f.label_names == ["converted", "overflow", "pdg", "theta"]
        assert f.geometry.spec_text == geometry.spec_text


def test_version_1_layout_is_dense_images_chunked_by_event(written_v1, geometry):
    path, showers = written_v1
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == 1
        assert f.attrs["n_events"] == len(showers)
        assert "cells" not in f
        for layer in geometry.layers:
            ds = f[f"layers/{layer.name}"]
            assert ds.dtype == np.float32
            assert ds.chunks == (8, *layer.shape)
            assert ds.compression == "lzf"
            assert not ds.shuffle
        assert f["labels/overflow"].chunks == (8, 2)
        assert f["incident_energy"].chunks == (8,)


def test_version_2_layout_stores_the_non_zero_cells_of_each_event(tmp_path, geometry):
    showers = make(geometry, 40)
    path = tmp_path / "v2.h5"
    write_batches(path, showers, batch=7, chunk_events=8, chunk_cells=16)
    flat = showers.flat()
    rows, cells = np.nonzero(flat)
    with h5py.File(path, "r") as f:
        assert f.attrs["format_version"] == FORMAT_VERSION == 2
        assert f.attrs["n_events"] == len(showers)
        assert "layers" not in f
        end, index, energy = f["cells/end"], f["cells/index"], f["cells/energy"]
        assert (end.dtype, index.dtype, energy.dtype) == (np.int64, np.uint16, np.float32)
        assert (end.chunks, index.chunks, energy.chunks) == ((8,), (16,), (16,))
        for ds in (end, index, energy, f["incident_energy"], f["labels/pdg"]):
            assert ds.compression == "lzf"
            assert ds.shuffle == (ds is not energy)  # float mantissas: shuffling cost reads
        np.testing.assert_array_equal(end[:], np.cumsum(np.count_nonzero(flat, axis=1)))
        np.testing.assert_array_equal(index[:], cells)
        np.testing.assert_array_equal(energy[:], flat[rows, cells])
        assert f["labels/overflow"].chunks == (8, 2)


def test_sparse_batches_come_without_images_and_match_the_dense_ones(written, geometry):
    path, showers = written
    with open_showers(path) as source:
        parts = list(source.iter_batches(16, start=3, sparse=True))
        assert [len(p) for p in parts] == [16, 16, 5]
        assert all(isinstance(p, SparseShowers) for p in parts)
        first = parts[0]
        assert first.offsets[0] == 0
        assert first.offsets[-1] == len(first.index) == len(first.energy)
        np.testing.assert_array_equal(first.flat(), showers[3:19].flat())
        assert_same(Showers.concatenate([p.dense() for p in parts]), showers[3:])
        csr = source.read_sparse(10, 20).to_scipy()
        np.testing.assert_array_equal(csr.toarray(), showers[10:20].flat())
        assert csr.shape == (10, geometry.n_cells)


def test_sparse_batches_can_be_appended_and_written_as_version_1(tmp_path, geometry):
    showers = make(geometry, 30)
    sparse = SparseShowers.from_showers(showers)
    assert sparse.energy.dtype == np.float32
    assert np.all(sparse.energy != 0)
    for version in FORMAT_VERSIONS:
        path = tmp_path / f"v{version}.h5"
        with ShowerWriter(path, geometry, format_version=version, chunk_events=8) as writer:
            writer.append(sparse)
        assert_same(showers, read_showers(path))
    with pytest.raises(ShowerFileError, match="format_version 3"):
        ShowerWriter(tmp_path / "v3.h5", geometry, format_version=3)


def test_images_that_are_views_of_one_flat_array_are_not_copied(geometry):
    rng = np.random.default_rng(2)
    flat = (rng.random((6, geometry.n_cells)) < 0.2).astype(np.float32)
    from_flat = Showers.from_flat(geometry, flat, np.ones(6))
    separate = Showers(geometry, [layer.copy() for layer in from_flat.layers], np.ones(6))
    for showers in (from_flat, separate, from_flat[1:4]):
        sparse = SparseShowers.from_showers(showers)
        np.testing.assert_array_equal(sparse.flat(), showers.flat())


def test_small_appends_are_buffered_into_whole_chunks(written):
    path, showers = written
    assert_same(showers, read_showers(path))


def test_gzip_is_available_and_unknown_filters_are_refused(tmp_path, geometry):
    showers = make(geometry, 5)
    path = tmp_path / "g.h5"
    write_showers(path, showers, compression="gzip", level=3, shuffle=False)
    with h5py.File(path, "r") as f:
        assert f["cells/energy"].compression == "gzip"
        assert f["cells/energy"].compression_opts == 3
        assert not f["cells/energy"].shuffle
    assert_same(showers, read_showers(path))
    write_showers(path, showers, compression="gzip", format_version=1, shuffle=True)
    with h5py.File(path, "r") as f:
        assert f["layers/back"].shuffle
        assert f["layers/back"].compression_opts == 1
    assert_same(showers, read_showers(path))
    write_showers(path, showers, compression="gzip", shuffle=True)
    with h5py.File(path, "r") as f:
        assert f["cells/energy"].shuffle
        assert f["cells/index"].shuffle
    assert_same(showers, read_showers(path))
    write_showers(path, showers, compression=None)
    with h5py.File(path, "r") as f:
        assert f["cells/index"].compression is None
    assert_same(showers, read_showers(path))
    with pytest.raises(ShowerFileError, match="compression 'zstd'"):
        ShowerWriter(tmp_path / "z.h5", geometry, compression="zstd")


def test_streaming_reads_one_bounded_batch_at_a_time(written):
    path, showers = written
    with open_showers(path) as source:
        assert len(source) == 40
        sizes = []
        for batch in source.iter_batches(16):
            assert batch.layers[1].nbytes <= 16 * 4 * 16  # never more than one batch in memory
            sizes.append(len(batch))
        assert sizes == [16, 16, 8]
        middle = list(source.iter_batches(7, start=10, stop=25))
        assert [len(b) for b in middle] == [7, 7, 1]
        assert_same(Showers.concatenate(middle), showers[10:25])
        assert len(source.read(35, 100)) == 5
        assert len(source.read(50)) == 0
        with pytest.raises(ValueError, match="positive"):
            next(source.iter_batches(0))


def test_streaming_memory_is_bounded_by_the_batch_not_the_file(tmp_path, geometry):
    showers = make(geometry, 20000)
    path = tmp_path / "big.h5"
    write_showers(path, showers, chunk_events=50)
    total_bytes = showers.flat().nbytes + sum(v.nbytes for v in showers.labels.values())
    batch_bytes = total_bytes * 50 // 20000
    tracemalloc.start()
    try:
        with open_showers(path) as source:
            tracemalloc.reset_peak()
            events = sum(len(batch) for batch in source.iter_batches(50))
            peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert events == 20000
    assert peak < total_bytes / 10
    assert peak < 10 * batch_bytes + 100_000  # one batch plus bookkeeping


def write_then_fail(path: Path, showers: Showers, error: BaseException) -> None:
    """Append ``showers`` then fail inside the writer's block."""
    with ShowerWriter(path, showers.geometry, chunk_events=4) as writer:
        writer.append(showers)
        raise error


def append_all(path: Path, *batches: Showers) -> None:
    """Write ``batches`` one after the other to ``path``."""
    with ShowerWriter(path, batches[0].geometry) as writer:
        for batch in batches:
            writer.append(batch)


def test_an_exception_or_ctrl_c_leaves_no_file(tmp_path, geometry):
    showers = make(geometry, 10)
    path = tmp_path / "out.h5"
    for error in (RuntimeError("simulation failed"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            write_then_fail(path, showers, error)
        assert list(tmp_path.iterdir()) == []


def test_a_failed_rewrite_keeps_the_old_file(tmp_path, geometry):
    path = tmp_path / "out.h5"
    write_showers(path, make(geometry, 3))
    with pytest.raises(RuntimeError):
        write_then_fail(path, make(geometry, 5), RuntimeError())
    assert len(read_showers(path)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["out.h5"]


def test_the_file_appears_only_when_the_writer_closes(tmp_path, geometry):
    path = tmp_path / "out.h5"
    with ShowerWriter(path, geometry) as writer:
        writer.append(make(geometry, 3))
        assert not path.exists()
        assert [p.name for p in tmp_path.iterdir()] == [f"out.h5.partial-{os.getpid()}"]
    assert len(read_showers(path)) == 3


def test_appends_must_match_geometry_and_labels(tmp_path, geometry):
    other = geometry_from_spec(
        SPEC.replace('"two_layers"', '"other"').replace("10.0, 10.0", "9.0, 9.0")
    )
    showers = make(geometry, 4)
    first = Showers.empty(geometry, 2)
    with pytest.raises(ShowerFileError, match="on 'other' to a file on 'two_layers'"):
        append_all(tmp_path / "a.h5", first, Showers.empty(other, 2))
    with pytest.raises(ShowerFileError, match="labels"):
        append_all(tmp_path / "b.h5", showers, first)
    with pytest.raises(ShowerFileError, match="label 'overflow'"):
        append_all(tmp_path / "c.h5", showers, showers.with_labels(overflow=np.ones((4, 3))))
    with pytest.raises(ShowerFileError, match="label 'converted' of dtype float64"):
        append_all(tmp_path / "d.h5", showers, showers.with_labels(converted=np.ones(4)))
    with pytest.raises(ShowerFileError, match="not JSON-serialisable"):
        ShowerWriter(tmp_path / "e.h5", geometry, metadata={"x": object()})
    assert list(tmp_path.iterdir()) == []


def test_newer_format_version_is_refused(written):
    path, _ = written
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(ShowerFileError, match="newer") as exc:
        open_showers(path)
    assert f"format version {FORMAT_VERSION + 1}" in one_line(exc, path)


def test_layer_not_matching_the_embedded_geometry(written_v1):
    path, _ = written_v1
    with h5py.File(path, "r+") as f:
        del f["layers/back"]
        f.create_dataset("layers/back", data=np.zeros((40, 4, 5), dtype=np.float32))
    with pytest.raises(ShowerFileError, match=r"\(40, 4, 5\)") as exc:
        open_showers(path)
    one_line(exc, path, "layers/back")


def test_missing_extra_and_short_datasets_are_named(written_v1):
    path, _ = written_v1
    with h5py.File(path, "r+") as f:
        f.create_dataset("layers/middle", data=np.zeros((40, 1, 1), dtype=np.float32))
    with pytest.raises(ShowerFileError, match="not a layer") as exc:
        open_showers(path)
    one_line(exc, path, "layers/middle")
    with h5py.File(path, "r+") as f:
        del f["layers/middle"]
        del f["layers/front"]
    with pytest.raises(ShowerFileError, match="missing") as exc:
        open_showers(path)
    one_line(exc, path, "layers/front")


def test_label_length_mismatch_is_named(written):
    path, _ = written
    with h5py.File(path, "r+") as f:
        f["labels/pdg"].resize(39, axis=0)
    with pytest.raises(ShowerFileError, match="39 entries for 40 events") as exc:
        open_showers(path)
    one_line(exc, path, "labels/pdg")


def test_event_count_differing_from_the_recorded_one(written, geometry):
    path, _ = written
    with h5py.File(path, "r+") as f:
        per_event = (
            ["cells/end"] if "cells" in f else [f"layers/{ly.name}" for ly in geometry.layers]
        )
        for name in ["incident_energy", *per_event]:
            f[name].resize(30, axis=0)
        for name in f["labels"]:
            f[f"labels/{name}"].resize(30, axis=0)
    with pytest.raises(ShowerFileError, match="30 events but the file recorded 40") as exc:
        open_showers(path)
    one_line(exc, path, "incident_energy")


@pytest.mark.parametrize("fraction", [0.9, 0.5, 0.05])
def test_truncated_file_is_a_one_line_error(written, fraction):
    path, _ = written
    size = path.stat().st_size
    os.truncate(path, int(size * fraction))
    with pytest.raises(ShowerFileError, match="truncated") as exc:
        open_showers(path)
    one_line(exc, path)
    with pytest.raises(ShowerFileError, match="truncated"):
        ShowerFile(path)


@pytest.mark.parametrize(("version", "dataset"), [(1, "layers/back"), (2, "cells/energy")])
def test_unreadable_chunk_names_the_dataset(tmp_path, geometry, version, dataset):
    path = tmp_path / "corrupt.h5"
    options = {"chunk_events": 8, "chunk_cells": 16, "compression": "gzip"}
    write_showers(path, make(geometry, 40), format_version=version, **options)
    with h5py.File(path, "r") as f:
        offset = f[dataset].id.get_chunk_info(2).byte_offset
    with path.open("r+b") as fh:  # scribble over one compressed chunk
        fh.seek(offset)
        fh.write(b"\xff" * 64)
    with ShowerFile(path) as f, pytest.raises(ShowerFileError, match="cannot read") as exc:
        f.read()
    one_line(exc, path, dataset)


def test_cells_not_matching_their_ends_or_the_geometry_are_named(tmp_path, geometry):
    path = tmp_path / "v2.h5"
    write_showers(path, make(geometry, 40))
    with h5py.File(path, "r+") as f:
        f["cells/energy"].resize(len(f["cells/energy"]) - 1, axis=0)
    with pytest.raises(ShowerFileError, match="'cells/end' needs floats") as exc:
        open_showers(path)
    one_line(exc, path, "cells/energy")
    write_showers(path, make(geometry, 40))
    with h5py.File(path, "r+") as f:
        f["cells/index"][-1] = geometry.n_cells  # one past the last cell
    with open_showers(path) as source:
        source.read(0, 1)
        with pytest.raises(ShowerFileError, match="outside the 22 cells") as exc:
            source.read()
    one_line(exc, path, "cells/index")


def test_not_hdf5_and_missing_files(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n")
    with pytest.raises(ShowerFileError, match="not a readable HDF5 file") as exc:
        open_showers(text)
    one_line(exc, text)
    with pytest.raises(ShowerFileError, match="no such file"):
        open_showers(tmp_path / "absent.h5")


def test_native_file_with_another_geometry_given(written):
    path, _ = written
    other = geometry_from_spec(SPEC.replace('"two_layers"', '"other"'))
    with pytest.raises(ShowerFileError, match="not on 'other'"):
        open_showers(path, other)
    with open_showers(path, geometry_from_spec(SPEC)) as f:
        assert len(f) == 40


@pytest.mark.parametrize("name", [entry.name for entry in list_geometries()])
def test_every_registered_geometry_round_trips(tmp_path, name):
    geometry = get_geometry(name)
    rng = np.random.default_rng(11)
    cells = rng.exponential(0.1, (3, geometry.n_cells)) * (rng.random((3, geometry.n_cells)) < 0.1)
    showers = Showers.from_flat(geometry, cells, [10.0, 20.0, 30.0], {"pdg": [22, 111, 211]})
    write_showers(tmp_path / "g.h5", showers)
    assert_same(showers, read_showers(tmp_path / "g.h5"))


def test_an_older_calogeo_refuses_a_version_2_file(tmp_path, geometry, monkeypatch):
    path = tmp_path / "v2.h5"
    write_showers(path, make(geometry, 3))
    monkeypatch.setattr("calogeo.native.FORMAT_VERSION", 1)  # what calogeo <= 0.x reads
    with pytest.raises(ShowerFileError, match="format version 2 is newer") as exc:
        open_showers(path)
    one_line(exc, path)
