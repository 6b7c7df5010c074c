"""Data-parallel work on a Dask cluster: partitions written atomically under deterministic
names with a manifest (:mod:`~calogeo.distributed.partitions`), the cluster a command runs on
(:mod:`~calogeo.distributed.cluster`), and the partitioned simulate / resample / convert /
evaluate (:mod:`~calogeo.distributed.ops`). Dask itself is optional (``calogeo[dask]``): with
no cluster, the same partitions run one after the other in this process."""

from __future__ import annotations

__all__: list[str] = []
