"""Loader of the Wikipedia image-text cross-modal retrieval benchmark."""

import hashlib
from pathlib import Path

import numpy as np
from scipy.io import loadmat
from sklearn.utils import Bunch

from ._loaders import _locate, get_data_home, unreadable_as_value_error

_FOLDER = Path("wikipedia_crossmodal")
_N_IMAGE, _N_TEXT, _N_CLASSES = 128, 10, 10

_DESCRIPTION = """\
Wikipedia image-text cross-modal retrieval benchmark (Rasiwasia et al., ACM MM
2010; features of Costa Pereira et al., TPAMI 2014): 2,866 image-text pairs
from Wikipedia featured articles in 10 unbalanced categories, split into 2,173
training and 693 test pairs. Image view: 128-word SIFT bag of visual words
(rows sum to 1). Text view: 10 LDA topic proportions. Protocol: each test item
of one modality queries all test items of the other, relevant = same category,
mean average precision over the whole ranking. No data licence was published;
cite both papers."""


def _verify_checksums(folder):
    """Compare the files against ``SHA256SUMS`` when the folder has one."""
    sums = folder / "SHA256SUMS"
    if not sums.is_file():
        return
    with unreadable_as_value_error(sums, "lines of a SHA256 digest and a file name"):
        lines = [line.split(maxsplit=1) for line in sums.read_text().splitlines()
                 if line.strip()]
    for fields in lines:
        if len(fields) != 2:
            raise ValueError(f"{sums} should hold lines of a SHA256 digest and a file "
                             f"name, got {' '.join(fields)!r}.")
        expected, name = fields
        path = folder / name.lstrip("*")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected.lower():
            raise ValueError(f"{path} does not match its SHA256 checksum in {sums}: "
                             "the file is corrupt or a different version.")


def _read_pairs(path, n_rows):
    """Categories 1..10 of a ``text_id <tab> image_id <tab> category`` list."""
    expected = "tab-separated lines text_id, image_id, category"
    with unreadable_as_value_error(path, expected):
        rows = [line.split("\t") for line in path.read_text().splitlines() if line]
    if len(rows) != n_rows or any(len(row) != 3 for row in rows):
        raise ValueError(f"{path} should hold {n_rows} {expected}, as many as the "
                         "feature rows.")
    with unreadable_as_value_error(path, expected):
        categories = np.array([int(row[2]) for row in rows], dtype=np.int64)
    if categories.min() < 1 or categories.max() > _N_CLASSES:
        raise ValueError(f"{path} has categories outside 1..{_N_CLASSES}.")
    return categories - 1


def load_wikipedia_crossmodal(data_home=None):
    """Load the Wikipedia image-text cross-modal retrieval benchmark.

    2,866 image-text pairs from Wikipedia featured articles, each in one of 10
    categories, with the standard split into 2,173 training and 693 test pairs
    (Rasiwasia et al., 2010; features as distributed by Costa Pereira et al.,
    2014). The two views sit side by side in ``X``: the 128-word SIFT bag of
    visual words of the image (rows sum to 1), then the 10 LDA topic
    proportions of the text. The files are under
    ``wikipedia_crossmodal/`` in ``data_home`` and are checked against its
    ``SHA256SUMS``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``wikipedia_crossmodal/``; see :func:`get_data_home`.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        X_train : ndarray of shape (2173, 138)
            Image features (columns 0-127) then text features (128-137).
        y_train : ndarray of shape (2173,)
            Category, 0 to 9 (an index into ``categories``).
        X_test : ndarray of shape (693, 138)
            The test pairs, laid out as ``X_train``.
        y_test : ndarray of shape (693,)
            Category of the test pairs.
        views : list of ndarray
            Column indices of each view in ``X``: ``[arange(128),
            arange(128, 138)]``.
        modalities : list of str
            ``['image', 'text']``, the name of each view.
        categories : list of str
            The 10 category names; label ``k`` is ``categories[k]``.
        description : str
            Origin of the data and the usual retrieval protocol.

    Raises
    ------
    FileNotFoundError
        When the files are not under ``data_home``.
    ValueError
        When a file does not match its checksum or the files disagree.

    References
    ----------
    N. Rasiwasia, J. Costa Pereira, E. Coviello, G. Doyle, G. R. G. Lanckriet,
    R. Levy and N. Vasconcelos, "A new approach to cross-modal multimedia
    retrieval", ACM Multimedia, 2010.

    J. Costa Pereira, E. Coviello, G. Doyle, N. Rasiwasia, G. R. G. Lanckriet,
    R. Levy and N. Vasconcelos, "On the role of correlation and abstraction in
    cross-modal multimedia retrieval", IEEE TPAMI 36(3), 2014.

    Examples
    --------
    >>> from statopt.datasets import load_wikipedia_crossmodal
    >>> data = load_wikipedia_crossmodal()
    >>> data.X_train.shape, data.X_test.shape
    ((2173, 138), (693, 138))
    >>> image, text = (data.X_test[:, view] for view in data.views)
    >>> data.categories[data.y_test[0]]
    'biology'
    """
    folder = get_data_home(data_home) / _FOLDER
    # Check every file first, so a partial copy fails with the clear message.
    for name in ("raw_features.mat", "categories.list",
                 "trainset_txt_img_cat.list", "testset_txt_img_cat.list"):
        _locate(data_home, _FOLDER / name)
    _verify_checksums(folder)
    features = folder / "raw_features.mat"

    X, y = {}, {}
    with unreadable_as_value_error(features, "a MATLAB file with I_tr, T_tr, I_te "
                                   "and T_te"):
        mat = loadmat(features)
        arrays = {name: np.asarray(mat[name], dtype=np.float64)
                  for name in ("I_tr", "T_tr", "I_te", "T_te")}
    for split, list_name in (("tr", "trainset"), ("te", "testset")):
        image, text = arrays[f"I_{split}"], arrays[f"T_{split}"]
        if image.ndim != 2 or text.ndim != 2:
            raise ValueError(f"{features} should hold 2-D I_{split} and T_{split}.")
        if (image.shape[1], text.shape[1]) != (_N_IMAGE, _N_TEXT) or (
            image.shape[0] != text.shape[0]
        ):
            raise ValueError(f"{features} should hold I_{split} (n x {_N_IMAGE}) "
                             f"and T_{split} (n x {_N_TEXT}), got {image.shape} "
                             f"and {text.shape}.")
        X[split] = np.hstack([image, text])
        y[split] = _read_pairs(folder / f"{list_name}_txt_img_cat.list",
                               image.shape[0])

    with unreadable_as_value_error(folder / "categories.list", "text"):
        categories = (folder / "categories.list").read_text().split()
    if len(categories) != _N_CLASSES:
        raise ValueError(f"{folder / 'categories.list'} should hold "
                         f"{_N_CLASSES} names, got {len(categories)}.")
    return Bunch(
        X_train=X["tr"],
        y_train=y["tr"],
        X_test=X["te"],
        y_test=y["te"],
        views=[np.arange(_N_IMAGE), np.arange(_N_IMAGE, _N_IMAGE + _N_TEXT)],
        modalities=["image", "text"],
        categories=categories,
        description=_DESCRIPTION,
    )
