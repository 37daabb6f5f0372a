"""Diagonal covariances: independent effects with their own SDs (``Diagonal``, glmmTMB ``diag``, Stata
``independent``) or one common SD (``HomogeneousDiagonal``, glmmTMB ``homdiag``, Stata ``identity``).

``theta`` holds relative SDs (lower bound 0): ``T = diag(theta)``, or ``T = theta[0] I``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["Diagonal", "HomogeneousDiagonal"]


@dataclass(frozen=True)
class Diagonal:
    k: int

    @property
    def n_theta(self) -> int:
        return self.k

    def lower(self) -> np.ndarray:
        return np.zeros(self.k)

    def start(self) -> np.ndarray:
        return np.ones(self.k)

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        return [f"{group}.{c}" for c in cnames]

    def factor(self, theta_t):
        """theta_t (k,) -> T = diag(theta_t)."""
        return jnp.diag(jnp.asarray(theta_t))

    def reflect_zero_columns(self, theta_t, grad_t) -> None:
        return None

    def natural(self, theta_t, cnames: tuple[str, ...] | None = None) -> dict[str, float]:
        """``sd_<c>`` per column (``<c>`` the column name, or its position when ``cnames`` is None)."""
        cn = cnames or [str(i) for i in range(self.k)]
        return {f"sd_{c}": float(s) for c, s in zip(cn, np.asarray(theta_t, dtype=float))}


@dataclass(frozen=True)
class HomogeneousDiagonal:
    k: int

    @property
    def n_theta(self) -> int:
        return 1

    def lower(self) -> np.ndarray:
        return np.zeros(1)

    def start(self) -> np.ndarray:
        return np.ones(1)

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        return [f"{group}.sd"]

    def factor(self, theta_t):
        """theta_t (1,) -> T = theta_t[0] I."""
        return jnp.asarray(theta_t)[0] * jnp.eye(self.k)

    def reflect_zero_columns(self, theta_t, grad_t) -> None:
        return None

    def natural(self, theta_t) -> dict[str, float]:
        """``sd``: the common SD."""
        return {"sd": float(np.asarray(theta_t, dtype=float)[0])}
