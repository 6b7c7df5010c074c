"""Atomic outputs: checked before any work, written under a temporary name, renamed when done.

Every command that writes a file goes through :func:`check_output` before it starts (refusing a
directory where a file goes, a folder it cannot write in, and any of its own inputs, spec files
included) and writes through :class:`AtomicOutput`: the data goes to
``<name>.partial-<pid>`` beside the target, which is renamed onto the target only when the
writer finishes without error. Partial files of this process are tracked, so an error, Ctrl-C,
SIGTERM or SIGHUP removes them (:func:`remove_partials`, called by the command line on every
exit), and a partial file whose process is gone (killed with SIGKILL, a power cut) is
recognised and removed by the next writer of the same target (:func:`remove_stale_partials`).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from calogeo.errors import CalogeoError, ShowerFileError

__all__ = [
    "AtomicOutput",
    "check_output",
    "is_disk_full",
    "os_error_reason",
    "partial_path",
    "pid_alive",
    "remove_partials",
    "remove_stale_partials",
]

_PARTIAL = re.compile(r"^\.?(?P<name>.+)\.partial-(?P<pid>\d+)(?P<suffix>\.[A-Za-z0-9]+)?$")
"""Temporary names calogeo writes under: ``NAME.partial-PID`` (shower files),
``.NAME.partial-PID`` (checkpoints, JSON, staging folders), ``.STEM.partial-PIDSUFFIX``
(figures, caches)."""

_live: set[Path] = set()  # partial files and folders this process is writing
_live_lock = threading.Lock()


def partial_path(path: str | Path) -> Path:
    """The temporary name ``path`` is written under: ``<name>.partial-<pid>`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.name}.partial-{os.getpid()}")


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists (on this machine), even one owned by another user."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # e.g. a pid beyond the system's range
        return False
    return True


def _partial_of(entry: str, name: str) -> int | None:
    """The writer's pid if ``entry`` is one of calogeo's temporary names for ``name``."""
    match = _PARTIAL.match(entry)
    if match is None:
        return None
    stem, suffix = match["name"], match["suffix"] or ""
    if stem == name or stem + suffix == name:
        return int(match["pid"])
    return None


def remove_stale_partials(path: str | Path) -> list[Path]:
    """Remove the partial files (or folders) of ``path`` left by processes that are gone;
    returns what was removed. Partial files of running processes are left alone."""
    path = Path(path)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent if str(path.parent) else "."))
    except OSError:
        return removed
    for entry in entries:
        pid = _partial_of(entry.name, path.name)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        stale = path.with_name(entry.name)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(stale)
            else:
                stale.unlink()
        except OSError:
            continue
        removed.append(stale)
    return removed


def _same_file(a: Path, b: Path) -> bool:
    """True if ``a`` would overwrite the existing file ``b`` (also through a link)."""
    try:
        if not b.is_file():
            return False
        return a.resolve() == b.resolve() or (a.exists() and a.samefile(b))
    except OSError:
        return False


def check_output(
    path: str | Path,
    inputs: Iterable[str | Path | None] = (),
    *,
    option: str = "-o",
    directory: bool = False,
) -> Path:
    """Refuse an output that cannot be written, before any work: a folder where a file goes
    (a file where a folder goes, with ``directory``), one of the command's ``inputs`` (read
    files, spec files), or a place without write permission. Removes stale partial files of
    ``path`` (see :func:`remove_stale_partials`). Returns ``path`` as a Path."""
    path = Path(path)
    where = f"{option} {path}" if option else str(path)
    if not path.name or path.name in (".", ".."):
        msg = f"{where}: not a file name"
        raise CalogeoError(msg)
    if path.is_dir() and not directory:
        msg = f"{where}: is a directory; give a file name"
        raise CalogeoError(msg)
    if directory and path.exists() and not path.is_dir():
        msg = f"{where}: exists and is not a directory"
        raise CalogeoError(msg)
    for source in inputs:
        if source is not None and _same_file(path, Path(source)):
            msg = f"{where}: would overwrite the input file {source} of this command"
            raise CalogeoError(msg)
    parent = path.parent if str(path.parent) else Path()
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        msg = f"{where}: {existing} is not a directory"
        raise CalogeoError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = f"{where}: cannot write in {existing} (permission denied)"
        raise CalogeoError(msg)
    if directory and path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        msg = f"{where}: cannot write in {path} (permission denied)"
        raise CalogeoError(msg)
    remove_stale_partials(path)
    return path


_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """True for a write that failed for want of space (a full disk, a quota, a file-size
    limit)."""
    return getattr(exc, "errno", None) in _FULL


def os_error_reason(exc: BaseException) -> str:
    """A short reason for an I/O failure: disk full and file-size limits spelled out."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOSPC or "No space left" in text:
        return "no space left on the device"
    if code == errno.EFBIG or "File too large" in text:
        return "file too large (disk quota or file-size limit reached)"
    if code == errno.EDQUOT or "quota exceeded" in text.lower():
        return "disk quota exceeded"
    if isinstance(code, int) and code > 0:
        return os.strerror(code)
    return " ".join(text.split()) or type(exc).__name__


def _track(path: Path) -> None:
    with _live_lock:
        _live.add(path)


def _untrack(path: Path) -> None:
    with _live_lock:
        _live.discard(path)


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def remove_partials() -> list[Path]:
    """Remove every partial file or folder this process is still writing (after an error,
    an interrupt or a termination signal); returns them."""
    with _live_lock:
        paths = sorted(_live)
        _live.clear()
    for path in paths:
        _remove(path)
    return paths


class AtomicOutput:
    """``with AtomicOutput(path) as tmp:`` write ``tmp``; it becomes ``path`` when the block
    ends without error and is removed otherwise (or by :func:`remove_partials` if the process
    is told to stop first). ``directory`` stages a folder whose files are moved into
    ``path`` (created if needed), so files already in ``path`` stay."""

    def __init__(
        self,
        path: str | Path,
        inputs: Iterable[str | Path | None] = (),
        *,
        directory: bool = False,
        option: str = "-o",
    ) -> None:
        self.path = Path(path)
        self.inputs = list(inputs)
        self.directory = directory
        self.option = option
        self.tmp = partial_path(self.path)
        if directory:
            self.tmp = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")

    def open(self) -> Path:
        """Check the target, make its folder and claim the temporary name; returns it."""
        check_output(self.path, self.inputs, option=self.option, directory=self.directory)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _remove(self.tmp)
            if self.directory:
                self.tmp.mkdir()
        except OSError as exc:
            msg = f"{self.path}: cannot create: {os_error_reason(exc)}"
            raise ShowerFileError(msg) from exc
        _track(self.tmp)
        return self.tmp

    def commit(self) -> None:
        """Move the finished temporary file (or the staged folder's files) onto the target."""
        try:
            if self.directory:
                self.path.mkdir(parents=True, exist_ok=True)
                for item in sorted(self.tmp.iterdir()):
                    item.replace(self.path / item.name)
                _remove(self.tmp)
            else:
                self.tmp.replace(self.path)
        except OSError as exc:
            self.discard()
            msg = f"{self.path}: cannot write: {os_error_reason(exc)}"
            raise ShowerFileError(msg) from exc
        _untrack(self.tmp)

    def discard(self) -> None:
        """Remove the temporary file or folder."""
        _remove(self.tmp)
        _untrack(self.tmp)

    def __enter__(self) -> Path:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
            return
        self.discard()
        if isinstance(exc, OSError) and is_disk_full(exc) and not isinstance(exc, CalogeoError):
            msg = f"{self.path}: cannot write: {os_error_reason(exc)}"
            raise ShowerFileError(msg) from exc

    def __repr__(self) -> str:
        return f"AtomicOutput({str(self.path)!r})"
