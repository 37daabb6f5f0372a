"""nlme's degrees of freedom for the t tests of an ``lme`` fit (``nlme:::getFixDF``, the "containment" rule).

Grouping levels are nested, outermost first, with the residual level innermost. A fixed-effect column is
estimated at the innermost level within whose groups it varies (the residual level if it varies within the
innermost groups; the outermost level if it is constant within them all). Each level has ``groups at it - groups
at the next outer level`` degrees of freedom (the residual level ``n - innermost groups``), less one per column
estimated there, less one at the outermost level for the intercept; an intercept (a constant column) gets the
largest of them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["fixed_df", "nested_levels"]


def _varies_within(x: np.ndarray, codes: np.ndarray) -> bool:
    s = pd.Series(x).groupby(codes)
    return bool((s.max() - s.min() > 1e-8 * max(1.0, float(np.max(np.abs(x))))).any())


def fixed_df(X: np.ndarray, levels: list[np.ndarray]) -> np.ndarray:
    """Per column of ``X`` (n, p) its df; ``levels``: group codes (n,) per grouping level, outermost first."""
    n, p = X.shape
    ngroups = [len(np.unique(c)) for c in levels]
    df = np.array(ngroups + [n], dtype=float) - np.array([0] + ngroups, dtype=float)
    const = np.array([np.allclose(X[:, j], X[0, j]) for j in range(p)])
    stratum = np.zeros(p, dtype=int)
    for j in np.flatnonzero(~const):
        stratum[j] = max([0] + [q + 1 for q, codes in enumerate(levels) if _varies_within(X[:, j], codes)])
    for j in np.flatnonzero(~const):
        df[stratum[j]] -= 1
    if const.any():
        df[0] -= 1
    else:
        df[1:] += 1
    out = np.where(const, df.max(), df[stratum])
    return out


def nested_levels(fit) -> list[np.ndarray]:
    """The fit's grouping factors as nested levels, outermost first; ValueError where they are crossed."""
    terms = {t.factor: t.codes for t in fit.design.terms}
    ordered = sorted(terms.items(), key=lambda kv: len(np.unique(kv[1])))
    for (outer, a), (inner, b) in zip(ordered, ordered[1:]):
        if (pd.Series(a).groupby(b).nunique() > 1).any():
            raise ValueError(f"nlme's degrees of freedom need nested grouping factors, but {inner!r} is not nested in "
                             f"{outer!r}; use ddf='satterthwaite' or 'kenward-roger'.")
    return [codes for _, codes in ordered]
