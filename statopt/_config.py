"""Package-wide settings: ``set_config``, ``get_config``, ``config_context``.

One setting today, ``blas_threads``: how many threads BLAS may use inside every
fit. ``set_config`` changes the process's default (seen by every thread);
``config_context`` overrides it in the calling thread only, until the block ends,
so that concurrent threads can hold different settings without racing.
"""

import threading
from contextlib import contextmanager
from numbers import Integral

# The policy, decided from benchmarks/bench_threads.py on the 2-core development
# machine: a second BLAS thread never sped up a tall-thin or small-square product
# by more than a few percent and slowed several down many times over.
_DEFAULTS = {"blas_threads": 1}

_lock = threading.Lock()
_process_config = dict(_DEFAULTS)
_local = threading.local()
_UNCHANGED = object()


def _check_blas_threads(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError("blas_threads should be None (leave the process's BLAS "
                         f"threads alone) or an int >= 1; got {value!r}.")
    return int(value)


def get_config():
    """The settings in force in the calling thread.

    Returns
    -------
    config : dict
        ``{'blas_threads': None or int}``: a copy; change it with
        :func:`set_config` or :func:`config_context`.

    Examples
    --------
    >>> import statopt
    >>> statopt.get_config()["blas_threads"]
    1
    """
    with _lock:
        config = dict(_process_config)
    for overrides in getattr(_local, "overrides", []):
        config.update(overrides)
    return config


def set_config(blas_threads=_UNCHANGED):
    """Change statopt's settings for the whole process.

    Parameters
    ----------
    blas_threads : int or None, default=1 at import
        Number of BLAS threads every fit runs with (through threadpoolctl,
        restored when the fit returns). 1, the default, suits the products the
        estimators are made of (see the User Guide, "Threads"); None leaves the
        process's setting alone (threadpoolctl limits set by the caller, or
        ``OPENBLAS_NUM_THREADS``). Omitted: unchanged.

    Notes
    -----
    A :func:`config_context` block in progress keeps its own value in its thread.
    The setting lives in this process: joblib's process-based workers (loky,
    Dask) start from the default; set it there, or limit their threads with
    threadpoolctl, which they respect under ``blas_threads=None``.

    Examples
    --------
    >>> import statopt
    >>> statopt.set_config(blas_threads=2)
    >>> statopt.get_config()["blas_threads"]
    2
    >>> statopt.set_config(blas_threads=1)
    """
    if blas_threads is not _UNCHANGED:
        value = _check_blas_threads(blas_threads)
        with _lock:
            _process_config["blas_threads"] = value


@contextmanager
def config_context(*, blas_threads=_UNCHANGED):
    """Override statopt's settings in the calling thread within a ``with`` block.

    Parameters
    ----------
    blas_threads : int or None
        As in :func:`set_config`. Omitted: unchanged.

    Examples
    --------
    >>> import statopt
    >>> with statopt.config_context(blas_threads=None):
    ...     statopt.get_config()["blas_threads"] is None
    True
    """
    overrides = {}
    if blas_threads is not _UNCHANGED:
        overrides["blas_threads"] = _check_blas_threads(blas_threads)
    if not hasattr(_local, "overrides"):
        _local.overrides = []
    _local.overrides.append(overrides)
    try:
        yield
    finally:
        _local.overrides.pop()
