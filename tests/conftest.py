"""Shared fixtures. Plugins are strict here: a broken plugin fails the test run."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("CALOGEO_STRICT_PLUGINS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


TINY_HPARAMS = {
    "dnn": {"dense_units": 8},
    "cnn3d": {"filters": 2, "dense_units": 8},
    "googlenet3d": {"modules": 2, "width": 0.03, "dense_units": 8},
    "layer_cnn": {"filters": 2, "dense_units": 8},
    "densenet": {"growth": 2, "dense_block_layers": 2, "dense_units": 8},
    "resnet10_3d": {"widths": [2, 2, 2, 2], "dense_units": 8},
    "bdt": {"max_iter": 5},
}


@pytest.fixture(scope="session")
def tiny_hparams():
    """Per registered model, hyper-parameters smaller than the ``small`` preset (same
    architecture) so that contract tests over every model stay fast on two CPU cores."""
    return TINY_HPARAMS
