"""Test-suite settings: hypothesis profiles and the ``properties`` marker.

Every property-based (hypothesis) test is marked ``properties``, so CI can run them
again with ``NUMBA_DISABLE_JIT=1``: compiled kernels do no bounds checks, and the
same inputs through the plain-Python kernels turn a silent out-of-bounds read into
an IndexError.
"""

import os

import pytest
from hypothesis import settings

# Examples are derived from each test's name (CI never fails on a new random draw);
# plain-Python kernels are slow, so no per-example deadline.
settings.register_profile("statopt", derandomize=True, deadline=None,
                          print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "statopt"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "properties: property-based test (hypothesis); CI also runs "
        "these with NUMBA_DISABLE_JIT=1")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if getattr(getattr(item, "obj", None), "is_hypothesis_test", False):
            item.add_marker(pytest.mark.properties)
