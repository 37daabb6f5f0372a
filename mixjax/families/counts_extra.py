"""More counts, as glmmTMB parametrizes them: the generalized Poisson and the zero-truncated counts.

* ``genpois``: glmmTMB's generalized Poisson (Joe and Zhu 2005), ``P(y) = theta (theta + lambda y)^(y - 1)
  exp(-theta - lambda y) / y!`` with ``theta = mu / sqrt(phi)``, ``lambda = 1 - 1 / sqrt(phi)``: mean ``mu``, variance
  ``mu phi``. ``dispersion`` is ``phi`` (glmmTMB's ``sigma``), estimated as ``log phi``; ``phi < 1`` is
  underdispersion (where ``theta + lambda y <= 0`` the probability is 0, as in glmmTMB).
* ``truncated_poisson``, ``truncated_nbinom1``, ``truncated_nbinom2``, ``truncated_genpois``: the counts of ``counts.py`` (and ``genpois``) given ``y > 0``,
  ``log f(y) - log(1 - f(0))``, with the same ``mu`` (the untruncated mean, what the link models) and dispersion.
  Zeros are accepted for a hurdle (``zi=``, the probability of a zero): the truncated family's own log-density is 0
  at ``y = 0`` (a zero carries no information about the positive part), and ``log_prob_zero`` gives the untruncated
  ``log f(0)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from .base import Response
from .counts import NegBinomial1, NegBinomial2, Poisson, _Counts

__all__ = ["GenPoisson", "TruncatedPoisson", "TruncatedNegBinomial1", "TruncatedNegBinomial2", "TruncatedGenPoisson"]

MAX_DRAW = 100_000  # inverse-CDF draws stop at this count


def _log_mean(link, eta):
    return eta if link.name == "log" else jnp.log(link.inverse(eta))


def _log1mexp(x):
    """``log(1 - exp(x))`` for ``x < 0``, accurate at both ends (Maechler 2012)."""
    return jnp.where(x > -np.log(2.0), jnp.log(-jnp.expm1(x)), jnp.log1p(-jnp.exp(x)))


def draw_by_cdf(key, log_pmf, shape, first: int = 0):
    """One count per row by inversion: the smallest ``y >= first`` whose distribution function reaches a uniform
    draw; ``log_pmf(y)`` gives each row's log-probability of ``y`` (an (n,) array)."""
    u = jnp.minimum(jax.random.uniform(key, shape), 1.0 - 1e-12)
    y = jnp.full(shape, float(first))

    def body(state):
        y, cdf = state
        more = u > cdf
        y = y + more
        return y, cdf + jnp.where(more, jnp.exp(log_pmf(y)), 0.0)

    def cond(state):
        return jnp.any((u > state[1]) & (state[0] < MAX_DRAW))

    return jax.lax.while_loop(cond, body, (y, jnp.exp(log_pmf(y))))[0]


@dataclass(frozen=True)
class GenPoisson(_Counts):
    dispersion_param = 0  # disp= models log(phi)

    def param_names(self, resp):
        return ["log(dispersion)"]

    def param_start(self, resp, mu):  # moments: var = mu phi
        return np.array([np.log(np.clip(np.mean((resp.y - mu) ** 2) / max(np.mean(mu), 1e-8), 0.5, 1e2))])

    def logpdf(self, resp, eta, params):
        log_phi, y = params[0], resp.y
        log_theta = _log_mean(self.link, eta) - 0.5 * log_phi
        theta, lam = jnp.exp(log_theta), -jnp.expm1(-0.5 * log_phi)
        arg = theta + lam * y
        value = log_theta + (y - 1.0) * jnp.log(jnp.where(arg > 0, arg, 1.0)) - arg - gammaln(y + 1.0)
        return jnp.where(arg > 0, value, -jnp.inf)

    def sample(self, key, eta, params, resp):
        return draw_by_cdf(key, lambda y: self.logpdf(resp._replace(y=y), eta, params), jnp.shape(eta))

    def dispersion(self, params):
        return float(np.exp(params[0]))


class _Truncated:
    """Zero truncation of a count family (mixed in before it): ``log f(y) - log(1 - f(0))`` for ``y > 0``."""

    truncated = True
    zero_inflatable = False

    def log_prob_zero(self, eta, params):
        raise NotImplementedError

    def _truncate(self, resp: Response, eta, params, value):
        return jnp.where(resp.y > 0, value - _log1mexp(self.log_prob_zero(eta, params)), 0.0)

    def sample(self, key, eta, params, resp):
        return draw_by_cdf(key, lambda y: self.logpdf(resp._replace(y=y), eta, params), jnp.shape(eta), first=1)


@dataclass(frozen=True)
class TruncatedPoisson(_Truncated, Poisson):
    def log_prob_zero(self, eta, params):
        return -jnp.exp(_log_mean(self.link, eta))

    def kernel(self, resp, eta, params):  # Poisson.logpdf adds -log y! to it
        return self._truncate(resp, eta, params, super().kernel(resp, eta, params))


@dataclass(frozen=True)
class TruncatedNegBinomial2(_Truncated, NegBinomial2):
    def log_prob_zero(self, eta, params):
        k = jnp.exp(params[0])
        return -k * jnp.log1p(self.link.inverse(eta) / k)

    def logpdf(self, resp, eta, params):
        return self._truncate(resp, eta, params, super().logpdf(resp, eta, params))


@dataclass(frozen=True)
class TruncatedNegBinomial1(_Truncated, NegBinomial1):
    def log_prob_zero(self, eta, params):
        log_phi = params[0]
        return -self.link.inverse(eta) * jnp.exp(-log_phi) * jnp.log1p(jnp.exp(log_phi))

    def logpdf(self, resp, eta, params):
        return self._truncate(resp, eta, params, super().logpdf(resp, eta, params))


@dataclass(frozen=True)
class TruncatedGenPoisson(_Truncated, GenPoisson):
    def log_prob_zero(self, eta, params):  # -theta
        return -jnp.exp(_log_mean(self.link, eta) - 0.5 * params[0])

    def logpdf(self, resp, eta, params):
        return self._truncate(resp, eta, params, super().logpdf(resp, eta, params))
