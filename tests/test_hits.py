"""Hit readers (the ``hits`` plugin): EDM4hep ROOT, HDF5 / Parquet hit tables, point clouds."""

from __future__ import annotations

import sys

import h5py
import numpy as np
import pytest

import calogeo
from calogeo import read_showers
from calogeo.cli import main
from calogeo.errors import CalogeoError, MissingDependencyError, UnknownHitReaderError
from calogeo.hits import HitBatch, open_hits
from calogeo.voxelize import VoxelizeSettings, voxelize, voxelize_batch
from calogeo.voxelize.scatter import showers_to_hits

uproot = pytest.importorskip("uproot")
ak = pytest.importorskip("awkward")

N = 6


@pytest.fixture(scope="module")
def clic():
    """Simulated photon showers on clic_ecal_rec and hits made from them (axes spread)."""
    geometry = calogeo.get_geometry("clic_ecal_rec")
    showers = (
        calogeo.get_model("gflash").build(geometry, seed=2).simulate("gamma", np.full(N, 30.0))
    )
    rng = np.random.default_rng(11)
    direction = np.array([1.0, 0.0, 0.0]) + rng.normal(0.0, 0.3, size=(N, 3))
    vertex = rng.normal(0.0, 2.0, size=(N, 3))
    hits = showers_to_hits(showers, vertex_mm=vertex, direction=direction, seed=1)
    return geometry, showers, hits


def jagged(values: np.ndarray, offsets: np.ndarray):
    return ak.unflatten(values, np.diff(offsets))


def write_edm4hep(path, ecal: HitBatch, hcal: HitBatch, mass: float = 0.0) -> dict[str, float]:
    """A podio-like ``events`` tree: two SimCalorimeterHit collections (every member podio
    writes for one), a CalorimeterHit collection and MCParticles holding the incident photon
    and a more energetic secondary of generator status 0. Returns the photon's numbers."""
    branches: dict[str, object] = {}

    def hit_collection(name: str, hits: HitBatch, simulated: bool = True) -> None:
        members = {
            "cellID": np.arange(hits.n_hits, dtype=np.uint64),
            "energy": hits.energy.astype(np.float32),
            "position.x": hits.position[:, 0].astype(np.float32),
            "position.y": hits.position[:, 1].astype(np.float32),
            "position.z": hits.position[:, 2].astype(np.float32),
        }
        if simulated:
            members["contributions_begin"] = np.zeros(hits.n_hits, dtype=np.uint32)
            members["contributions_end"] = np.zeros(hits.n_hits, dtype=np.uint32)
        else:
            members["energyError"] = np.zeros(hits.n_hits, dtype=np.float32)
            members["time"] = np.zeros(hits.n_hits, dtype=np.float32)
        for member, values in members.items():
            branches[f"{name}/{name}.{member}"] = jagged(values, hits.offsets)

    hit_collection("ECalBarrelCollection", ecal)
    hit_collection("HCalBarrelCollection", hcal)
    hit_collection("ECalBarrelHits", ecal, simulated=False)  # reconstructed: not read
    n = len(ecal)
    energy = np.asarray(ecal.events["incident_energy"])
    p = np.sqrt(energy**2 - mass**2)[:, None] * ecal.events["direction"]
    secondary = 40.0 * np.tile([0.0, 1.0, 0.0], (n, 1))
    particle = {
        "PDG": np.stack([np.full(n, 22), np.full(n, 11)], axis=1).astype(np.int32),
        "generatorStatus": np.tile(np.array([1, 0], dtype=np.int32), (n, 1)),
        "simulatorStatus": np.zeros((n, 2), dtype=np.int32),
        "charge": np.tile(np.array([0.0, -1.0], dtype=np.float32), (n, 1)),
        "mass": np.tile(np.array([mass, 0.000511]), (n, 1)),
        "momentum.x": np.stack([p[:, 0], secondary[:, 0]], axis=1).astype(np.float32),
        "momentum.y": np.stack([p[:, 1], secondary[:, 1]], axis=1).astype(np.float32),
        "momentum.z": np.stack([p[:, 2], secondary[:, 2]], axis=1).astype(np.float32),
        "vertex.x": np.stack([ecal.events["vertex_mm"][:, 0], np.zeros(n)], axis=1),
        "vertex.y": np.stack([ecal.events["vertex_mm"][:, 1], np.zeros(n)], axis=1),
        "vertex.z": np.stack([ecal.events["vertex_mm"][:, 2], np.zeros(n)], axis=1),
    }
    for member, values in particle.items():
        branches[f"MCParticles/MCParticles.{member}"] = ak.Array(values.tolist())
    with uproot.recreate(path) as file:
        file["events"] = branches
    return {"energy": float(energy[0])}


