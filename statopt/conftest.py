"""Doctest collection for the package: loader examples need the real data sets."""

import pytest

from statopt.datasets import get_data_home

# Doctests that read a data set, with the folder each one needs.
DATA_DOCTESTS = {
    "load_mnist_0_vs_6": "mnist5k",
    "load_lung200": "lung200",
    "load_wikipedia_crossmodal": "wikipedia_crossmodal",
}


def pytest_collection_modifyitems(config, items):
    """Skip, with the reason, a loader's doctest when its data folder is absent."""
    for item in items:
        if not isinstance(item, pytest.DoctestItem):
            continue
        folder = DATA_DOCTESTS.get(item.name.rsplit(".", 1)[-1])
        if folder and not (get_data_home() / folder).is_dir():
            item.add_marker(pytest.mark.skip(
                reason=f"{get_data_home() / folder} is absent (set STATOPT_DATA_HOME)"))
