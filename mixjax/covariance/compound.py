"""Compound symmetry: one correlation ``rho`` between every pair of columns; ``k`` SDs (glmmTMB ``cs``) or one
common SD (``homogeneous=True``: glmmTMB ``homcs``, Stata ``exchangeable``). Needs ``k >= 2``.

``theta = (sd_1, ..., sd_k, x)`` or ``(sd, x)``: relative SDs (lower bound 0) and ``x`` unbounded with
``rho = -1/(k-1) + (1 + 1/(k-1)) sigmoid(x)``, the open interval of positive definite correlation matrices
(``x = -log(k-1)`` gives ``rho = 0``; ``x`` is clipped to [-50, 50], where ``rho`` is within 1e-21 of an end).
``T = diag(sd) L`` with ``L`` the closed-form Cholesky factor of ``R = (1-rho) I + rho 1 1'``:
``L[j,j] = sqrt((1-rho)(1+j rho)/(1+(j-1) rho))`` (1 for j = 0) and, below it,
``L[i,j] = rho sqrt(1-rho)/sqrt((1+(j-1) rho)(1+j rho))`` (rho for j = 0); ``1-rho`` and ``1+j rho`` are computed
from ``sigmoid(-x)`` and ``sigmoid(x)`` without cancellation, so ``T`` is finite and smooth for every ``x``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["CompoundSymmetry"]

CLIP = 50.0


@dataclass(frozen=True)
class CompoundSymmetry:
    k: int
    homogeneous: bool = False

    def __post_init__(self):
        if self.k < 2:
            raise ValueError(f"CompoundSymmetry needs k >= 2 columns, got {self.k}")

    @property
    def n_sd(self) -> int:
        return 1 if self.homogeneous else self.k

    @property
    def n_theta(self) -> int:
        return self.n_sd + 1

    def lower(self) -> np.ndarray:
        return np.r_[np.zeros(self.n_sd), -np.inf]

    def start(self) -> np.ndarray:
        return np.r_[np.ones(self.n_sd), -np.log(self.k - 1.0)]

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        sds = [f"{group}.sd"] if self.homogeneous else [f"{group}.{c}" for c in cnames]
        return [*sds, f"{group}.rho"]

    def rho(self, x):
        return (self.k * jax.nn.sigmoid(x) - 1.0) / (self.k - 1.0)

    def factor(self, theta_t):
        """theta_t -> T = diag(sd) chol(R(rho)) (k, k)."""
        theta_t = jnp.asarray(theta_t)
        k, x = self.k, jnp.clip(theta_t[-1], -CLIP, CLIP)
        s, rho = jax.nn.sigmoid(x), self.rho(x)
        one_minus = k / (k - 1.0) * jax.nn.sigmoid(-x)
        j = np.arange(k)
        a = (k - 1.0 - j) / (k - 1.0) + j * k / (k - 1.0) * s  # 1 + j rho
        prev = jnp.concatenate([one_minus[None], a[:-1]])  # 1 + (j-1) rho; 1 - rho for j = 0
        diag = jnp.sqrt(jnp.where(j == 0, 1.0, one_minus * a / prev))
        below = rho * jnp.sqrt(one_minus) / jnp.sqrt(prev * a)
        L = jnp.where(j[:, None] == j[None, :], diag[None, :], jnp.where(j[:, None] > j[None, :], below[None, :], 0.0))
        sd = theta_t[: self.n_sd] if not self.homogeneous else jnp.broadcast_to(theta_t[0], (k,))
        return sd[:, None] * L

    def reflect_zero_columns(self, theta_t, grad_t) -> None:
        return None

    def natural(self, theta_t, cnames: tuple[str, ...] | None = None) -> dict[str, float]:
        """``sd`` (homogeneous) or ``sd_<c>`` per column (position when ``cnames`` is None), and ``rho``."""
        theta_t = np.asarray(theta_t, dtype=float)
        cn = cnames or [str(i) for i in range(self.k)]
        sds = {"sd": theta_t[0]} if self.homogeneous else {f"sd_{c}": s for c, s in zip(cn, theta_t[:-1])}
        x = np.clip(theta_t[-1], -CLIP, CLIP)
        return {**{n: float(s) for n, s in sds.items()}, "rho": float(self.rho(x))}