def hcal_hits(ecal: HitBatch, geometry: calogeo.Geometry) -> HitBatch:
    """Two hits per event 300 mm behind the ECAL window on each event's axis."""
    n = len(ecal)
    u = ecal.events["direction"] / np.linalg.norm(ecal.events["direction"], axis=1)[:, None]
    depth = geometry.distance_from_ip_mm + geometry.z_edges_mm[-1, 1] + np.array([300.0, 350.0])
    position = ecal.events["vertex_mm"][:, None, :] + depth[None, :, None] * u[:, None, :]
    return HitBatch(np.arange(0, 2 * n + 1, 2), position.reshape(-1, 3), np.full(2 * n, 0.25))


def test_edm4hep_file_voxelizes_onto_clic_with_truth_labels_and_hcal_loss(clic, tmp_path):
    geometry, showers, hits = clic
    write_edm4hep(tmp_path / "sim.edm4hep.root", hits, hcal_hits(hits, geometry), mass=0.5)
    report = voxelize(tmp_path / "sim.edm4hep.root", geometry, tmp_path / "out.h5")
    out = read_showers(tmp_path / "out.h5")
    np.testing.assert_allclose(out.flat(), showers.flat(), rtol=2e-6)
    np.testing.assert_allclose(out.incident_energy, 30.0, rtol=1e-6)  # sqrt(p^2 + m^2)
    assert out.labels["pdg"].tolist() == [22] * N  # not the more energetic status-0 electron
    assert out.labels["multiplicity"].tolist() == [1] * N
    np.testing.assert_allclose(out.labels["loss"], 0.5, rtol=1e-6)  # the HCAL hits
    np.testing.assert_allclose(out.labels["theta"], 0.0, atol=1e-3)
    assert report.hits == hits.n_hits + 2 * N  # ECAL + HCAL, not the reconstructed hits


def test_edm4hep_onto_atlas_keeps_or_loses_every_hit(clic, tmp_path):
    geometry, _, hits = clic
    write_edm4hep(tmp_path / "sim.root", hits, hcal_hits(hits, geometry))
    atlas = calogeo.get_geometry("atlas")
    out = read_showers_after(tmp_path, "sim.root", atlas, "--collections", "ECalBarrelCollection")
    total = np.add.reduceat(hits.energy, hits.offsets[:-1])
    kept = out.total_energy()
    np.testing.assert_allclose(kept + out.labels["loss"], total, rtol=1e-5)
    assert np.all(kept > 0.5 * total)  # the ATLAS window holds most of a CLIC photon shower
    assert out.labels["pdg"].tolist() == [22] * N


def read_showers_after(tmp_path, name, geometry, *options):
    assert (
        main(
            [
                "voxelize",
                str(tmp_path / name),
                "--geometry",
                geometry.name,
                "-o",
                str(tmp_path / "cli.h5"),
                *options,
            ]
        )
        == 0
    )
    return read_showers(tmp_path / "cli.h5")


def test_several_files_and_chunks_read_as_one_input(clic, tmp_path):
    geometry, showers, hits = clic
    halves = [slice(0, 2), slice(2, N)]
    for k, part in enumerate(halves):
        first, last = hits.offsets[part.start], hits.offsets[part.stop]
        sub = HitBatch(
            hits.offsets[part.start : part.stop + 1] - first,
            hits.position[first:last],
            hits.energy[first:last],
            {key: v[part] for key, v in hits.events.items()},
        )
        write_edm4hep(tmp_path / f"run{k}.root", sub, hcal_hits(sub, geometry))
    voxelize(str(tmp_path / "run*.root"), geometry, tmp_path / "out.h5", chunk_hits=64)
    np.testing.assert_allclose(read_showers(tmp_path / "out.h5").flat(), showers.flat(), rtol=2e-6)


def test_check_prints_per_layer_losses(clic, tmp_path, capsys):
    geometry, _, hits = clic
    write_edm4hep(tmp_path / "sim.root", hits, hcal_hits(hits, geometry))
    assert main(["voxelize", str(tmp_path / "sim.root"), "--geometry", "atlas", "--check"]) == 0
    out = capsys.readouterr().out
    assert "energy kept per event" in out
    for layer in ("EMB1", "EMB2", "EMB3", "behind back", "total lost"):
        assert layer in out
    assert not list(tmp_path.glob("*.h5"))  # a check alone writes nothing


def test_missing_uproot_names_the_extra(clic, tmp_path, monkeypatch):
    geometry, _, hits = clic
    write_edm4hep(tmp_path / "sim.root", hits, hcal_hits(hits, geometry))
    monkeypatch.setitem(sys.modules, "uproot", None)
    with pytest.raises(MissingDependencyError, match=r"calogeo\[root\]"):
        open_hits(tmp_path / "sim.root")


