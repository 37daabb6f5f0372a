"""A patterned covariance (Stata ``pattern(M)``): ``M`` is a k x k symmetric integer matrix; entries with equal
integers are equal parameters (variances on the diagonal, covariances off it). An integer may label variances or
covariances, not both.

``theta``: one relative SD (lower bound 0, start 1) per distinct diagonal integer, then one relative covariance
(unbounded, start 0) per distinct off-diagonal integer, each in increasing order of the integers. ``C`` (the
variances ``sd^2`` and covariances placed by ``M``) is ``T T'`` for ``T`` its Cholesky factor, computed column by
column. A box of such parameters also holds matrices that are not positive semi-definite: there ``T`` is NaN,
which the optimizers treat as an infinite deviance (a rejected step). A zero SD whose row has only zero
covariances gives a zero row of ``T`` (finite, as every structure's at ``SD = 0``).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["Pattern"]


@dataclass(frozen=True)
class Pattern:
    matrix: tuple

    def __post_init__(self):
        M = np.asarray(self.matrix)
        if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
            raise ValueError(f"Pattern needs a square k x k matrix, got shape {M.shape}")
        if not (np.issubdtype(M.dtype, np.number) and np.all(M == np.round(M))):
            raise ValueError("Pattern needs a matrix of integers")
        if not np.array_equal(M, M.T):
            raise ValueError("Pattern needs a symmetric matrix")
        M = M.astype(int)
        if set(np.diag(M)) & set(M[~np.eye(len(M), dtype=bool)]):
            raise ValueError("Pattern: an integer labels either variances (diagonal) or covariances, not both")
        object.__setattr__(self, "matrix", tuple(tuple(int(v) for v in row) for row in M))

    @property
    def k(self) -> int:
        return len(self.matrix)

    @property
    def labels(self) -> tuple[list[int], list[int]]:
        """(distinct diagonal integers, distinct off-diagonal integers), each sorted: theta's order."""
        M = np.array(self.matrix)
        return sorted(set(np.diag(M).tolist())), sorted(set(M[np.tril_indices(self.k, -1)].tolist()))

    @property
    def n_theta(self) -> int:
        return sum(map(len, self.labels))

    def lower(self) -> np.ndarray:
        sds, covs = self.labels
        return np.r_[np.zeros(len(sds)), np.full(len(covs), -np.inf)]

    def start(self) -> np.ndarray:
        sds, covs = self.labels
        return np.r_[np.ones(len(sds)), np.zeros(len(covs))]

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        sds, covs = self.labels
        return [f"{group}.sd_{m}" for m in sds] + [f"{group}.cov_{m}" for m in covs]

    def factor(self, theta_t):
        """theta_t -> T (k, k), lower triangular with T T' = C; NaN where C is not positive semi-definite."""
        theta_t = jnp.asarray(theta_t)
        sds, covs = self.labels
        where = {m: n for n, m in enumerate(sds + covs)}

        def entry(i, j):
            return theta_t[where[self.matrix[i][j]]]

        k, zero = self.k, jnp.zeros((), theta_t.dtype)
        L = [[zero] * k for _ in range(k)]
        for j in range(k):
            sd, s = entry(j, j), sum((L[j][m] ** 2 for m in range(j)), zero)
            degenerate = (sd == 0) & (s == 0)
            L[j][j] = jnp.where(degenerate, sd, jnp.sqrt(jnp.where(degenerate, 1.0, sd * sd - s)))
            null = L[j][j] == 0
            for i in range(j + 1, k):
                num = entry(i, j) - sum((L[i][m] * L[j][m] for m in range(j)), zero)
                L[i][j] = jnp.where(null, jnp.where(num == 0, 0.0, jnp.nan), num / jnp.where(null, 1.0, L[j][j]))
        return jnp.stack([jnp.stack(row) for row in L])

    def reflect_zero_columns(self, theta_t, grad_t) -> None:
        return None

    def natural(self, theta_t) -> dict[str, float]:
        """``sd_<m>`` per diagonal integer ``m``, then ``cov_<m>`` per off-diagonal one (relative covariances)."""
        sds, covs = self.labels
        keys = [f"sd_{m}" for m in sds] + [f"cov_{m}" for m in covs]
        return {key: float(v) for key, v in zip(keys, np.asarray(theta_t, dtype=float))}
