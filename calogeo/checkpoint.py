"""Model checkpoint files: one ``torch.save`` of a dict, readable with ``weights_only=True``.

Layout::

    format="calogeo-model", format_version=1, calogeo_version, model (registered name),
    hparams (dict), geometry_name, geometry_spec (TOML text), state (model weights: tensors,
    numbers, strings or bytes), normalisation (dict), history (list of per-epoch dicts)

Generative models add ``training`` (every network's and optimiser's state, the epoch and the
random state) so a run can be resumed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calogeo._version import __version__
from calogeo.errors import CalogeoError

if TYPE_CHECKING:
    from calogeo.model import Model

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "check_writable",
    "load_model",
    "read_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "calogeo-model"
CHECKPOINT_VERSION = 1


def save_checkpoint(checkpoint: Mapping[str, Any], path: str | Path) -> Path:
    """``torch.save`` ``checkpoint`` to ``path`` through a temporary file and a rename; a path
    that cannot be written is a one-line CalogeoError."""
    import torch

    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(dict(checkpoint), tmp)
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:  # torch reports a failed write as a RuntimeError
        tmp.unlink(missing_ok=True)
        raise _write_error(path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_writable(path: str | Path) -> None:
    """Raise a one-line CalogeoError now if a checkpoint cannot be written at ``path`` (a
    directory, a read-only or missing place), so training does not run for nothing."""
    path = Path(path)
    probe = path.with_name(f".{path.name}.probe-{os.getpid()}")
    try:
        if path.is_dir():
            raise IsADirectoryError(21, "it is a directory")
        for folder in (path.parent, *path.parent.parents):
            if folder.exists() and not folder.is_dir():
                raise NotADirectoryError(20, f"{folder} is not a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
    except OSError as exc:
        raise _write_error(path, exc) from exc
    finally:
        try:
            probe.unlink(missing_ok=True)
        except OSError:
            pass


def _write_error(path: Path, exc: Exception) -> CalogeoError:
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
    else:  # torch's stream writer: "... file write failed" after a C++ location
        reason = "file write failed (disk full or file too large?)"
    return CalogeoError(f"{path}: cannot write the checkpoint: {reason}")


def _first_sentence(text: str) -> str:
    """An exception's text as one clean line: terminal escape codes removed, the first
    sentence of the first line (no cut in mid-word)."""
    text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).strip()
    line = text.splitlines()[0] if text else ""
    return re.split(r"(?<=\.)\s", line, maxsplit=1)[0]


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict at ``path``; a file that is not a calogeo checkpoint raises."""
    import torch

    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such model checkpoint"
        raise CalogeoError(msg)
    try:
        # bytes: calogeo <= 0.1 wrote b"" for a BDT's absent estimator, which pickles as bytes()
        with torch.serialization.safe_globals([bytes]):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load fails in many ways on a file that is not its own
        detail = _first_sentence(str(exc))
        msg = f"{path}: not a calogeo model checkpoint ({type(exc).__name__}: {detail})"
        raise CalogeoError(msg) from exc
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        msg = f"{path}: not a calogeo model checkpoint (no format={CHECKPOINT_FORMAT!r} entry)"
        raise CalogeoError(msg)
    if int(checkpoint.get("format_version", 0)) > CHECKPOINT_VERSION:
        msg = (
            f"{path}: checkpoint format version {checkpoint['format_version']} is newer than "
            f"this calogeo ({__version__}) reads; upgrade calogeo"
        )
        raise CalogeoError(msg)
    return checkpoint


def load_model(path: str | Path) -> Model:
    """The model saved at ``path``, rebuilt on the geometry stored in the checkpoint.

    The model class is looked up by name in the registry, so its plugin must be installed.
    """
    from calogeo.registry import get_model
    from calogeo.spec import geometry_from_spec

    checkpoint = read_checkpoint(path)
    cls = get_model(str(checkpoint["model"]))
    geometry = geometry_from_spec(
        checkpoint["geometry_spec"], source=f"{path} (geometry {checkpoint['geometry_name']})"
    )
    return cls.from_checkpoint(checkpoint, geometry)
