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

import jax.numpy as jnp
import numpy as np

from .base import Family, Response
from .censoring import EXACT, INTERVAL, LEFT, RIGHT, kind
from .links import log_density, log_interval

__all__ = ["CensoredGaussian"]

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
        return jnp.where(code == EXACT, log_density("probit", z0) - log_sigma, _censored(code, z0, z1))

    def dispersion(self, params):
        return float(np.exp(params[0]))


def _censored(code, z0, z1):
    """Every censored row as ``log P(lo < z <= hi)`` for a standard normal ``z`` (``links.log_interval``, one call for
    all rows): left ``(-inf, z1]``, right ``(z0, inf)``, an interval ``(z0, z1]``."""
    has_lo, has_hi = (code == RIGHT) | (code == INTERVAL), (code == LEFT) | (code == INTERVAL)
    lo, hi = jnp.where(has_lo, z0, z1 - 1.0), jnp.where(has_hi, z1, z0 + 1.0)  # a missing bound: 1 from the other
    return log_interval("probit", lo, hi, has_lo, has_hi)
