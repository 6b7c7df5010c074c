"""Choices the model interface and the command line share, in a module light enough for
``calogeo --help`` to import (no numpy)."""

from __future__ import annotations

__all__ = ["SIZES", "TASKS"]

TASKS = ("classify", "regress", "both")
"""What a reconstruction model is trained for: particle classification, energy regression, or
both heads at once."""

SIZES = ("paper", "small")
"""Hyper-parameter presets: the published architecture, or a small one for quick runs."""
