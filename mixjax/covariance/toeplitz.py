"""Toeplitz (stationary) correlation with heterogeneous SDs (glmmTMB ``toep``): ``cor(b_i, b_j) = r_|i-j|``, for
the ``k >= 2`` equally spaced columns of e.g. ``0 + factor(time)``.

``theta = (sd_1, ..., sd_k, x_1, ..., x_{k-1})``: relative SDs (lower bound 0) and unbounded ``x_m`` giving the
partial autocorrelations ``pi_m = x_m / sqrt(1 + x_m^2)`` in (-1, 1) (the transform of ``AR1``; ``1 - pi_m^2 =
1 / (1 + x_m^2)`` never rounds to 0). The Durbin-Levinson recursion maps them to the lag correlations
``r_1, ..., r_{k-1}`` (every such sequence is a positive definite Toeplitz correlation matrix ``R``, and every one
is reached) and to ``A R A' = D``: ``A`` unit lower triangular (row ``n`` predicts column ``n`` from the previous
ones), ``D = diag(v_n)``, ``v_n = prod_{m <= n} (1 - pi_m^2) > 0``. ``T = diag(sd) A^{-1} D^{1/2}``, the Cholesky
factor of ``diag(sd) R diag(sd)`` without a Cholesky decomposition: finite and smooth for every ``theta``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np

__all__ = ["Toeplitz", "durbin_levinson"]


def durbin_levinson(x):
    """Unbounded ``x`` (k-1,) -> (lag correlations ``r`` (k,) with ``r_0 = 1``, ``A`` (k, k), ``v`` (k,))."""
    x = jnp.asarray(x)
    k = x.shape[0] + 1
    pacf = x / jnp.sqrt(1.0 + x * x)
    v = jnp.concatenate([jnp.ones(1, x.dtype), jnp.cumprod(1.0 / (1.0 + x * x))])
    r, phi, rows = [jnp.ones((), x.dtype)], [], [jnp.zeros(k, x.dtype).at[0].set(1.0)]
    for n in range(1, k):
        p = pacf[n - 1]
        r.append(sum((phi[j - 1] * r[n - j] for j in range(1, n)), p * v[n - 1]))
        phi = [phi[j - 1] - p * phi[n - j - 1] for j in range(1, n)] + [p]  # phi_{n,1..n}
        row = jnp.zeros(k, x.dtype).at[n].set(1.0)
        rows.append(row.at[n - 1 :: -1].set(-jnp.stack(phi)))
    return jnp.stack(r), jnp.stack(rows), v


@dataclass(frozen=True)
class Toeplitz:
    k: int

    def __post_init__(self):
        if self.k < 2:
            raise ValueError(f"Toeplitz needs k >= 2 columns, got {self.k}")

    @property
    def n_theta(self) -> int:
        return 2 * self.k - 1

    def lower(self) -> np.ndarray:
        return np.r_[np.zeros(self.k), np.full(self.k - 1, -np.inf)]

    def start(self) -> np.ndarray:
        return np.r_[np.ones(self.k), np.zeros(self.k - 1)]

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        return [f"{group}.{c}" for c in cnames] + [f"{group}.pacf{m}" for m in range(1, self.k)]

    def factor(self, theta_t):
        """theta_t (2k-1,) -> T = diag(sd) A^{-1} D^{1/2} (k, k)."""
        theta_t = jnp.asarray(theta_t)
        _, A, v = durbin_levinson(theta_t[self.k :])
        L = jsl.solve_triangular(A, jnp.diag(jnp.sqrt(v)), lower=True, unit_diagonal=True)
        return theta_t[: self.k, None] * L

    def reflect_zero_columns(self, theta_t, grad_t) -> None:
        return None

    def natural(self, theta_t, cnames: tuple[str, ...] | None = None) -> dict[str, float]:
        """``sd_<c>`` per column (position when ``cnames`` is None), then ``lag1`` ... ``lag{k-1}``."""
        theta_t = np.asarray(theta_t, dtype=float)
        cn = cnames or [str(i) for i in range(self.k)]
        r = np.asarray(durbin_levinson(theta_t[self.k :])[0])
        return {**{f"sd_{c}": float(s) for c, s in zip(cn, theta_t[: self.k])},
                **{f"lag{m}": float(r[m]) for m in range(1, self.k)}}
