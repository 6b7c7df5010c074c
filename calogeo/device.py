"""Choosing a torch device from ``"cpu"``, ``"cuda"`` or ``"auto"``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from calogeo.errors import CalogeoError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICE_CHOICES", "resolve_device"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The torch device for ``device``: ``"auto"`` takes CUDA when available, else the CPU.

    Asking for ``"cuda"`` on a machine without a usable GPU raises a CalogeoError.
    """
    import torch

    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        msg = f"--device {device}: no CUDA device is available (use --device cpu or auto)"
        raise CalogeoError(msg)
    try:
        return torch.device(device)
    except RuntimeError as exc:
        msg = f"--device {device!r}: expected one of {', '.join(DEVICE_CHOICES)}"
        raise CalogeoError(msg) from exc
