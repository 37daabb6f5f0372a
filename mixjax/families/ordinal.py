"""Ordinal response, cumulative link (ordinal::clmm, Stata's meologit / meoprobit).

``P(Y <= j) = F(c_j - eta)`` for categories ``j = 1..K`` with cutpoints ``c_1 < ... < c_{K-1}`` (estimated on
their own scale) and ``eta = x'beta + z'b`` without an intercept; ``P(Y = j) = F(c_j - eta) - F(c_{j-1} - eta)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .base import Family, Response
from .links import log_interval

__all__ = ["Ordinal"]


@dataclass(frozen=True)
class Ordinal(Family):
    def response(self, y, weights, levels, what):
        if y.ndim != 1:
            raise ValueError(f"an ordinal response {what!r} is one column of ordered categories, not cbind(...).")
        if not levels:  # numbers: their sorted distinct values are the categories
            values = np.unique(y)
            levels = tuple(str(int(v)) if float(v).is_integer() else str(v) for v in values)
            y = np.searchsorted(values, y).astype(float)
        used = np.unique(y)
        if len(used) < 3 and len(levels) < 3:
            raise ValueError(
                f"ordinal response {what!r} has {len(levels)} categories; an ordinal model needs at least 3 "
                "(for two, use family='binomial')."
            )
        if len(used) < len(levels):
            missing = [levels[i] for i in range(len(levels)) if i not in set(used.astype(int))]
            raise ValueError(
                f"ordinal response {what!r} has categories with no observations: {', '.join(missing)}; their "
                "cutpoints cannot be estimated. Drop the unused categories first."
            )
        return Response(y, np.ones_like(y), weights, tuple(levels))

    @property
    def has_intercept(self) -> bool:
        return False

    def param_names(self, resp):
        return [f"{a}|{b}" for a, b in zip(resp.levels, resp.levels[1:])]

    def param_start(self, resp, mu):
        k = len(resp.levels)
        cum = np.cumsum(np.bincount(resp.y.astype(int), minlength=k))[:-1] / len(resp.y)
        return np.asarray(self.link.link(jnp.asarray(cum)), dtype=float)

    def logpdf(self, resp, eta, params):
        k = params.shape[0] + 1
        yi = resp.y.astype(jnp.int32)
        hi = params[jnp.minimum(yi, k - 2)] - eta  # c_y - eta
        lo = params[jnp.maximum(yi - 1, 0)] - eta  # c_{y-1} - eta
        has_lo, has_hi = yi > 0, yi < k - 1
        hi = jnp.where(has_hi, hi, lo + 1.0)  # placeholders where a bound is infinite (unused there)
        lo = jnp.where(has_lo, lo, hi - 1.0)
        return log_interval(self.link.name, lo, hi, has_lo, has_hi)

    def probabilities(self, eta, params):
        """Category probabilities (n, K) at linear predictor ``eta`` (n,)."""
        return np.asarray(self._probabilities(jnp.asarray(eta), jnp.asarray(params)))

    def _probabilities(self, eta, params):
        F = self.link.inverse(params[None, :] - eta[:, None])
        return jnp.diff(jnp.concatenate([jnp.zeros((F.shape[0], 1)), F, jnp.ones((F.shape[0], 1))], axis=1), axis=1)

    def sample(self, key, eta, params, resp):
        p = self._probabilities(eta, params)
        return jax.random.categorical(key, jnp.log(jnp.maximum(p, 1e-300)), axis=1).astype(jnp.float64)

    def mean(self, eta, params):
        return self.probabilities(eta, params)
