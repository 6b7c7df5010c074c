"""calogeo.dataset: many native files read as one, checked file by file, and as Dask arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from calogeo.errors import ShowerFileError
from calogeo.io import open_showers, read_showers, to_dask, write_showers
from calogeo.resample import Resampler
from calogeo.showers import Showers
from calogeo.spec import geometry_from_spec
from calogeo.testing import tungsten_grid_spec


def geometry(name: str = "fine", layers: int = 4, cells: int = 6):
    return geometry_from_spec(tungsten_grid_spec(name, cells, layers))


def showers(geo, n: int, seed: int) -> Showers:
    rng = np.random.default_rng(seed)
    flat = rng.exponential(0.01, (n, geo.n_cells)).astype(np.float32)
    flat[flat < 0.01] = 0.0
    energy = rng.uniform(1, 10, n).astype(np.float32)
    labels = {"pdg": np.full(n, 22, np.int32), "theta": rng.uniform(0, 0.1, n)}
    return Showers.from_flat(geo, flat, energy, labels)


@pytest.fixture
def files(tmp_path: Path) -> tuple[list[Path], Showers]:
    geo = geometry()
    parts = [showers(geo, n, seed) for seed, n in enumerate((7, 12, 5))]
    # names sort in another order than they were written: the dataset order is by name
    paths = [tmp_path / "runs" / name for name in ("b.h5", "c.h5", "a.h5")]
    for path, part in zip(paths, parts, strict=True):
        path.parent.mkdir(exist_ok=True)
        write_showers(path, part, chunk_events=4)
    ordered = Showers.concatenate([parts[2], parts[0], parts[1]])
    return paths, ordered


def same(a: Showers, b: Showers) -> bool:
    return (
        np.array_equal(a.flat(), b.flat())
        and np.array_equal(a.incident_energy, b.incident_energy)
        and sorted(a.labels) == sorted(b.labels)
        and all(np.array_equal(a.labels[k], b.labels[k]) for k in a.labels)
    )


def test_directory_glob_and_list_read_as_one_dataset(files):
    paths, ordered = files
    folder = paths[0].parent
    for spec in (folder, str(folder / "*.h5"), sorted(paths)):
        with open_showers(spec) as data:
            assert len(data) == 24
            assert same(data.read(), ordered)
            # batches across file boundaries, dense and sparse
            batches = list(data.iter_batches(5, 3, 20, sparse=True))
            assert [len(b) for b in batches] == [5, 5, 5, 2]
            joined = Showers.concatenate([b.dense() for b in batches])
            assert same(joined, ordered[3:20])
    # a list keeps the order given
    as_given = Showers.concatenate([ordered[5:12], ordered[12:], ordered[:5]])
    assert same(read_showers(paths), as_given)


def test_a_file_on_another_geometry_or_format_version_is_named(tmp_path, files):
    paths, _ = files
    other = tmp_path / "runs" / "d.h5"
    write_showers(other, showers(geometry("coarse", 2, 3), 3, 9))
    with pytest.raises(ShowerFileError, match=r"d\.h5: showers on geometry 'coarse'"):
        open_showers(paths[0].parent)
    other.unlink()
    write_showers(other, showers(geometry(), 3, 9), format_version=1)
    with pytest.raises(ShowerFileError, match=r"d\.h5: format version 1, but .*a\.h5"):
        open_showers(paths[0].parent)
    with pytest.raises(ShowerFileError, match="matches no file"):
        open_showers(tmp_path / "nothing-*.h5")


def test_to_dask_is_chunked_like_the_files(files):
    paths, ordered = files
    cells, labels = to_dask(paths[0].parent, chunk_events=4)
    # a.h5 (5 events), b.h5 (7), c.h5 (12), each cut every 4 events
    assert cells.chunks[0] == (4, 1, 4, 3, 4, 4, 4)
    assert labels["pdg"].chunks == cells.chunks[:1]
    assert np.array_equal(cells.compute(), ordered.flat())
    assert np.array_equal(labels["incident_energy"].compute(), ordered.incident_energy)
    assert np.array_equal(labels["theta"].compute(), ordered.labels["theta"])


def test_resampler_applies_to_a_dask_array(files):
    paths, ordered = files
    resampler = Resampler(ordered.geometry, geometry("coarse", 2, 3), cache=False)
    cells, _ = to_dask(paths[0].parent, chunk_events=4)
    out = resampler.apply(cells)
    assert type(out).__module__.startswith("dask.")
    assert out.chunks[0] == cells.chunks[0]
    assert np.array_equal(out.compute(), resampler.apply(ordered).flat())
