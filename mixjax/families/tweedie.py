"""Tweedie (compound Poisson-gamma), ``1 < p < 2``, parametrized as glmmTMB's ``tweedie``.

Mean ``mu``, variance ``phi mu^p``; ``y = 0`` with probability ``exp(-mu^(2-p) / (phi (2-p)))``, otherwise a
continuous density (Dunn and Smyth 2005, with ``a = (2 - p) / (p - 1)``):

    log f(y) = log W(y) - log y + (y mu^(1-p) / (1-p) - mu^(2-p) / (2-p)) / phi
    W(y) = sum_{j >= 1} W_j,  log W_j = j (a log(y / (p-1)) - (1+a) log phi - log(2-p)) - log j! - log Gamma(a j)

The series is summed outwards from its largest term (near ``j = y^(2-p) / (phi (2-p))``) until the terms fall
below 1e-16 of it, in a ``while_loop``, so it costs what each row needs and is accurate to rounding. JAX cannot
differentiate a ``while_loop`` in reverse mode, so ``log W`` is a ``custom_jvp`` whose derivatives are again such
series, evaluated on the primal values (``forward_only``): exact first and second derivatives, in both modes.
Parameters: ``log phi`` (``dispersion``: glmmTMB's ``sigma``) and ``logit(p - 1)`` (glmmTMB's ``thetaf`` / ``psi``;
``family_params``: the power ``p``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.scipy.special import gammaln

from .base import Family, check_counts

__all__ = ["Tweedie", "log_w", "forward_only"]

CUT = -37.0  # stop a direction of the series when its terms fall below exp(CUT) (~1e-16) of the largest
MAX_TERMS = 1_000_000


def forward_only(fun):
    """``fun`` (elementwise in its array arguments, differentiable in forward mode only, as through a
    ``while_loop``) as a function JAX differentiates to any order in both modes: its tangent is
    ``sum_i d fun / d x_i * t_i``, each partial derivative computed by forward mode and wrapped the same way."""
    wrapped = jax.custom_jvp(fun)

    def rule(primals, tangents):
        out = wrapped(*primals)
        tangent = jnp.zeros_like(out)
        for i, t in enumerate(tangents):
            if not isinstance(t, SymbolicZero):
                tangent = tangent + forward_only(partial(_derivative, fun, i))(*primals) * t
        return out, tangent

    wrapped.defjvp(rule, symbolic_zeros=True)
    return wrapped


def _derivative(fun, i, *x):
    """The derivative of elementwise ``fun`` in its ``i``-th argument, by forward mode (closing over no values, so
    that ``jax.checkpoint`` and ``lax.map`` can trace it)."""
    return jax.jvp(fun, x, tuple(jnp.ones_like(v) if k == i else jnp.zeros_like(v) for k, v in enumerate(x)))[1]


def _log_w_series(y, log_phi, p):
    """``log W(y, phi, p)`` for ``y > 0`` (elementwise; forward-mode differentiable)."""
    a = (2.0 - p) / (p - 1.0)
    log_y = jnp.log(y)
    z = a * (log_y - jnp.log(p - 1.0)) - (1.0 + a) * log_phi - jnp.log(2.0 - p)

    def term(j):
        return j * z - gammaln(j + 1.0) - gammaln(a * j)

    j_top = jnp.exp((2.0 - p) * log_y - log_phi - jnp.log(2.0 - p))
    c = jax.lax.stop_gradient(jnp.maximum(1.0, jnp.round(j_top)))
    top = term(c)
    live = jnp.ones(jnp.shape(top), dtype=bool)

    def body(state):
        k, total, up_live, down_live = state
        k = k + 1.0
        up = term(c + k) - top
        down = jnp.where(c - k >= 1.0, term(jnp.maximum(c - k, 1.0)) - top, -jnp.inf)
        total = total + jnp.where(up_live, jnp.exp(up), 0.0) + jnp.where(down_live, jnp.exp(down), 0.0)
        return k, total, up_live & (up > CUT), down_live & (down > CUT)

    def cond(state):
        return jnp.any(state[2] | state[3]) & (state[0] < MAX_TERMS)

    total = jax.lax.while_loop(cond, body, (0.0, jnp.ones_like(top), live, live & (c > 1.0)))[1]
    return top + jnp.log(total)


log_w = forward_only(_log_w_series)


def _log_mean(link, eta):
    return eta if link.name == "log" else jnp.log(link.inverse(eta))


@dataclass(frozen=True)
class Tweedie(Family):
    dispersion_param = 0  # disp= models log(phi)

    def response(self, y, weights, levels, what):
        resp = super().response(y, weights, levels, what)
        check_counts(resp.y, what, self.name, integer=False)
        return resp

    def param_names(self, resp):
        return ["log(dispersion)", "logit(power - 1)"]

    def param_start(self, resp, mu):  # moments at p = 1.5: var = phi mu^1.5
        mu = np.maximum(mu, 1e-8)
        return np.array([np.log(np.clip(np.mean((resp.y - mu) ** 2 / mu**1.5), 1e-3, 1e3)), 0.0])

    @staticmethod
    def _power(params):
        return 1.0 + jax.nn.sigmoid(params[1])

    def kernel(self, resp, eta, params):
        p, log_mu = self._power(params), _log_mean(self.link, eta)
        return (resp.y * jnp.exp((1.0 - p) * log_mu) / (1.0 - p) - jnp.exp((2.0 - p) * log_mu) / (2.0 - p)) * jnp.exp(
            -params[0])

    def logpdf(self, resp, eta, params):
        positive = resp.y > 0
        y = jnp.where(positive, resp.y, 1.0)
        series = log_w(y, params[0], self._power(params)) - jnp.log(y)
        return self.kernel(resp, eta, params) + jnp.where(positive, series, 0.0)

    def sample(self, key, eta, params, resp):
        """A Poisson number of gamma summands (tweedie::rtweedie, as glmmTMB simulates)."""
        p, mu, phi = self._power(params), self.link.inverse(eta), jnp.exp(params[0])
        count_key, size_key = jax.random.split(key)
        n = jax.random.poisson(count_key, mu ** (2.0 - p) / (phi * (2.0 - p)), jnp.shape(eta)).astype(jnp.float64)
        shape = jnp.maximum(n * (2.0 - p) / (p - 1.0), 1e-300)
        return jnp.where(n > 0, jax.random.gamma(size_key, shape) * phi * (p - 1.0) * mu ** (p - 1.0), 0.0)

    def dispersion(self, params):
        return float(np.exp(params[0]))

    def family_params(self, params) -> dict:
        """glmmTMB's ``family_params``: the Tweedie power."""
        return {"power": float(1.0 + 1.0 / (1.0 + np.exp(-params[1])))}
