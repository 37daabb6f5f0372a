"""A known covariance over the levels of a grouping factor: a relationship (kinship, genomic relationship)
matrix ``K``, as pedigreemm and lme4qtl fit ``(1 | animal)`` with ``relmat = list(animal = K)``.

The term's effects over the levels are ``b = (L kron T) v`` with ``K = L L'`` (lower Cholesky factor) and ``v ~
N(0, s^2 I)``: covariance ``s^2 K kron T T'``. The fit uses ``K``'s rows and columns of the levels in the data (the
levels without records integrate out exactly). ``relationship_factor`` checks ``K`` and returns ``L``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["relationship_factor"]


def relationship_factor(K, levels: tuple[str, ...], group: str) -> np.ndarray:
    """``L`` (n_levels x n_levels, lower triangular, ``L L' = K[levels, levels]``) for the grouping factor
    ``group``; ``K`` a DataFrame whose index and columns are labels of the factor's levels (more labels are fine).
    A ``ValueError`` that says what to fix otherwise."""
    where = f"relmat[{group!r}]"
    if not isinstance(K, pd.DataFrame):
        raise ValueError(f"{where} must be a pandas DataFrame whose index and columns are the levels of {group!r} "
                         f"(as R's dimnames), got {type(K).__name__}.")
    index, columns = K.index.astype(str), K.columns.astype(str)
    if len(index) != len(columns) or not (index == columns).all():
        raise ValueError(f"{where} must be square with the same labels, in the same order, on its index and "
                         "columns.")
    if index.has_duplicates:
        raise ValueError(f"{where} has repeated labels: {', '.join(index[index.duplicated()][:5])}.")
    missing = [lev for lev in levels if lev not in set(index)]
    if missing:
        raise ValueError(f"{where} has no row for {len(missing)} level(s) of {group!r} in the data: "
                         f"{', '.join(map(repr, missing[:5]))}{' ...' if len(missing) > 5 else ''}. Give a matrix "
                         "over every level (more levels are fine).")
    try:
        values = K.to_numpy(dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must hold numbers.") from None
    pos = index.get_indexer(list(levels))
    M = values[np.ix_(pos, pos)]
    if not np.all(np.isfinite(M)):
        raise ValueError(f"{where} has missing or infinite entries among the levels in the data.")
    if not np.allclose(M, M.T, rtol=1e-8, atol=1e-12):
        raise ValueError(f"{where} is not symmetric.")
    try:
        return np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        raise ValueError(f"{where} is not positive definite over the levels in the data (smallest eigenvalue "
                         f"{np.linalg.eigvalsh(M)[0]:.3g}); add a small multiple of the identity (e.g. 0.01 I) or "
                         "remove the linearly dependent rows (identical twins, clones).") from None