def test_unknown_collection_lists_the_ones_found(clic, tmp_path):
    geometry, _, hits = clic
    write_edm4hep(tmp_path / "sim.root", hits, hcal_hits(hits, geometry))
    with pytest.raises(CalogeoError, match="ECalBarrelCollection, ECalBarrelHits, HCalBarrel"):
        open_hits(tmp_path / "sim.root", collections="ECalEndcap")


def write_table_with_ids(path, hits: HitBatch) -> None:
    with h5py.File(path, "w") as h5:
        group = h5.create_group("hits")
        for k, c in enumerate("xyz"):
            group[c] = hits.position[:, k]
        group["energy"] = hits.energy
        group["event"] = 10 + 3 * np.repeat(np.arange(len(hits)), hits.counts)


def test_table_with_event_ids_matches_the_events(clic, tmp_path):
    geometry, _, hits = clic
    write_table_with_ids(tmp_path / "ids.h5", hits)
    settings = VoxelizeSettings(axis="barycentre", incident_energy_gev=50.0)
    with open_hits(tmp_path / "ids.h5") as reader:
        assert reader.name == "table"
        batches = list(reader.iter_batches(100))  # events split across chunks
    assert sum(len(b) for b in batches) == N
    assert np.concatenate([b.events["event_id"] for b in batches]).tolist() == [
        10 + 3 * i for i in range(N)
    ]
    voxelize(tmp_path / "ids.h5", geometry, tmp_path / "out.h5", settings=settings, chunk_hits=100)
    plain = HitBatch(hits.offsets, hits.position, hits.energy)
    expected = voxelize_batch(plain, geometry, settings)
    out = read_showers(tmp_path / "out.h5")
    np.testing.assert_allclose(out.flat(), expected.flat(), rtol=1e-6)
    assert out.labels["event_id"].tolist() == [10 + 3 * i for i in range(N)]


def test_table_whose_event_ids_go_back_is_refused(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as h5:
        for c in ("x", "y", "z", "energy"):
            h5[c] = np.ones(4)
        h5["event"] = np.array([0, 1, 0, 2])
    with pytest.raises(CalogeoError, match="ascending"):
        voxelize(tmp_path / "bad.h5", calogeo.get_geometry("clic_ecal_rec"), None)


def test_parquet_table_reads_like_the_hdf5_one(clic, tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    geometry, _, hits = clic
    table = pa.table(
        {
            "event": np.repeat(np.arange(N), hits.counts),
            "x": hits.position[:, 0],
            "y": hits.position[:, 1],
            "z": hits.position[:, 2],
            "energy": hits.energy,
        }
    )
    pq.write_table(table, tmp_path / "hits.parquet", row_group_size=500)
    settings = VoxelizeSettings(axis="barycentre", incident_energy_gev=50.0)
    voxelize(
        tmp_path / "hits.parquet", geometry, tmp_path / "out.h5", settings=settings, chunk_hits=300
    )
    expected = voxelize_batch(
        HitBatch(hits.offsets, hits.position, hits.energy), geometry, settings
    )
    np.testing.assert_allclose(read_showers(tmp_path / "out.h5").flat(), expected.flat(), rtol=1e-6)


def test_point_clouds_in_a_local_frame(clic, tmp_path):
    geometry, showers, _ = clic
    local = showers_to_hits(showers, direction=np.tile([0.0, 0.0, 1.0], (N, 1)), front_mm=0.0)
    n_points = int(local.counts.max()) + 5
    cloud = np.zeros((N, n_points, 4), dtype=np.float32)
    for i in range(N):
        a, b = local.offsets[i], local.offsets[i + 1]
        cloud[i, : b - a, :3] = local.position[a:b]
        cloud[i, : b - a, 3] = local.energy[a:b]
    with h5py.File(tmp_path / "clouds.h5", "w") as h5:
        h5["showers"] = cloud
        h5["energy"] = showers.incident_energy[:, None]
    args = ["--axis", "fixed", "--direction", "0,0,1", "--front-mm", "0"]
    out = read_showers_after(tmp_path, "clouds.h5", geometry, *args)
    np.testing.assert_allclose(out.flat(), showers.flat(), rtol=2e-6)
    np.testing.assert_allclose(out.incident_energy, showers.incident_energy)
    with open_hits(tmp_path / "clouds.h5") as reader:
        assert reader.name == "pointcloud"
        assert reader.count_events() == N


def test_reader_lookup_errors(tmp_path):
    with pytest.raises(UnknownHitReaderError, match="did you mean 'edm4hep'"):
        open_hits(__file__, reader="edm4hop")
    with pytest.raises(CalogeoError, match="no file matches"):
        open_hits(str(tmp_path / "*.root"))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CalogeoError, match="no hit reader recognises"):
        open_hits(tmp_path / "notes.txt")
