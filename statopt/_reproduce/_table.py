"""Plain-text tables and run information for the reproductions."""

import platform

import numpy as np
import threadpoolctl


def format_table(header, rows):
    """Align ``rows`` (lists of str) under ``header`` in fixed-width columns."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).rjust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def thread_settings():
    """One line naming the BLAS libraries and their thread counts."""
    pools = threadpoolctl.threadpool_info()
    blas = ", ".join(f"{p['internal_api']} {p['num_threads']} thread(s)" for p in pools)
    return (f"Python {platform.python_version()}, numpy {np.__version__}; "
            f"thread pools: {blas or 'none'}")


def fmt(value, pattern="{:.3g}"):
    """Format a number, or return a dash for None/NaN."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return pattern.format(value)
