"""Readers of simulated hits for ``calogeo voxelize``: EDM4hep ROOT, hit tables, point clouds.

Registers, through the public hook ``calogeo_register_hit_readers`` exactly as a third-party
package would, lazily (a reader's module is imported when a file is first detected or read):

- ``edm4hep``: key4hep / podio ROOT files (``*.root``), ``SimCalorimeterHit`` collections and
  the ``MCParticle`` truth, through uproot and awkward (``pip install 'calogeo[root]'``);
- ``table``: per-event hit tables in HDF5 (per-event offsets or an event-id column) or
  Parquet (an event-id column; pyarrow, ``pip install 'calogeo[parquet]'``);
- ``pointcloud``: point clouds (N, n_points, 4) of (x, y, z, E) in HDF5.

Each module's docstring gives the exact layout it reads.
"""

from __future__ import annotations

from collections.abc import Callable

from calogeo import hookimpl

READERS = {  # name -> (reference, description): checked against the class on first use
    "edm4hep": (
        "calogeo_hits.edm4hep:EDM4hepReader",
        "EDM4hep ROOT (key4hep): SimCalorimeterHit collections + MCParticle truth",
    ),
    "table": (
        "calogeo_hits.table:HitTableReader",
        "hit tables x, y, z, energy in HDF5 (offsets or event ids) or Parquet (event ids)",
    ),
    "pointcloud": (
        "calogeo_hits.pointcloud:PointCloudReader",
        "point clouds (N, n_points, 4) of x, y, z, E in HDF5, zero-energy padding",
    ),
}


@hookimpl
def calogeo_register_hit_readers(register: Callable[..., None]) -> None:
    """Register the first-party hit readers (imported on first use)."""
    for name, (ref, description) in READERS.items():
        register(ref, name=name, description=description)
