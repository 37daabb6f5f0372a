"""Continuous responses: Gaussian with any link, Gamma and inverse Gaussian.

``dispersion`` (estimated as its log) is glmmTMB's ``sigma``: the residual SD for ``gaussian``; the coefficient
of variation ``1 / sqrt(shape)`` for ``gamma`` (variance ``sigma^2 mu^2``); ``sigma`` with variance
``sigma^2 mu^3`` for ``inverse_gaussian``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from .base import Family, check_counts

__all__ = ["Gaussian", "Gamma", "InverseGaussian"]


@dataclass(frozen=True)
class _Dispersion(Family):
    dispersion_param = 0  # disp= models log(dispersion)

    power = 0.0  # variance = sigma^2 mu^power; above 0 the response must be positive

    def response(self, y, weights, levels, what):
        resp = super().response(y, weights, levels, what)
        if self.power > 0:
            check_counts(np.where(resp.y > 0, resp.y, -1.0), what, f"{self.name} (positive values)", integer=False)
        return resp

    def param_names(self, resp):
        return ["log(dispersion)"]

    def param_start(self, resp, mu):
        return np.array([0.5 * np.log(max(np.mean((resp.y - mu) ** 2 / np.abs(mu) ** self.power), 1e-8))])

    def dispersion(self, params):
        return float(np.exp(params[0]))


@dataclass(frozen=True)
class Gaussian(_Dispersion):
    def logpdf(self, resp, eta, params):
        log_sigma = params[0]
        z = (resp.y - self.link.inverse(eta)) * jnp.exp(-log_sigma)
        return -0.5 * (jnp.log(2.0 * jnp.pi) + z**2) - log_sigma

    def sample(self, key, eta, params, resp):
        return self.link.inverse(eta) + jnp.exp(params[0]) * jax.random.normal(key, jnp.shape(eta))


@dataclass(frozen=True)
class Gamma(_Dispersion):
    power = 2.0

    def logpdf(self, resp, eta, params):
        shape = jnp.exp(-2.0 * params[0])
        mu, y = self.link.inverse(eta), resp.y
        return shape * (jnp.log(shape) - jnp.log(mu)) + (shape - 1.0) * jnp.log(y) - shape * y / mu - gammaln(shape)

    def sample(self, key, eta, params, resp):
        shape = jnp.exp(-2.0 * params[0])
        return jax.random.gamma(key, shape, jnp.shape(eta)) * self.link.inverse(eta) / shape


@dataclass(frozen=True)
class InverseGaussian(_Dispersion):
    power = 3.0

    def logpdf(self, resp, eta, params):
        log_sigma = params[0]
        mu, y = self.link.inverse(eta), resp.y
        return (-0.5 * jnp.log(2.0 * jnp.pi * y**3) - log_sigma
                - (y - mu) ** 2 * jnp.exp(-2.0 * log_sigma) / (2.0 * mu**2 * y))

    def sample(self, key, eta, params, resp):
        """Michael, Schucany and Haas (1976): a root of the chi-square(1) transform, chosen by a uniform."""
        mu, lam = self.link.inverse(eta), jnp.exp(-2.0 * params[0])
        normal, uniform = jax.random.split(key)
        v = jax.random.normal(normal, jnp.shape(eta)) ** 2
        x = mu + mu**2 * v / (2 * lam) - mu / (2 * lam) * jnp.sqrt(4 * mu * lam * v + mu**2 * v**2)
        return jnp.where(jax.random.uniform(uniform, jnp.shape(eta)) <= mu / (mu + x), x, mu**2 / x)
