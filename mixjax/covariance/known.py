"""A known covariance (Stata ``fixed(M)``): no parameters; ``T`` is the Cholesky factor of ``M``, so ``T T' = M``.

``M`` is relative, as every ``T`` is: the effects' covariance is ``s^2 M`` (``M`` itself in generalized models,
where ``s = 1``; ``sigma^2 M`` in linear and nonlinear ones). ``M`` must be symmetric positive definite; it is kept
as a tuple of tuples of floats so that the structure is hashable.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["Known"]


@dataclass(frozen=True)
class Known:
    matrix: tuple

    def __post_init__(self):
        M = np.asarray(self.matrix, dtype=float)
        if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
            raise ValueError(f"Known needs a square k x k matrix, got shape {M.shape}")
        if not np.all(np.isfinite(M)):
            raise ValueError("Known needs a finite matrix")
        if not np.allclose(M, M.T, rtol=1e-12, atol=0.0):
            raise ValueError("Known needs a symmetric matrix")
        try:
            np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"Known needs a positive definite matrix; its smallest eigenvalue is {np.linalg.eigvalsh(M)[0]:.3g}"
            ) from None
        object.__setattr__(self, "matrix", tuple(tuple(float(v) for v in row) for row in M))

    @property
    def k(self) -> int:
        return len(self.matrix)

    @property
    def n_theta(self) -> int:
        return 0

    def lower(self) -> np.ndarray:
        return np.zeros(0)

    def start(self) -> np.ndarray:
        return np.zeros(0)

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        return []

    def factor(self, theta_t):
        """theta_t (0,) -> the constant T = chol(M) (k, k)."""
        return jnp.asarray(np.linalg.cholesky(np.asarray(self.matrix)))

    def reflect_zero_columns(self, theta_t, grad_t) -> None:
        return None

    def natural(self, theta_t) -> dict[str, float]:
        """Nothing is estimated: ``{}``."""
        return {}
