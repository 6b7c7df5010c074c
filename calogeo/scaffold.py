"""A ready plugin package for a new detector (``calogeo new-plugin``), from the templates in
``calogeo/templates/plugin``."""

from __future__ import annotations

import re
from pathlib import Path

from calogeo.errors import CalogeoError

__all__ = ["new_plugin"]

TEMPLATES = Path(__file__).with_name("templates") / "plugin"
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_SPEC_NAME = re.compile(r'^name\s*=\s*"[^"\n]*"[ \t]*$', re.MULTILINE)


def _rename_spec(text: str, name: str, source: str) -> str:
    """``text`` with its top-level ``name = "..."`` set to ``name``."""
    head = text.split("\n[", 1)[0]  # top-level keys come before the first table
    if not _SPEC_NAME.search(head):
        msg = f'{source}: no top-level `name = "..."` line to rename'
        raise CalogeoError(msg)
    return _SPEC_NAME.sub(f'name = "{name}"', head, count=1) + text[len(head) :]


def new_plugin(name: str, directory: Path, spec_text: str | None = None) -> list[Path]:
    """Write the plugin package ``calogeo-NAME`` into ``directory`` (created; must be empty)
    and return the files written: pyproject.toml with the entry point, ``calogeo_NAME/``
    registering ``NAME.toml`` (``spec_text`` renamed to ``NAME``, else the commented template),
    a test that loads, simulates and resamples the geometry, and a README."""
    if not _NAME.match(name):
        msg = f"plugin name {name!r}: use lower-case letters, digits and _, starting with a letter"
        raise CalogeoError(msg)
    if directory.exists() and any(directory.iterdir()):
        msg = f"{directory} exists and is not empty"
        raise CalogeoError(msg)
    module = f"calogeo_{name}"
    values = {
        "__NAME__": name,
        "__MODULE__": module,
        "__DIST__": f"calogeo-{name.replace('_', '-')}",
    }

    def fill(template: str) -> str:
        text = (TEMPLATES / template).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    spec = fill("spec.toml.tmpl") if spec_text is None else _rename_spec(spec_text, name, "spec")
    files = {
        "pyproject.toml": fill("pyproject.toml.tmpl"),
        "README.md": fill("README.md.tmpl"),
        f"{module}/__init__.py": fill("__init__.py.tmpl"),
        f"{module}/{name}.toml": spec,
        f"tests/test_{name}.py": fill("test_plugin.py.tmpl"),
    }
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
