"""Censored Gaussian (tobit / interval regression; Stata's ``metobit`` and ``meintreg``): family
``"censored_gaussian"`` (identity link).

The latent response is ``y* ~ N(mu, sigma^2)``, ``mu = eta``; what is observed per row (``families.censoring``,
responses ``cens(y, lower=, upper=)`` or ``interval(lo, hi)``; a plain numeric response is all exact) gives

    exact y:           log phi((y - mu) / sigma) - log sigma
    left, y* <= u:     log Phi((u - mu) / sigma)
    right, y* >= l:    log Phi((mu - l) / sigma)
    interval l < y* <= u:  log(Phi((u - mu) / sigma) - Phi((l - mu) / sigma))

all constants included, the tails by ``log_ndtr``. The family's parameter is ``ln_sigma = log sigma`` (Stata
reports ``var(e.y) = sigma^2``).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import log_ndtr

from .base import Family, Response
from .censoring import EXACT, INTERVAL, RIGHT, kind

__all__ = ["CensoredGaussian", "log_ndtr_diff"]

_LOG_2PI = float(np.log(2.0 * np.pi))


@jax.custom_jvp
def log_ndtr_diff(a, b):
    """``log(Phi(b) - Phi(a))`` for ``a < b``, by the lower or the upper tail, whichever is more exact. Its
    derivatives are ``exp(log phi(b) - F)`` and ``-exp(log phi(a) - F)`` (``F`` the value; a custom rule, so that a
    derivative of any order differentiates only these, not ``log_ndtr``'s series and branches: the censored
    GLMM's Hessian takes the fourth, and its program is half the size)."""
    upper = a + b > 0  # both far right: Phi(-a) - Phi(-b) keeps the digits
    lo, hi = jnp.where(upper, -b, a), jnp.where(upper, -a, b)
    log_hi = log_ndtr(hi)
    return log_hi + jnp.log(-jnp.expm1(log_ndtr(lo) - log_hi))


@log_ndtr_diff.defjvp
def _log_ndtr_diff_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    F = log_ndtr_diff(a, b)
    return F, jnp.exp(-0.5 * (_LOG_2PI + b**2) - F) * db - jnp.exp(-0.5 * (_LOG_2PI + a**2) - F) * da


@dataclass(frozen=True)
class CensoredGaussian(Family):
    dispersion_param = 0  # disp= models ln_sigma

    def response(self, y, weights, levels, what):
        if levels:
            raise ValueError(f"response {what!r} is a factor; the {self.name} family needs numbers.")
        if y.ndim == 1:  # no censoring
            y = np.column_stack([y, y, np.full(len(y), EXACT)])
        elif kind(what) not in ("cens", "interval"):
            raise ValueError(f"response {what!r}: the {self.name} family reads cens(y, lower=, upper=), "
                             "interval(lo, hi) or one numeric column.")
        return Response(np.asarray(y, dtype=float), np.ones(len(y)), weights)

    def param_names(self, resp):
        return ["ln_sigma"]

    def param_start(self, resp, mu):
        y = resp.y
        mid = np.where(y[:, 2] == INTERVAL, 0.5 * (y[:, 0] + y[:, 1]), y[:, 0])
        return np.array([0.5 * np.log(max(np.mean((mid - mu) ** 2), 1e-8))])

    def logpdf(self, resp, eta, params):
        log_sigma = params[0]
        y, mu = resp.y, self.link.inverse(eta)
        code = y[:, 2]
        z0, z1 = (y[:, 0] - mu) * jnp.exp(-log_sigma), (y[:, 1] - mu) * jnp.exp(-log_sigma)
        return jnp.where(code == EXACT, -0.5 * (_LOG_2PI + z0**2) - log_sigma, _censored(code, z0, z1))

    def dispersion(self, params):
        return float(np.exp(params[0]))


def _censored(code, z0, z1):
    """Every censored row as ``log(Phi(hi) - Phi(lo))`` (``log_ndtr_diff``, one call for all rows): left ``(-inf,
    z1]``, right ``(-z0, inf)`` mirrored to ``(-inf, -z0]``, an interval ``(z0, z1]``. A one-sided row's ``lo`` lies
    40 below ``min(hi, 0)`` and does not move with ``eta``: ``Phi(lo) / Phi(hi) < exp(-800)``, so its term is
    exactly ``log Phi(hi)`` and its derivative in ``lo`` exactly 0."""
    hi = jnp.where(code == RIGHT, -z0, z1)
    lo = jnp.where(code == INTERVAL, z0, jnp.minimum(jax.lax.stop_gradient(hi), 0.0) - 40.0)
    return log_ndtr_diff(lo, hi)
