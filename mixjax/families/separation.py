"""Complete separation in binomial data: a fixed-effect column that alone predicts the outcome perfectly, so
that its maximum-likelihood estimate is infinite."""
from __future__ import annotations

import numpy as np

__all__ = ["separated_columns"]


def separated_columns(X: np.ndarray, names, successes: np.ndarray, trials: np.ndarray) -> list[str]:
    """Columns (not constant) along which every all-failure row lies below (or above) every all-success row,
    counting partial rows (some successes, some failures) as both; an indicator separates when the rows where it
    is non-zero are all failures or all successes."""
    fail = successes < trials  # rows with at least one failure
    succ = successes > 0  # rows with at least one success
    out = []
    for j, name in enumerate(names):
        x = X[:, j]
        if np.ptp(x) == 0:
            continue
        if np.all(np.isin(x, (0.0, 1.0))):
            on = x == 1.0
            if on.any() and (not succ[on].any() or not fail[on].any()):
                out.append(name)
            continue
        if not fail.any() or not succ.any():
            continue
        if x[fail].max() < x[succ].min() or x[succ].max() < x[fail].min():
            out.append(name)
    return out
