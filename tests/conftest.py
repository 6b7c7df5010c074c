"""Shared fixtures. Plugins are strict here: a broken plugin fails the test run."""

from __future__ import annotations

import os

os.environ.setdefault("CALOGEO_STRICT_PLUGINS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
