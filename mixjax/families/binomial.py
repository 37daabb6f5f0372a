"""Binomial: ``y`` successes out of ``m`` trials, ``log C(m, y) + y log mu + (m - y) log(1 - mu)``.

The response may be 0/1 (numbers or booleans), a two-level factor (the second level is success, as in R), a
proportion with ``weights`` giving the trials, or lme4's ``cbind(successes, failures)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from .base import Family, Response
from .links import log_probabilities

__all__ = ["Binomial"]


@dataclass(frozen=True)
class Binomial(Family):
    def response(self, y, weights, levels, what):
        if levels:
            if len(levels) != 2:
                raise ValueError(
                    f"binomial response {what!r} has {len(levels)} levels ({', '.join(levels[:6])}); it needs "
                    "exactly two (the second is success). Recode it, or fit family='ordinal' for ordered categories."
                )
            return Response((y == 1).astype(float), np.ones_like(y), np.ones_like(y), levels)
        if y.ndim == 2:
            bad = (y < 0) | (np.mod(y, 1) != 0)
            if bad.any():
                rows = int(bad.any(axis=1).sum())
                raise ValueError(
                    f"cbind(successes, failures) response {what!r}: {rows} row(s) have negative or non-integer "
                    "counts; both columns must be counts."
                )
            if not np.all(weights == 1):
                raise ValueError("weights= with a cbind(successes, failures) response: the trials are already given.")
            return Response(y[:, 0], y.sum(axis=1), np.ones(len(y)))
        outside = (y < 0) | (y > 1)
        if outside.any():
            raise ValueError(
                f"binomial response {what!r} must lie in [0, 1] (0/1, or a proportion with weights= as trials), "
                f"but {int(outside.sum())} row(s) do not (first at row {int(np.flatnonzero(outside)[0])}: "
                f"{y[outside][0]!r}). For counts of successes use cbind(successes, failures)."
            )
        successes = y * weights
        if np.any(np.abs(successes - np.round(successes)) > 1e-8):
            raise ValueError(
                f"binomial response {what!r}: proportion x trials is not a whole number of successes in "
                f"{int(np.sum(np.abs(successes - np.round(successes)) > 1e-8))} row(s); give the number of trials "
                "as weights=, or use cbind(successes, failures)."
            )
        return Response(np.round(successes), weights.astype(float), np.ones_like(y))

    def sample(self, key, eta, params, resp):
        return jax.random.binomial(key, resp.trials, self.link.inverse(eta)).astype(jnp.float64)

    def kernel(self, resp, eta, params):
        log_mu, log_1m = log_probabilities(self.link.name, eta)
        y, m = resp.y, resp.trials
        return jnp.where(y > 0, y * log_mu, 0.0) + jnp.where(m - y > 0, (m - y) * log_1m, 0.0)

    def logpdf(self, resp, eta, params):
        y, m = resp.y, resp.trials
        return gammaln(m + 1.0) - gammaln(y + 1.0) - gammaln(m - y + 1.0) + self.kernel(resp, eta, params)
