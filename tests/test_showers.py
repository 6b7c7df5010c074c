"""Showers: construction checks, labels, slicing, batching, concatenation and views."""

from __future__ import annotations

import numpy as np
import pytest

from calogeo import CalogeoError, GeometryMismatchError, Showers, geometry_from_spec
from calogeo.testing import TWO_LAYER_SPEC

SPEC = TWO_LAYER_SPEC


@pytest.fixture(scope="module")
def geometry():
    return geometry_from_spec(SPEC)


def make(geometry, n: int = 10, seed: int = 0, **labels) -> Showers:
    rng = np.random.default_rng(seed)
    layers = [
        rng.exponential(1.0, (n, *s)).astype(np.float32) * (rng.random((n, *s)) < 0.3)
        for s in geometry.shapes
    ]
    return Showers(geometry, layers, rng.uniform(1, 100, n), labels)


def test_layers_are_float32_gev_and_sums_float64(geometry):
    showers = make(geometry, 7)
    assert all(layer.dtype == np.float32 for layer in showers.layers)
    assert showers.incident_energy.dtype == np.float32
    per_layer = showers.layer_energies()
    assert per_layer.dtype == np.float64
    assert per_layer.shape == (7, 2)
    expected = showers.layers[1].astype(np.float64).sum(axis=(1, 2))
    np.testing.assert_allclose(per_layer[:, 1], expected)
    np.testing.assert_allclose(showers.total_energy(), per_layer.sum(axis=1))


def test_wrong_layer_count_or_shape_is_a_geometry_mismatch(geometry):
    with pytest.raises(GeometryMismatchError, match="2 layers, got 1"):
        Showers(geometry, [np.zeros((3, 2, 3))], np.ones(3))
    with pytest.raises(GeometryMismatchError, match=r"layer 'back'.*\(3, 4, 4\)"):
        Showers(geometry, [np.zeros((3, 2, 3)), np.zeros((3, 4, 5))], np.ones(3))
    with pytest.raises(GeometryMismatchError, match="has 22 cells"):
        Showers.from_flat(geometry, np.zeros((3, 21)), np.ones(3))


def test_standard_labels_get_their_dtype_and_free_columns_are_kept(geometry):
    n = 5
    showers = make(
        geometry,
        n,
        pdg=np.full(n, 22.0),
        theta=np.zeros(n, dtype=np.float64),
        overflow=np.ones((n, 3)),
        converted=np.zeros(n, dtype=bool),
    )
    assert showers.labels["pdg"].dtype == np.int32
    assert showers.labels["theta"].dtype == np.float32
    assert showers.labels["overflow"].shape == (n, 3)
    assert showers.labels["overflow"].dtype == np.float64
    assert showers.labels["converted"].dtype == bool


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("pdg", np.ones(4), "4 entries for 5 events"),
        ("x", 3.0, "a scalar"),
        ("note", np.array(["a"] * 5), "must be numeric"),
        ("a/b", np.ones(5), "without '/'"),
        ("", np.ones(5), "non-empty"),
    ],
)
def test_bad_labels_are_rejected(geometry, name, values, message):
    with pytest.raises(ValueError, match=message):
        make(geometry, 5, **{name: values})


def test_from_flat_and_flat_are_inverse(geometry):
    showers = make(geometry, 6)
    flat = showers.flat()
    assert flat.shape == (6, geometry.n_cells)
    again = Showers.from_flat(geometry, flat, showers.incident_energy)
    for a, b in zip(showers.layers, again.layers, strict=True):
        np.testing.assert_array_equal(a, b)
    # the flat order is layer by layer, row-major inside a layer
    np.testing.assert_array_equal(flat[:, 6:], showers.layers[1].reshape(6, -1))


def test_integer_index_keeps_a_batch_of_one(geometry):
    showers = make(geometry, 4, pdg=np.arange(4))
    assert len(showers[0]) == 1
    assert showers[-1].labels["pdg"][0] == 3
    assert showers[-4].labels["pdg"][0] == 0
    with pytest.raises(IndexError, match="event 4 is out of range"):
        showers[4]
    with pytest.raises(IndexError):
        showers[-5]
    assert [int(s.labels["pdg"][0]) for s in showers] == [0, 1, 2, 3]


