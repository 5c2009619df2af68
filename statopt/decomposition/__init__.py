"""Sparse matrix decompositions: FIT-SSVD."""

from ._fitssvd import FITSSVD, sparse_svd

__all__ = ["FITSSVD", "sparse_svd"]
