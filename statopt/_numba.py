"""The single place where numba is configured for statopt.

Every kernel in the package is decorated with :func:`njit` from this module so that
the compilation options stay consistent:

- ``cache=True``: compiled machine code is written next to the sources (or to
  numba's per-user cache folder when the sources are read-only) and reused by later
  processes, so only the first call after installation pays for compilation. Where no
  cache folder is writable at all (a read-only install run by a user without a
  writable home), numba refuses ``cache=True`` at import; the kernels are then
  compiled without a cache, once per process, rather than failing the import.
- lazy compilation (no explicit signatures): signatures add import time, and inputs
  are validated to C-contiguous ``float64`` before they reach a kernel, so each
  kernel compiles once.
- no ``fastmath``: it lets LLVM assume there is no NaN or inf, which silently breaks
  ``np.isnan`` and the weighting code that relies on infinities.

Setting the environment variable ``NUMBA_DISABLE_JIT=1`` runs every kernel as plain
Python, which the test suite supports so that kernels are covered and debuggable.
"""

import numba
import numpy as np

__all__ = ["kernel_input", "njit"]


def kernel_input(array, dtype=np.float64):
    """``array`` as a C-contiguous, read-only array of ``dtype`` for a kernel.

    Every array that a kernel only reads reaches it with the same type (numba
    compiles once per dtype, layout and writeable flag): a read-only view of a
    writeable array costs nothing, and a read-only input needs no copy.
    """
    view = np.ascontiguousarray(array, dtype=dtype).view()
    view.flags.writeable = False
    return view


def njit(function=None, **options):
    """Compile ``function`` with statopt's numba options.

    Usable bare (``@njit``) or with extra options (``@njit(inline="always")``);
    ``cache`` defaults to True and ``fastmath`` is refused.
    """
    if options.get("fastmath"):
        raise ValueError("statopt kernels must not use fastmath (it breaks NaN checks)")
    options.setdefault("cache", True)

    def decorate(func):
        try:
            return numba.njit(**options)(func)
        except RuntimeError as error:
            # numba raises this when it finds no writable folder for the cache.
            if not options.get("cache") or "no locator available" not in str(error):
                raise
            return numba.njit(**{**options, "cache": False})(func)

    if function is None:
        return decorate
    return decorate(function)
