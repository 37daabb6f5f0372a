"""Proportions: beta and beta-binomial, parametrized as glmmTMB's ``beta_family`` and ``betabinomial``.

* ``beta``: ``y`` in (0, 1) from ``Beta(mu phi, (1 - mu) phi)`` (Ferrari and Cribari-Neto; betareg's), variance
  ``mu (1 - mu) / (1 + phi)``. ``dispersion`` is the precision ``phi`` (glmmTMB's ``sigma``), estimated as ``log phi``.
* ``betabinomial``: ``y`` successes out of ``m`` trials with a ``Beta(mu phi, (1 - mu) phi)`` success probability,
  variance ``m mu (1 - mu) (phi + m) / (phi + 1)``; the response as the binomial family reads it (cbind, 0/1, or a
  proportion with ``weights=`` trials). ``dispersion`` is ``phi``, estimated as ``log phi``.

Both take ``mu`` and ``1 - mu`` on the log scale from the link (``links.log_probabilities``), so the shapes stay
accurate far out in the tails.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from .base import Family
from .binomial import Binomial
from .links import log_probabilities

__all__ = ["Beta", "BetaBinomial"]


def _shapes(link: str, eta, log_phi):
    """The beta shapes ``(mu phi, (1 - mu) phi)``."""
    log_mu, log_1m = log_probabilities(link, eta)
    return jnp.exp(log_mu + log_phi), jnp.exp(log_1m + log_phi)


@dataclass(frozen=True)
class Beta(Family):
    dispersion_param = 0  # disp= models log(phi)

    def response(self, y, weights, levels, what):
        resp = super().response(y, weights, levels, what)
        bad = ~((resp.y > 0) & (resp.y < 1))
        if bad.any():
            raise ValueError(
                f"response {what!r}: the beta family needs values strictly between 0 and 1, but {int(bad.sum())} "
                f"row(s) are not (first at row {int(np.flatnonzero(bad)[0])}: {float(resp.y[bad][0])!r}). Proportions "
                "that can be 0 or 1 are usually squeezed into (0, 1) by (y (n - 1) + 0.5) / n, n the number of rows "
                "(Smithson and Verkuilen 2006); counts of successes out of trials fit family='betabinomial'."
            )
        return resp

    def param_names(self, resp):
        return ["log(dispersion)"]

    def param_start(self, resp, mu):  # moments: var = mu (1 - mu) / (1 + phi)
        mu = np.clip(mu, 1e-6, 1 - 1e-6)
        phi = np.mean(mu * (1 - mu)) / max(np.mean((resp.y - mu) ** 2), 1e-12) - 1.0
        return np.array([np.log(np.clip(phi, 0.1, 1e4))])

    def logpdf(self, resp, eta, params):
        log_phi, y = params[0], resp.y
        a, b = _shapes(self.link.name, eta, log_phi)
        return gammaln(jnp.exp(log_phi)) - gammaln(a) - gammaln(b) + (a - 1.0) * jnp.log(y) + (b - 1.0) * jnp.log1p(-y)

    def sample(self, key, eta, params, resp):
        a, b = _shapes(self.link.name, eta, params[0])
        return jax.random.beta(key, a, b, jnp.shape(eta))

    def dispersion(self, params):
        return float(np.exp(params[0]))


@dataclass(frozen=True)
class BetaBinomial(Binomial):
    dispersion_param = 0  # disp= models log(phi)
    zero_inflatable = True

    def param_names(self, resp):
        return ["log(dispersion)"]

    def param_start(self, resp, mu):
        """Moments: ``var = m mu (1 - mu) (1 + (m - 1) rho)`` with ``rho = 1 / (1 + phi)``."""
        m, mu = resp.trials, np.clip(mu, 1e-6, 1 - 1e-6)
        excess = np.mean((resp.y - m * mu) ** 2 / (m * mu * (1 - mu))) - 1.0
        extra = np.mean(m - 1.0)
        rho = excess / extra if extra > 0 and excess > 0 else 0.1
        return np.array([np.log(np.clip(1.0 / np.clip(rho, 1e-4, 1.0) - 1.0, 1e-2, 1e4))])

    def kernel(self, resp, eta, params):
        log_phi, y, m = params[0], resp.y, resp.trials
        a, b = _shapes(self.link.name, eta, log_phi)
        phi = jnp.exp(log_phi)
        return gammaln(y + a) + gammaln(m - y + b) - gammaln(a) - gammaln(b) + gammaln(phi) - gammaln(m + phi)

    # logpdf: the binomial coefficient plus this kernel (Binomial.logpdf)

    def sample(self, key, eta, params, resp):
        a, b = _shapes(self.link.name, eta, params[0])
        prob, draw = jax.random.split(key)
        return jax.random.binomial(draw, resp.trials, jax.random.beta(prob, a, b, jnp.shape(eta))).astype(jnp.float64)

    def dispersion(self, params):
        return float(np.exp(params[0]))
