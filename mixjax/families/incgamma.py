"""``log Q(a, x)``, the log of the upper regularized incomplete gamma function, differentiable to any order in both
``a`` and ``x`` (JAX's ``gammaincc`` has no second derivative in ``a``, which the exact Hessian of a gamma
survival likelihood needs), without loops (nested derivatives of loops compile slowly).

* ``x < a + 1 + 3 sqrt(a)``: the series ``P = x^a e^-x / Gamma(a + 1) sum_n x^n / ((a+1)...(a+n))`` (``SERIES``
  terms at once, summed in logs) and ``log Q = log(1 - P)`` (there ``Q`` is not small);
* otherwise ``Gamma(a, x) = int_0^inf e^-s h(s) ds`` after ``t = x + s / c``, ``c = 1 - (a - 1) / x``, which makes
  ``h`` flat at 0: Gauss-Laguerre with ``NODES`` points, in logs, so that the far upper tail keeps its digits.

The derivative in ``x`` is written out (a custom JVP), so that the nested derivatives in ``x`` of the Laplace
objective do not differentiate the expansions again (a gamma fit compiles in about 25 s instead of 75 s).
Accurate to about 2e-11 (relative to ``max(1, |log Q|)``) for ``0.05 <= a <= 300`` and every ``x > 0``; each
branch runs on inputs clamped to its own region so that the one not taken stays finite.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jax.scipy.special import gammaln, logsumexp

__all__ = ["log_gammaincc"]

SERIES = 240
NODES = 48
_S, _W = np.polynomial.laguerre.laggauss(NODES)
_N = np.arange(SERIES, dtype=float)


def _log_p_series(a, x):
    log_terms = _N * jnp.log(x)[..., None] - (gammaln(a[..., None] + _N + 1.0) - gammaln(a + 1.0)[..., None])
    return a * jnp.log(x) - x - gammaln(a + 1.0) + logsumexp(log_terms, axis=-1)


def _log_q_laguerre(a, x):
    c = 1.0 - (a - 1.0) / x
    s = _S / c[..., None]
    log_h = (a - 1.0)[..., None] * jnp.log(x[..., None] + s) - x[..., None] - s + _S - jnp.log(c)[..., None]
    return logsumexp(log_h + np.log(_W), axis=-1) - gammaln(a)


def log_gammaincc(a, x):
    """``log Q(a, x) = log(Gamma(a, x) / Gamma(a))`` for ``a > 0``, ``x > 0`` (arrays broadcast)."""
    a, x = jnp.broadcast_arrays(jnp.asarray(a, dtype=jnp.float64), jnp.asarray(x, dtype=jnp.float64))
    return _log_q(a, x)


@jax.custom_jvp
def _log_q(a, x):
    return _log_q_raw(a, x)


def _log_q_jvp(primals, tangents):
    """The derivative in ``x`` in closed form (minus the density over ``Q``); the one in ``a`` through the
    expansions only where ``a`` has a tangent: the Laplace objective's derivatives in the linear predictor (through
    ``x`` alone) stay small programs."""
    (a, x), (da, dx) = primals, tangents
    value = _log_q(a, x)
    out = jnp.zeros_like(value)
    if type(dx) is not SymbolicZero:
        out = out - jnp.exp((a - 1.0) * jnp.log(x) - x - gammaln(a) - value) * dx
    if type(da) is not SymbolicZero:
        out = out + jax.jvp(lambda s: _log_q_raw(s, x), (a,), (da,))[1]
    return value, out


_log_q.defjvp(_log_q_jvp, symbolic_zeros=True)


def _log_q_raw(a, x):
    edge = a + 1.0 + 3.0 * jnp.sqrt(a)
    series = x < edge
    xs = jnp.where(series, x, 0.5 * edge)
    xl = jnp.where(series, edge, x)
    return jnp.where(series, jnp.log1p(-jnp.exp(_log_p_series(a, xs))), _log_q_laguerre(a, xl))
