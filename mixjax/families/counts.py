"""Counts: Poisson and the two negative binomials of glmmTMB.

* ``poisson``: ``y log mu - mu - log y!``.
* ``nbinom2``: variance ``mu + mu^2 / k``; ``dispersion`` is ``k`` (glmmTMB's ``sigma``), estimated as ``log k``.
* ``nbinom1``: variance ``mu (1 + phi)``, i.e. size ``k = mu / phi``; ``dispersion`` is ``phi``, estimated as
  ``log phi``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from .base import Family, check_counts

__all__ = ["Poisson", "NegBinomial1", "NegBinomial2"]


def _nb_sample(key, mu, k):
    """Negative binomial draws as a Poisson with a gamma-distributed mean (shape ``k``, mean ``mu``)."""
    rate, count = jax.random.split(key)
    k = jnp.broadcast_to(k, jnp.shape(mu))
    return jax.random.poisson(count, jax.random.gamma(rate, k) * mu / k).astype(jnp.float64)


def _nb_logpdf(y, mu, k):
    """Negative binomial with mean ``mu`` and size ``k``."""
    return (gammaln(y + k) - gammaln(k) - gammaln(y + 1.0) + k * (jnp.log(k) - jnp.log(k + mu))
            + jnp.where(y > 0, y * (jnp.log(mu) - jnp.log(k + mu)), 0.0))


@dataclass(frozen=True)
class _Counts(Family):
    zero_inflatable = True

    def response(self, y, weights, levels, what):
        resp = super().response(y, weights, levels, what)
        check_counts(resp.y, what, self.name)
        return resp


@dataclass(frozen=True)
class Poisson(_Counts):
    def sample(self, key, eta, params, resp):
        return jax.random.poisson(key, self.link.inverse(eta)).astype(jnp.float64)

    def kernel(self, resp, eta, params):
        log_mu = eta if self.link.name == "log" else jnp.log(self.link.inverse(eta))
        return jnp.where(resp.y > 0, resp.y * log_mu, 0.0) - jnp.exp(log_mu)

    def logpdf(self, resp, eta, params):
        return self.kernel(resp, eta, params) - gammaln(resp.y + 1.0)


@dataclass(frozen=True)
class NegBinomial2(_Counts):
    dispersion_param = 0  # disp= models log(dispersion)

    def param_names(self, resp):
        return ["log(dispersion)"]

    def param_start(self, resp, mu):  # moments: var = mu + mu^2 / k
        excess = np.mean((resp.y - mu) ** 2 - mu)
        return np.array([np.log(np.clip(np.mean(mu**2) / excess if excess > 0 else 10.0, 1e-2, 1e2))])

    def logpdf(self, resp, eta, params):
        return _nb_logpdf(resp.y, self.link.inverse(eta), jnp.exp(params[0]))

    def sample(self, key, eta, params, resp):
        return _nb_sample(key, self.link.inverse(eta), jnp.exp(params[0]))

    def dispersion(self, params):
        return float(np.exp(params[0]))


@dataclass(frozen=True)
class NegBinomial1(_Counts):
    dispersion_param = 0  # disp= models log(dispersion)

    def param_names(self, resp):
        return ["log(dispersion)"]

    def param_start(self, resp, mu):  # moments: var = mu (1 + phi)
        excess = np.mean((resp.y - mu) ** 2 - mu) / np.mean(mu)
        return np.array([np.log(np.clip(excess, 1e-2, 1e2))])

    def logpdf(self, resp, eta, params):
        mu = self.link.inverse(eta)
        return _nb_logpdf(resp.y, mu, mu / jnp.exp(params[0]))

    def sample(self, key, eta, params, resp):
        mu = self.link.inverse(eta)
        return _nb_sample(key, mu, mu / jnp.exp(params[0]))

    def dispersion(self, params):
        return float(np.exp(params[0]))
