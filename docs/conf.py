"""Sphinx configuration of statopt's documentation (builds offline)."""

import os
import sys
from pathlib import Path

import statopt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "statopt"
author = "the statopt developers"
copyright = "2026, the statopt developers"
release = statopt.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax 3 copied into the build (_static/mathjax), so the math renders
    # offline instead of staying raw LaTeX without the CDN.
    "sphinx-mathjax-offline",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

autosummary_generate = True
# Methods inherited from scikit-learn (score, set_*_request) refer to scikit-learn's
# own glossary, which an offline build cannot link: document ours only.
autodoc_default_options = {
    "members": True,
    # Methods our estimators inherit from statopt's own bases and mixins are ours.
    "inherited-members": "BaseEstimator, ClassifierMixin, RegressorMixin, "
    "TransformerMixin, ClassNamePrefixFeaturesOutMixin, LinearClassifierMixin, "
    "LinearModel, MultiOutputMixin, object",
    "exclude-members": "score, set_fit_request, set_partial_fit_request, "
    "set_score_request, set_transform_request, set_predict_request, set_params, "
    "get_params, get_metadata_routing, set_predict_proba_request, "
    "set_decision_function_request, set_output",
}
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
# Offline build: no inventories are fetched, references stay plain text.
intersphinx_mapping = {}
nitpicky = False

templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.md5",
    "sg_execution_times.rst",
]

html_theme = "pydata_sphinx_theme"
html_title = f"statopt {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
}
html_static_path = []

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}

suppress_warnings = ["config.cache"]
