"""Unstructured (general positive semi-definite) covariance, lme4's parametrization.

A term with ``k`` columns has covariance ``sigma^2 T T'`` where ``T`` is ``k x k`` lower triangular. ``theta`` holds
the ``k (k + 1) / 2`` entries of ``T`` column by column (lme4's order); diagonal entries are bounded below by 0.
``natural`` gives the SDs and correlations of ``T T'``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["Unstructured"]


@dataclass(frozen=True)
class Unstructured:
    k: int

    @property
    def n_theta(self) -> int:
        return self.k * (self.k + 1) // 2

    @property
    def index(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of theta's entries in T, column-major lower triangle."""
        rows, cols = zip(*[(i, j) for j in range(self.k) for i in range(j, self.k)])
        return np.array(rows), np.array(cols)

    def lower(self) -> np.ndarray:
        rows, cols = self.index
        return np.where(rows == cols, 0.0, -np.inf)

    def start(self) -> np.ndarray:
        rows, cols = self.index
        return (rows == cols).astype(float)

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        rows, cols = self.index
        return [
            f"{group}.{cnames[i]}" if i == j else f"{group}.{cnames[i]}.{cnames[j]}" for i, j in zip(rows, cols)
        ]

    def factor(self, theta_t):
        """theta_t (n_theta,) -> T (k, k), differentiable (works on numpy and jax arrays)."""
        if self.k == 1:
            return jnp.reshape(theta_t, (1, 1))
        rows, cols = self.index
        position = np.zeros((self.k, self.k), dtype=int)
        position[rows, cols] = np.arange(self.n_theta)
        return jnp.where(np.tril(np.ones((self.k, self.k), dtype=bool)), jnp.asarray(theta_t)[position], 0.0)

    def reflect_zero_columns(self, theta_t: np.ndarray, grad_t: np.ndarray) -> np.ndarray | None:
        """Where a diagonal entry of T is 0 and its gradient pushes against the bound, negate the column's entries
        below it: T T' does not change (the column is negated as a whole), the gradient of that diagonal entry
        does. A point held at such a bound by the sign of its column is no optimum; this moves it to the mirror
        point from which the optimizer can leave the bound. Returns None when there is nothing to reflect."""
        rows, cols = self.index
        out = np.array(theta_t, dtype=float)
        for j in range(self.k):
            diag = np.flatnonzero((rows == j) & (cols == j))[0]
            below = np.flatnonzero((cols == j) & (rows > j))
            if out[diag] == 0.0 and grad_t[diag] > 0 and np.any(out[below] != 0.0):
                out[below] = -out[below]
        return None if np.array_equal(out, theta_t) else out

    def natural(self, theta_t, cnames: tuple[str, ...] | None = None) -> dict[str, float]:
        """``sd_<c>`` per column, then ``rho_<c_i>.<c_j>`` (i > j, column by column as varcorr) of ``T T'``
        (NaN where an SD is 0); ``<c>`` the column names, or positions 0, 1, ... when ``cnames`` is None."""
        T = np.asarray(self.factor(np.asarray(theta_t, dtype=float)))
        C = T @ T.T
        sd = np.sqrt(np.diag(C))
        cn = cnames or [str(i) for i in range(self.k)]
        out = {f"sd_{c}": float(s) for c, s in zip(cn, sd)}
        with np.errstate(divide="ignore", invalid="ignore"):
            for j in range(self.k):
                for i in range(j + 1, self.k):
                    out[f"rho_{cn[i]}.{cn[j]}"] = float(C[i, j] / (sd[i] * sd[j]))
        return out
