"""Location-scale families of glmmTMB: Student's t and the lognormal.

* ``t`` (glmmTMB's ``t_family``): ``y = mu + sigma e``, ``e`` Student t with ``df`` degrees of freedom. Parameters
  ``log sigma`` (``dispersion``: glmmTMB's ``sigma``, the scale, not the SD) and ``log df``.
* ``lognormal`` (glmmTMB 1.1.8's ``lognormal``): ``log y`` normal, parametrized by the mean ``mu`` (the link models
  it) and the SD ``sigma`` of ``y`` itself: ``log y ~ N(log mu - s^2 / 2, s^2)`` with ``s^2 = log(1 + sigma^2 / mu^2)``.
  ``dispersion`` is that SD, estimated as ``log sigma``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from .base import Family

__all__ = ["StudentT", "LogNormal"]


@dataclass(frozen=True)
class StudentT(Family):
    dispersion_param = 0  # disp= models log(sigma)

    def param_names(self, resp):
        return ["log(dispersion)", "log(df)"]

    def param_start(self, resp, mu):
        return np.array([0.5 * np.log(max(np.mean((resp.y - mu) ** 2), 1e-12)), np.log(10.0)])

    def logpdf(self, resp, eta, params):
        log_sigma, df = params[0], jnp.exp(params[1])
        z = (resp.y - self.link.inverse(eta)) * jnp.exp(-log_sigma)
        return (gammaln(0.5 * (df + 1.0)) - gammaln(0.5 * df) - 0.5 * jnp.log(jnp.pi * df) - log_sigma
                - 0.5 * (df + 1.0) * jnp.log1p(z**2 / df))

    def sample(self, key, eta, params, resp):
        return self.link.inverse(eta) + jnp.exp(params[0]) * jax.random.t(key, jnp.exp(params[1]), jnp.shape(eta))

    def dispersion(self, params):
        return float(np.exp(params[0]))

    def family_params(self, params) -> dict:
        """glmmTMB's ``family_params``: the degrees of freedom."""
        return {"df": float(np.exp(params[1]))}


def _log_scale(link, eta, log_sigma):
    """Mean and variance of ``log y``."""
    log_mu = eta if link.name == "log" else jnp.log(link.inverse(eta))
    s2 = jax.nn.softplus(2.0 * (log_sigma - log_mu))  # log(1 + sigma^2 / mu^2)
    return log_mu - 0.5 * s2, s2


@dataclass(frozen=True)
class LogNormal(Family):
    dispersion_param = 0  # disp= models log(sigma)

    def response(self, y, weights, levels, what):
        resp = super().response(y, weights, levels, what)
        bad = ~(resp.y > 0)
        if bad.any():
            raise ValueError(
                f"response {what!r}: the lognormal family needs positive values, but {int(bad.sum())} row(s) are "
                f"not (first at row {int(np.flatnonzero(bad)[0])}: {float(resp.y[bad][0])!r})."
            )
        return resp

    def param_names(self, resp):
        return ["log(dispersion)"]

    def param_start(self, resp, mu):
        return np.array([0.5 * np.log(max(np.mean((resp.y - mu) ** 2), 1e-12))])

    def logpdf(self, resp, eta, params):
        m, s2 = _log_scale(self.link, eta, params[0])
        log_y = jnp.log(resp.y)
        return -0.5 * (jnp.log(2.0 * jnp.pi * s2) + (log_y - m) ** 2 / s2) - log_y

    def sample(self, key, eta, params, resp):
        m, s2 = _log_scale(self.link, eta, params[0])
        return jnp.exp(m + jnp.sqrt(s2) * jax.random.normal(key, jnp.shape(eta)))

    def dispersion(self, params):
        return float(np.exp(params[0]))
