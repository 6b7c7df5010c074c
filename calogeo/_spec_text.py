"""Parsing spec TOML, kept apart from :mod:`calogeo.spec` so that naming a registered geometry
(plugin discovery reads only a spec's head) imports neither numpy nor the geometry classes."""

from __future__ import annotations

import sys
from typing import Any

from calogeo.errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["parse_spec_text"]


def parse_spec_text(text: str, source: str = "<string>") -> dict[str, Any]:
    """Parse spec TOML into a dict, turning syntax errors into a SpecError naming ``source``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(source, [f"invalid TOML: {exc}"]) from exc
