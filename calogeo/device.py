"""Choosing a torch device from ``"cpu"``, ``"cuda"`` or ``"auto"``, and keeping numpy's
BLAS threads out of torch's way."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from calogeo.errors import CalogeoError

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICE_CHOICES", "resolve_device", "torch_owns_the_cores"]

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


def torch_owns_the_cores() -> AbstractContextManager[Any]:
    """A context in which numpy's BLAS runs on one thread, leaving the cores to torch.

    Between torch steps the input pipeline makes small numpy matrix products (barycentres,
    calibrations); OpenBLAS worker threads then spin-wait on the cores torch's threads need.
    On 2 cores that made 3D CNN training 2.5x slower (10.9 s -> 4.3 s for 3 epochs).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")
