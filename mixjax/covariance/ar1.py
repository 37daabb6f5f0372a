"""First-order autoregressive correlation (glmmTMB ``ar1``): ``cor(b_i, b_j) = phi^|i-j|`` with one SD, for the
``k >= 2`` equally spaced columns of e.g. ``0 + factor(time)``.

``theta = (sd, x)``: the relative SD (lower bound 0) and ``x`` unbounded with ``phi = x / sqrt(1 + x^2)``
(glmmTMB's transform), so ``sqrt(1 - phi^2) = 1 / sqrt(1 + x^2)`` is never 0. ``T = sd L`` with the closed-form
Cholesky factor ``L[i,0] = phi^i``, ``L[i,j] = phi^(i-j) sqrt(1 - phi^2)`` for ``1 <= j <= i``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["AR1"]


@dataclass(frozen=True)
class AR1:
    k: int

    def __post_init__(self):
        if self.k < 2:
            raise ValueError(f"AR1 needs k >= 2 columns, got {self.k}")

    @property
    def n_theta(self) -> int:
        return 2

    def lower(self) -> np.ndarray:
        return np.array([0.0, -np.inf])

    def start(self) -> np.ndarray:
        return np.array([1.0, 0.0])

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        return [f"{group}.sd", f"{group}.phi"]

    def factor(self, theta_t):
        """theta_t (2,) -> T = sd chol(R(phi)) (k, k)."""
        theta_t = jnp.asarray(theta_t)
        sd, x = theta_t[0], theta_t[1]
        scale = 1.0 / jnp.sqrt(1.0 + x * x)  # sqrt(1 - phi^2)
        phi = x * scale
        powers = [jnp.ones_like(phi)]
        for _ in range(1, self.k):
            powers.append(powers[-1] * phi)
        i, j = np.tril_indices(self.k)
        L = jnp.zeros((self.k, self.k), dtype=phi.dtype)
        L = L.at[i, j].set(jnp.stack(powers)[i - j] * jnp.where(j == 0, 1.0, scale))
        return sd * L

    def reflect_zero_columns(self, theta_t, grad_t) -> None:
        return None

    def natural(self, theta_t) -> dict[str, float]:
        """``sd`` and ``phi``."""
        sd, x = np.asarray(theta_t, dtype=float)
        return {"sd": float(sd), "phi": float(x / np.sqrt(1.0 + x * x))}