def test_slices_share_memory_masks_and_index_arrays_select(geometry):
    showers = make(geometry, 10, pdg=np.arange(10))
    part = showers[2:5]
    assert np.shares_memory(part.layers[0], showers.layers[0])
    assert part.labels["pdg"].tolist() == [2, 3, 4]
    mask = showers.labels["pdg"] % 3 == 0
    assert showers[mask].labels["pdg"].tolist() == [0, 3, 6, 9]
    picked = showers[np.array([7, 1])]
    np.testing.assert_array_equal(picked.layers[1][0], showers.layers[1][7])


def test_batches_cover_every_event_once(geometry):
    showers = make(geometry, 10, pdg=np.arange(10))
    sizes = [len(b) for b in showers.batches(4)]
    assert sizes == [4, 4, 2]
    joined = np.concatenate([b.labels["pdg"] for b in showers.batches(4)])
    assert joined.tolist() == list(range(10))
    with pytest.raises(ValueError, match="positive"):
        list(showers.batches(0))


def test_concatenate_keeps_common_labels_and_checks_geometry(geometry):
    a = make(geometry, 3, seed=1, pdg=np.full(3, 11), theta=np.zeros(3))
    b = make(geometry, 2, seed=2, pdg=np.full(2, 22))
    both = Showers.concatenate([a, b])
    assert len(both) == 5
    assert sorted(both.labels) == ["pdg"]
    assert both.labels["pdg"].tolist() == [11, 11, 11, 22, 22]
    np.testing.assert_array_equal(both.layers[1][3:], b.layers[1])
    other = geometry_from_spec(
        SPEC.replace('"two_layers"', '"other"').replace("10.0, 10.0", "9.0, 9.0")
    )
    with pytest.raises(GeometryMismatchError, match="cannot concatenate"):
        Showers.concatenate([a, Showers.empty(other, 1)])
    with pytest.raises(ValueError, match="empty list"):
        Showers.concatenate([])


def test_with_labels_adds_without_copying_energies(geometry):
    showers = make(geometry, 3)
    labelled = showers.with_labels(pdg=[211, 211, 111])
    assert labelled.labels["pdg"].tolist() == [211, 211, 111]
    assert labelled.layers[0] is showers.layers[0]
    assert "pdg" not in showers.labels


def test_empty_has_zero_energy(geometry):
    showers = Showers.empty(geometry, 3)
    assert len(showers) == 3
    assert showers.total_energy().tolist() == [0.0, 0.0, 0.0]
    assert len(Showers.empty(geometry)) == 0


def test_numpy_views(geometry):
    showers = make(geometry, 4)
    layers = showers.to_numpy("layers")
    assert layers[0] is showers.layers[0]
    np.testing.assert_array_equal(showers.to_numpy("flat"), showers.flat())
    with pytest.raises(ValueError, match="unknown view"):
        showers.to_numpy("cube")


def test_torch_views_on_the_cpu(geometry):
    torch = pytest.importorskip("torch")
    showers = make(geometry, 4)
    flat = showers.to_torch("cpu", view="flat")
    assert flat.dtype == torch.float32
    assert tuple(flat.shape) == (4, geometry.n_cells)
    np.testing.assert_array_equal(flat.numpy(), showers.flat())
    layers = showers.to_torch("cpu", view="layers")
    assert [tuple(t.shape) for t in layers] == [(4, 2, 3), (4, 4, 4)]
    assert np.shares_memory(layers[1].numpy(), showers.layers[1])
    with pytest.raises(ValueError, match="unknown view"):
        showers.to_torch("cpu", view="cube")
    if not torch.cuda.is_available():
        with pytest.raises(CalogeoError, match="no CUDA device"):
            showers.to_torch("cuda")
