"""Numba kernels that import numba and compile on their first call, not at import.

``import numba`` alone takes a few hundred ms (and pulls in scipy), so a module that merely
defines kernels — such as :mod:`calogeo.layout`, which every geometry needs — decorates them
with :func:`njit` from here instead of ``numba.njit``. The first call imports numba, builds the
dispatcher (``cache=True``: compiled machine code is reused across runs, see README) and puts it
in the module's namespace in place of the proxy, so later calls go straight to numba.

A lazy kernel may call other lazy kernels of its module: before compiling, every lazy kernel the
function names is turned into its dispatcher in the same namespace, so numba sees dispatchers.
A parallel kernel loops with :func:`prange` from here, which becomes ``numba.prange`` the same
way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["LazyKernel", "njit", "prange"]


def prange(*args: int) -> range:
    """``numba.prange`` for lazy kernels: ``range`` until a kernel naming it compiles."""
    return range(*args)


class LazyKernel:
    """A function to be compiled with ``numba.njit(**options)`` on first use."""

    def __init__(self, func: Callable[..., Any], options: dict[str, Any]) -> None:
        self.py_func = func
        self.options = options
        self._dispatcher: Any = None
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__doc__ = func.__doc__
        self.__module__ = func.__module__

    @property
    def dispatcher(self) -> Any:
        """The numba dispatcher (imports numba the first time)."""
        if self._dispatcher is None:
            import numba

            namespace = self.py_func.__globals__
            for name in self.py_func.__code__.co_names:
                called = namespace.get(name)
                if isinstance(called, LazyKernel) and called is not self:
                    namespace[name] = called.dispatcher
                elif called is prange:
                    namespace[name] = numba.prange
            self._dispatcher = numba.njit(**self.options)(self.py_func)
            if namespace.get(self.__name__) is self:
                namespace[self.__name__] = self._dispatcher
        return self._dispatcher

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.dispatcher(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dispatcher, name)

    def __repr__(self) -> str:
        return f"<lazy numba kernel {self.__module__}.{self.__qualname__}>"


def njit(
    func: Callable[..., Any] | None = None, **options: Any
) -> Any:  # LazyKernel or a decorator making one
    """``numba.njit`` that imports numba and compiles at the first call; ``cache=True`` by
    default. Use as ``@njit`` or ``@njit(parallel=True, ...)``."""
    options = {"cache": True, **options}
    if func is None:
        return lambda f: LazyKernel(f, options)
    return LazyKernel(func, options)
