"""The hypotheses of F tests of fixed-effect terms, as lmerTest's ``anova(m, type = 1 | 3)`` builds them.

Type I (sequential): the rows of the unit-diagonal upper factor of ``X'X`` (its Doolittle factorization), grouped
by term. Type III (marginal, SAS's): lmerTest's ``extract_contrasts_type3`` for treatment coding, formulaic's
default: the full (over-parameterized) coding ``rdX`` of every term is mapped onto the coefficients, ``L =
(X^+ rdX)'``; then, from the highest order down, each term's columns of ``L`` are made orthogonal to those of the
terms that contain it (same numeric variables, more factors); the term's hypothesis is its columns of ``L`` on the
rows of ``rdX`` that are columns of ``X``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from formulaic import model_matrix

__all__ = ["term_columns", "type1", "type3"]


def _terms(design) -> list:
    """formulaic's terms of the fixed part (the intercept included)."""
    spec = design.fixed_spec
    return list(spec.formula.rhs if hasattr(spec.formula, "rhs") else spec.formula)


def term_columns(design) -> dict[str, list[int]]:
    """Term label (``sex:schgend``) -> indices of its columns in ``X``, without the intercept and without terms
    whose columns were all dropped as aliased."""
    spec, names = design.fixed_spec, list(design.xnames)
    out = {}
    if hasattr(spec, "term_indices"):
        all_names = list(spec.column_names)
        for term, idx in spec.term_indices.items():
            cols = [names.index(all_names[i]) for i in idx if all_names[i] in names]
            if str(term) != "1" and cols:
                out[str(term)] = cols
    else:  # a plain matrix: one column per term
        out = {n: [i] for i, n in enumerate(names) if n != "Intercept"}
    return out


def type1(design) -> dict[str, np.ndarray]:
    """Sequential hypotheses, one matrix (rows: the term's columns) per term."""
    X = design.X
    R = np.linalg.cholesky(X.T @ X).T
    U = R / np.diag(R)[:, None]  # Doolittle's unit-diagonal upper factor
    U[np.abs(U) < 1e-6] = 0.0
    return {t: U[cols] for t, cols in term_columns(design).items()}


def _numerics(term, frame: pd.DataFrame) -> set:
    return {str(f) for f in term.factors if str(f) in frame and not _categorical(frame[str(f)])}


def _categorical(column: pd.Series) -> bool:
    return isinstance(column.dtype, pd.CategoricalDtype) or column.dtype.kind in "OSUb"


def type3(design) -> dict[str, np.ndarray]:
    """Marginal hypotheses (lmerTest's type III for treatment contrasts), one matrix per term."""
    frame, X = design.frame, design.X
    columns = term_columns(design)
    terms = {str(t): t for t in _terms(design) if str(t) in columns}
    if len(terms) <= 1:
        return type1(design)
    blocks = [np.ones((len(frame), 1))] + [np.asarray(model_matrix(f"0 + {name}", frame), dtype=float)
                                           for name in terms]
    rdX = np.hstack(blocks)
    L = np.linalg.pinv(X) @ rdX  # (p, r): column j of rdX in X's coefficients; lmerTest's t(L)
    L[np.abs(L) < 1e-12] = 0.0
    rows = [int(np.flatnonzero(np.all(np.isclose(rdX, X[:, [j]]), axis=0))[0]) for j in range(X.shape[1])]
    factors = {name: {str(f) for f in t.factors} for name, t in terms.items()}
    numerics = {name: _numerics(t, frame) for name, t in terms.items()}
    for name in sorted(terms, key=lambda n: -len(factors[n])):
        contains = [o for o in terms if factors[name] < factors[o] and numerics[name] == numerics[o]]
        if contains:
            A = L[np.concatenate([columns[o] for o in contains])].T  # (r, m)
            y = L[columns[name]].T
            L[columns[name]] = (y - A @ np.linalg.lstsq(A, y, rcond=None)[0]).T
    L[np.abs(L) < 1e-12] = 0.0
    out = {}
    for name in terms:
        H = L[columns[name]][:, rows]
        out[name] = H[np.sum(np.abs(H), axis=1) > 1e-8]
    return out
