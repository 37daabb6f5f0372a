"""Distributional parameters with their own linear predictors, as glmmTMB's ``ziformula`` and ``dispformula``.

``Distributional(base, zi, disp)`` is a family: the ``base`` family with

* ``disp``: the base's dispersion parameter (``base.dispersion_param``, on its own unbounded scale, e.g. log of
  the negative binomial size) replaced by one value per row, ``X_disp beta_disp``;
* ``zi``: a probability ``p = logit^-1(X_zi beta_zi)`` per row. For a zero-inflatable base (counts) a mixture:
  ``P(0) = p + (1 - p) f(0)``, ``P(y) = (1 - p) f(y)`` for ``y > 0``. For a zero-truncated base
  (``base.truncated``, which gives ``log_prob_zero(eta, params)``: the untruncated ``log f(0)``) a hurdle:
  ``P(0) = p``, ``P(y) = (1 - p) f_trunc(y)``.

Its parameters are ``[base parameters (less the modelled dispersion), beta_zi, beta_disp]``, named ``zi.<column>``
and ``disp.<column>``; the design matrices ride in ``Response.zi`` and ``Response.disp``. The GLMM's Laplace and
quadrature objectives see only another ``logpdf``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .base import Family, Response

__all__ = ["Distributional", "distributional"]


@dataclass(frozen=True)
class Distributional(Family):
    base: Family = None
    zi: tuple = ()  # column names of the zero-inflation design
    disp: tuple = ()  # column names of the dispersion design

    def response(self, y, weights, levels, what):
        return self.base.response(y, weights, levels, what)

    def _base_names(self, resp) -> list:
        names = self.base.param_names(resp)
        return [n for i, n in enumerate(names) if not (self.disp and i == self.base.dispersion_param)]

    def param_names(self, resp):
        return self._base_names(resp) + [f"zi.{c}" for c in self.zi] + [f"disp.{c}" for c in self.disp]

    def param_start(self, resp, mu):
        start = self.base.param_start(resp, mu)
        disp = np.zeros(len(self.disp))
        if self.disp:
            i = self.base.dispersion_param
            if "Intercept" in self.disp:
                disp[self.disp.index("Intercept")] = start[i]
            start = np.delete(start, i)
        return np.concatenate([start, np.zeros(len(self.zi)), disp])

    def _split(self, resp: Response, params):
        """(the base family's parameters, with the dispersion one value per row; the zero-inflation predictor)."""
        nb = len(params) - len(self.zi) - len(self.disp)
        base, zi, disp = params[:nb], params[nb : nb + len(self.zi)], params[nb + len(self.zi) :]
        if self.disp:
            i = self.base.dispersion_param
            base = [*base[:i], resp.disp @ disp, *base[i:]]
        return base, (resp.zi @ zi if self.zi else None)

    def logpdf(self, resp, eta, params):
        base, z = self._split(resp, params)
        if z is None:
            return self.base.logpdf(resp, eta, base)
        zero = resp.y == 0
        log_p, log_q = jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z)
        positive = self.base.logpdf(resp._replace(y=jnp.where(zero, 1.0, resp.y)), eta, base)  # finite at y = 0
        if self.base.truncated:
            return jnp.where(zero, log_p, log_q + positive)
        log_f0 = self.base.logpdf(resp._replace(y=jnp.zeros_like(resp.y)), eta, base)
        return jnp.where(zero, jnp.logaddexp(log_p, log_q + log_f0), log_q + positive)

    def kernel(self, resp, eta, params):
        return self.logpdf(resp, eta, params)

    def mean(self, eta, params):
        """The base family's mean (without the zero-inflation, which needs the rows' design: ``response_mean``)."""
        return self.base.link.inverse(eta)

    def response_mean(self, resp, eta, params):
        """``(1 - p) mu`` with zero-inflation; ``(1 - p) mu / (1 - f(0))`` for a hurdle (glmmTMB's
        ``predict(type = "response")``)."""
        base, z = self._split(resp, params)
        mu = self.base.mean(eta, base)
        if z is None:
            return mu
        q = jax.nn.sigmoid(-z)
        if self.base.truncated:
            return q * mu / -jnp.expm1(self.base.log_prob_zero(eta, base))
        return q * mu

    def sample(self, key, eta, params, resp):
        base, z = self._split(resp, params)
        if z is not None and self.base.truncated:
            raise NotImplementedError("simulating from hurdle models is not implemented.")
        draw_key, zero_key = jax.random.split(key)
        y = self.base.sample(draw_key, eta, base, resp)
        return y if z is None else jnp.where(jax.random.bernoulli(zero_key, jax.nn.sigmoid(z)), 0.0, y)

    def dispersion(self, params):
        if self.disp:
            return None
        return self.base.dispersion(params[: len(params) - len(self.zi)])

    def __str__(self) -> str:
        return str(self.base)


def distributional(family: Family, zi: tuple = (), disp: tuple = ()) -> Family:
    """``family`` with zero-inflation / dispersion designs of these column names (``family`` itself without
    either); a ``ValueError`` where the family cannot take them."""
    if not zi and not disp:
        return family
    if zi and not (family.zero_inflatable or family.truncated):
        raise ValueError(f"zi= needs a count family whose zeros it can inflate (poisson, nbinom1, nbinom2, ...) or a "
                         f"truncated one (a hurdle: truncated_poisson, truncated_nbinom2, ...); the {family.name} "
                         "family has no zeros to inflate.")
    if disp and family.dispersion_param is None:
        raise ValueError(f"disp= models a family's dispersion; the {family.name} family has none (use nbinom1, "
                         "nbinom2, gaussian, gamma, ...).")
    return Distributional(family.name, family.link, family, tuple(zi), tuple(disp))
