"""Parametric survival families (Stata's ``mestreg`` / ``streg``), response ``Surv(time, event)`` or
``Surv(entry, time, event)`` (``families.censoring``).

Each row contributes the log-likelihood of the time itself, all constants included (the scale survreg and Stata
report), conditional on survival to the entry time:

    d log h(t) + log S(t) - log S(t0)        (d: 1 for a failure, 0 for censoring; t0 = entry, S(0) = 1)

Proportional hazards (PH; ``eta`` = log relative hazard, random effects on the log hazard):

* ``exponential``: ``h = exp(eta)``
* ``weibull``: ``h = p t^(p-1) exp(eta)``, ancillary ``ln_p = log p``
* ``gompertz``: ``h = exp(eta + gamma t)``, ancillary ``gamma``

Accelerated failure time (AFT; ``eta`` = log of the time scale, random effects on log time; coefficients are log
time ratios):

* ``exponential_aft``: ``h = exp(-eta)``; ``weibull_aft``: ``S = exp(-(t exp(-eta))^p)``, ancillary ``ln_p``
* ``lognormal``: ``log t ~ N(eta, sigma^2)``, ancillary ``ln_sigma``
* ``loglogistic``: ``S = 1 / (1 + (t exp(-eta))^(1/gamma))``, ancillary ``ln_gamma``
* ``gamma_aft`` (mestreg's ``distribution(gamma)``, gsem's gamma): ``t ~ Gamma(shape 1/s, scale s exp(eta))``,
  mean ``exp(eta)``, ancillary ``logs = log s`` (the survival function by ``families.incgamma``)

The same model in the two metrics: Weibull ``beta_PH = -p beta_AFT`` (random-effect SDs times ``p``). ``mean``
is the mean survival time; ``log_hazard`` / ``log_survival`` give the prediction functions of
``results.survival``.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.nn import log_sigmoid
from jax.scipy.special import exp1, gammaln, log_ndtr

from .base import Family, Response
from .censoring import kind
from .links import log_density

__all__ = ["Exponential", "ExponentialAFT", "Weibull", "WeibullAFT", "Gompertz", "LogNormal", "LogLogistic",
           "GammaAFT", "SURVIVAL", "evaluate"]


@dataclass(frozen=True)
class _Survival(Family):
    ancillary = ()  # Stata's names of the family's parameters
    aft = False  # accelerated failure time: eta is log time (else log relative hazard)

    def response(self, y, weights, levels, what):
        if kind(what) != "Surv" or y.ndim != 2 or y.shape[1] != 3:
            raise ValueError(f"response {what!r}: the {self.name} survival family needs Surv(time, event) or "
                             "Surv(entry, time, event).")
        entry, time, event = y.T
        exposure, events = float(np.sum(time - entry)), max(float(np.sum(event)), 0.5)
        rate = events / exposure  # the exponential model's rate: the start of the intercept comes from it, as
        target = 1.0 / rate if self.aft else rate  # glm_start sets it at link(sum(y) / sum(trials)); trials are
        return Response(y, np.full(len(y), np.sum(y) / (len(y) * target)), weights)  # not read otherwise

    def param_names(self, resp):
        return list(self.ancillary)

    def param_start(self, resp, mu):
        return np.zeros(len(self.ancillary))

    def log_hazard(self, t, eta, params):
        raise NotImplementedError

    def log_survival(self, t, eta, params):
        raise NotImplementedError

    def logpdf(self, resp, eta, params):
        entry, t, d = resp.y[:, 0], resp.y[:, 1], resp.y[:, 2]
        late = entry > 0
        t0 = jnp.where(late, entry, t)  # a placeholder where there is no delayed entry (log S(0) = 0)
        return (jnp.where(d > 0, self.log_hazard(t, eta, params), 0.0) + self.log_survival(t, eta, params)
                - jnp.where(late, self.log_survival(t0, eta, params), 0.0))

    def median(self, eta, params):
        """Median survival time, by bisection on log time unless the family has a closed form."""
        def body(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            above = self.log_survival(jnp.exp(mid), eta, params) > jnp.log(0.5)
            return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

        lo, hi = jax.lax.fori_loop(0, 110, body, (jnp.full(jnp.shape(eta), -50.0), jnp.full(jnp.shape(eta), 50.0)))
        return jnp.exp(0.5 * (lo + hi))


@dataclass(frozen=True)
class Weibull(_Survival):
    ancillary = ("ln_p",)

    def _ln_p(self, params):
        return params[0]

    def _log_rate(self, eta, ln_p):  # PH: log lambda with S = exp(-lambda t^p)
        return -jnp.exp(ln_p) * eta if self.aft else eta

    def log_hazard(self, t, eta, params):
        ln_p = self._ln_p(params)
        return self._log_rate(eta, ln_p) + ln_p + (jnp.exp(ln_p) - 1.0) * jnp.log(t)

    def log_survival(self, t, eta, params):
        ln_p = self._ln_p(params)
        return -jnp.exp(self._log_rate(eta, ln_p) + jnp.exp(ln_p) * jnp.log(t))

    def mean(self, eta, params):
        ln_p = self._ln_p(params)
        return jnp.exp(gammaln(1.0 + jnp.exp(-ln_p)) - self._log_rate(eta, ln_p) * jnp.exp(-ln_p))

    def median(self, eta, params):
        ln_p = self._ln_p(params)
        return jnp.exp((np.log(np.log(2.0)) - self._log_rate(eta, ln_p)) * jnp.exp(-ln_p))


@dataclass(frozen=True)
class WeibullAFT(Weibull):
    aft = True


@dataclass(frozen=True)
class Exponential(Weibull):
    ancillary = ()

    def _ln_p(self, params):
        return 0.0


@dataclass(frozen=True)
class ExponentialAFT(Exponential):
    aft = True


def _expm1_ratio(g, t):
    """``(exp(g t) - 1) / g``, ``t`` at ``g = 0``."""
    small = jnp.abs(g) < 1e-8
    safe = jnp.where(small, 1.0, g)
    return jnp.where(small, t * (1.0 + 0.5 * g * t), jnp.expm1(safe * t) / safe)


@dataclass(frozen=True)
class Gompertz(_Survival):
    ancillary = ("gamma",)

    def log_hazard(self, t, eta, params):
        return eta + params[0] * t

    def log_survival(self, t, eta, params):
        return -jnp.exp(eta) * _expm1_ratio(params[0], t)

    def mean(self, eta, params):
        """``exp(x) E1(x) / gamma`` with ``x = exp(eta) / gamma`` for ``gamma > 0``; infinite for ``gamma < 0``
        (a fraction never fails)."""
        g = params[0]
        safe = jnp.where(g > 0, g, 1.0)
        x = jnp.exp(eta) / safe
        scaled = jnp.where(x > 50.0, (1.0 - 1.0 / x + 2.0 / x**2 - 6.0 / x**3) / x,
                           jnp.exp(jnp.minimum(x, 50.0)) * exp1(jnp.minimum(x, 50.0)))
        return jnp.where(g > 0, scaled / safe, jnp.where(g < 0, jnp.inf, jnp.exp(-eta)))


@dataclass(frozen=True)
class LogNormal(_Survival):
    ancillary = ("ln_sigma",)
    aft = True

    def _z(self, t, eta, params):
        return (jnp.log(t) - eta) * jnp.exp(-params[0])

    def log_hazard(self, t, eta, params):
        z = self._z(t, eta, params)
        return log_density("probit", z) - params[0] - jnp.log(t) - log_ndtr(-z)

    def log_survival(self, t, eta, params):
        return log_ndtr(-self._z(t, eta, params))

    def mean(self, eta, params):
        return jnp.exp(eta + 0.5 * jnp.exp(2.0 * params[0]))

    def median(self, eta, params):
        return jnp.exp(eta)


@dataclass(frozen=True)
class LogLogistic(_Survival):
    ancillary = ("ln_gamma",)
    aft = True

    def _z(self, t, eta, params):
        return (jnp.log(t) - eta) * jnp.exp(-params[0])

    def log_hazard(self, t, eta, params):
        return log_sigmoid(self._z(t, eta, params)) - params[0] - jnp.log(t)

    def log_survival(self, t, eta, params):
        return log_sigmoid(-self._z(t, eta, params))

    def mean(self, eta, params):
        """``exp(eta) pi gamma / sin(pi gamma)`` for ``gamma < 1``, else infinite."""
        g = jnp.exp(params[0])
        safe = jnp.minimum(g, 0.5)
        return jnp.where(g < 1.0, jnp.exp(eta) * jnp.pi * g / jnp.sin(jnp.pi * jnp.where(g < 1.0, g, safe)), jnp.inf)

    def median(self, eta, params):
        return jnp.exp(eta)


@dataclass(frozen=True)
class GammaAFT(_Survival):
    ancillary = ("logs",)
    aft = True

    def _shape_x(self, t, eta, params):
        k = jnp.exp(-params[0])
        return k, t * k * jnp.exp(-eta)

    def log_hazard(self, t, eta, params):
        from .incgamma import log_gammaincc

        k, x = self._shape_x(t, eta, params)
        log_f = k * jnp.log(x) - x - gammaln(k) - jnp.log(t)
        return log_f - log_gammaincc(k, x)

    def log_survival(self, t, eta, params):
        from .incgamma import log_gammaincc

        return log_gammaincc(*self._shape_x(t, eta, params))

    def mean(self, eta, params):
        return jnp.exp(eta)


@partial(jax.jit, static_argnames=("family", "what"))
def evaluate(family: _Survival, what: str, *args):
    """``family.<what>(*args)`` compiled (``log_hazard``, ``log_survival``, ``median``, ``mean``, ``logpdf``):
    one program instead of one dispatch per operation."""
    return getattr(family, what)(*args)


SURVIVAL = {"exponential": Exponential, "exponential_aft": ExponentialAFT, "weibull": Weibull,
            "weibull_aft": WeibullAFT, "gompertz": Gompertz, "lognormal": LogNormal, "loglogistic": LogLogistic,
            "gamma_aft": GammaAFT}
