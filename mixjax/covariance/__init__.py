"""Covariance structures of a random-effects term: theta -> relative covariance factor T (protocol in ``base``)."""
from __future__ import annotations

import numpy as np

from .ar1 import AR1
from .base import Covariance
from .blocked import BlockDiagonal
from .compound import CompoundSymmetry
from .diagonal import Diagonal, HomogeneousDiagonal
from .held import Held
from .known import Known
from .pattern import Pattern
from .relationship import relationship_factor
from .toeplitz import Toeplitz
from .unstructured import Unstructured

__all__ = ["AR1", "BlockDiagonal", "CompoundSymmetry", "Covariance", "Diagonal", "Held", "HomogeneousDiagonal", "Known", "Pattern", "relationship_factor",
           "Toeplitz", "Unstructured", "structure"]

_BUILDERS = {
    "us": Unstructured, "unstructured": Unstructured,
    "diag": Diagonal, "diagonal": Diagonal, "independent": Diagonal,
    "homdiag": HomogeneousDiagonal, "identity": HomogeneousDiagonal,
    "cs": CompoundSymmetry, "homcs": lambda k: CompoundSymmetry(k, homogeneous=True),
    "exchangeable": lambda k: CompoundSymmetry(k, homogeneous=True),
    "ar1": AR1, "toep": Toeplitz, "toeplitz": Toeplitz,
    "fixed": Known, "pattern": Pattern,
}
_AT_LEAST_TWO = {"cs", "homcs", "exchangeable", "ar1", "toep", "toeplitz"}
_MATRIX = {"fixed", "pattern"}


def structure(name, k: int, matrix=None) -> Covariance:
    """The covariance structure ``name`` (case-insensitive; see ``_BUILDERS``) of a term with ``k`` columns;
    ``matrix``: the k x k ``M`` of ``fixed`` and ``pattern``. An already-built structure is returned as it is
    (its ``k`` must be the term's). Raises ValueError for an unknown name or a shape the structure cannot have."""
    if not isinstance(name, str):
        if not isinstance(name, Covariance):
            raise TypeError(f"a covariance structure is a name or a Covariance object, got {type(name).__name__}")
        if name.k != k:
            raise ValueError(f"the covariance structure {name!r} has {name.k} columns but the term has {k}")
        return name
    key = name.lower()
    if key not in _BUILDERS:
        raise ValueError(f"unknown covariance structure {name!r}; known: {', '.join(_BUILDERS)}")
    if key in _AT_LEAST_TWO and k < 2:
        raise ValueError(f"{key}(...) needs a term with at least 2 columns, such as {key}(0 + factor(time) | subject);"
                         f" this term has {k}")
    if key not in _MATRIX:
        return _BUILDERS[key](k)
    if matrix is None:
        raise ValueError(f"{key}(...) needs a {k} x {k} matrix M, one row and column per column of the term")
    shape = np.shape(matrix)
    if shape != (k, k):
        raise ValueError(f"{key}(M) with M of shape {shape} needs a term with {shape[0] if shape else 0} columns and a"
                         f" square M; the term has {k} columns, so M must be {k} x {k}")
    return _BUILDERS[key](matrix)
