"""Memory a command may use, and refusing work known not to fit before allocating it."""

from __future__ import annotations

import os
import resource
from pathlib import Path

from calogeo.errors import CalogeoError

__all__ = ["available_memory_bytes", "check_memory", "format_bytes"]


def _read_int(path: str, key: str | None = None) -> int | None:
    """An integer from a /proc or cgroup file (``key``: the line of a ``key: value kB`` table,
    in bytes); None where it cannot be read."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    if key is None:
        value = text.strip()
        return int(value) if value.isdigit() else None
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            parts = line.split()
            scale = 1024 if len(parts) > 2 and parts[2] == "kB" else 1
            return int(parts[1]) * scale
    return None


def available_memory_bytes() -> int | None:
    """Bytes this process can still allocate: the least of the memory the kernel reports
    available, the room left under a cgroup limit and under the address-space limit
    (``ulimit -v``); None where none of them can be read."""
    limits = []
    meminfo = _read_int("/proc/meminfo", "MemAvailable")
    if meminfo is not None:
        limits.append(meminfo)
    cgroup_max = _read_int("/sys/fs/cgroup/memory.max")
    cgroup_now = _read_int("/sys/fs/cgroup/memory.current")
    if cgroup_max is not None and cgroup_now is not None:
        limits.append(max(cgroup_max - cgroup_now, 0))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        used = _read_int(f"/proc/{os.getpid()}/status", "VmSize") or 0
        limits.append(max(soft - used, 0))
    return min(limits) if limits else None


def format_bytes(n: float) -> str:
    """``n`` bytes in readable units (``1.5 GB``)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def check_memory(need_bytes: float, what: str, hint: str = "") -> None:
    """Raise a CalogeoError if ``need_bytes`` (a lower bound of what ``what`` will allocate)
    exceeds :func:`available_memory_bytes`; ``hint`` says how to need less."""
    available = available_memory_bytes()
    if available is None or need_bytes <= available:
        return
    msg = (
        f"{what} needs at least {format_bytes(need_bytes)} of memory, but only "
        f"{format_bytes(available)} is available{f'; {hint}' if hint else ''}"
    )
    raise CalogeoError(msg)
