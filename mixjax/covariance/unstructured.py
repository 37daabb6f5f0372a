"""Unstructured (general positive semi-definite) covariance, lme4's parametrization.

A term with ``k`` columns has covariance ``sigma^2 T T'`` where ``T`` is ``k x k`` lower triangular. ``theta`` holds
the ``k (k + 1) / 2`` entries of ``T`` column by column (lme4's order); diagonal entries are bounded below by 0.
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
