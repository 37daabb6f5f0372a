"""The profiled deviance of a linear mixed model whose residuals are correlated or heteroscedastic (nlme's
``correlation=`` and ``weights=``), as a pure function of ``x = (theta, rho)``.

With residual covariance ``sigma^2 Lambda(rho)`` (``mixjax.residual``), the rows ``[X y Z]`` are whitened,
``Lambda^{-1/2} [X y Z]``, and the model is an LMM with identity residuals whose deviance gains ``log|Lambda|``:
the cross-products of the whitened rows (``device_crossproducts``, O(n) per evaluation) go into the profiled
deviance of ``mixjax.objectives.lmm`` unchanged, with ``-log|Lambda|`` in place of ``log|W|``. sigma stays
profiled. The correlation groups lie within the levels of every random-effects term (checked when bound), so the
whitened ``Z`` keeps each term's pattern. Markov correlations without a variance function take a shortcut: the
whitened cross-products are fixed combinations of lag statistics summed once (``mixjax.objectives.lmm_lags``), so
that an evaluation is sized by levels, not rows. The identity-residual path (``make_lmm``) does not come here.
"""
from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._config import jit
from ..linalg.crossprod import Rows, device_crossproducts
from ..optim import trust_region
from ..optim.newton import Solution, held_solution, solution, start
from ..residual import Arrays, Bound, whiten
from .lmm import LmmData, LmmObjective, LmmSpec, _deviance, forward_over_reverse
from .lmm_lags import MAX_CLASSES, LagStats, host_lag_stats, lag_classes, lag_data, lag_stats

__all__ = ["ResidualSpec", "ResidualData", "ResidualObjective", "make_residual", "lmm_data"]

_jit = partial(jit, static_argnames="spec", classic_below=math.inf)


class ResidualSpec(NamedTuple):
    lmm: LmmSpec
    bound: Bound
    l1: int
    n_entries: int
    lags: bool = False  # the data carry lag statistics (``lmm_lags``)

    @property
    def n_theta(self) -> int:
        return self.lmm.n_theta

    @property
    def n_x(self) -> int:
        return self.lmm.n_theta + self.bound.n_params


class ResidualData(NamedTuple):
    """The unwhitened ``rows`` (prior weights in ``rows.weights``), the structures' ``arrays`` and the index arrays
    of the cross-products (``LmmData``'s ``eg``, ``ej``, ``pg``, ``ptarget``) with ``n``; ``lags``: the lag
    statistics of a Markov correlation (``spec.lags``), else None."""

    rows: Rows
    arrays: Arrays
    eg: jax.Array
    ej: jax.Array
    pg: jax.Array
    ptarget: jax.Array
    n: jax.Array
    lags: LagStats | None = None


def lmm_data(x, data: ResidualData, spec: ResidualSpec) -> LmmData:
    """The cross-products of the rows whitened at ``x``'s residual parameters (pure JAX)."""
    if spec.lags:
        b = spec.bound
        a = b.correlation.lag(x[spec.n_theta :], data.lags.gaps, b.m)
        index = LmmData(None, None, None, data.eg, data.ej, None, data.pg, data.ptarget, None, data.n, None,
                        float(spec.lmm.p), float(spec.lmm.reml))
        return lag_data(a, data.lags, index)
    r = data.rows
    p, k1 = r.X.shape[1], r.Z1.shape[1]
    sw = jnp.sqrt(r.weights)[:, None]
    E = jnp.concatenate([r.X, r.y[:, None], r.Z1, r.Zr], axis=1) * sw
    E, log_det = whiten(x[spec.n_theta :], E, data.arrays, spec.bound)
    white = r._replace(X=E[:, :p], y=E[:, p], Z1=E[:, p + 1 : p + 1 + k1], Zr=E[:, p + 1 + k1 :],
                       weights=jnp.ones_like(r.weights))
    D0, A_low, Cxy, ev, pval, _ = device_crossproducts(white, spec.l1, spec.lmm.qr, spec.n_entries)
    return LmmData(D0, A_low, Cxy, data.eg, data.ej, ev, data.pg, data.ptarget, pval, data.n,
                   jnp.sum(jnp.log(r.weights)) - log_det, float(spec.lmm.p), float(spec.lmm.reml))


_lmm_data = _jit(lmm_data)
_lag_stats = jit(lag_stats, static_argnames="sizes", classic_below=math.inf)


def _full_deviance(x, data: ResidualData, spec: ResidualSpec):
    return _deviance(x[: spec.n_theta], lmm_data(x, data, spec), spec.lmm)


@_jit
def deviance(x, data: ResidualData, spec: ResidualSpec):
    return _full_deviance(x, data, spec)


_VARYING = ("D0", "A_low", "Cxy", "ev", "pval", "log_det_w")  # the cross-products that move with rho


def _taylor_vgh(x, data: ResidualData, spec: ResidualSpec):
    """Value, gradient and Hessian in ``(theta, rho)`` without differentiating the rows twice: the cross-products'
    first and second derivatives in rho are taken by forward mode over the rows (``1 + m + m (m + 1) / 2``
    passes for ``m`` residual parameters, nothing kept), and the deviance of their quadratic Taylor model in rho,
    whose derivatives at the point are exact to second order, is differentiated on the cross-products (sized by
    groups, not rows)."""
    nt = spec.n_theta
    rho = x[nt:]
    m = rho.shape[0]

    def parts(r):
        d = lmm_data(jnp.concatenate([x[:nt], r]), data, spec)
        return tuple(getattr(d, k) for k in _VARYING)

    eye = jnp.eye(m, dtype=x.dtype)
    c0 = parts(rho)
    c1 = [jax.jvp(parts, (rho,), (eye[i],))[1] for i in range(m)]
    c2 = {(i, j): jax.jvp(lambda r, i=i: jax.jvp(parts, (r,), (eye[i],))[1], (rho,), (eye[j],))[1]
          for i in range(m) for j in range(i, m)}

    def model(z):
        theta, s = z[:nt], z[nt:]
        c = list(c0)
        for i in range(m):
            c = [a + s[i] * b for a, b in zip(c, c1[i])]
        for (i, j), second in c2.items():
            w = 0.5 * s[i] * s[j] * (1.0 if i == j else 2.0)
            c = [a + w * b for a, b in zip(c, second)]
        fields = dict(zip(_VARYING, c))
        d = LmmData(fields["D0"], fields["A_low"], fields["Cxy"], data.eg, data.ej, fields["ev"], data.pg,
                    data.ptarget, fields["pval"], data.n, fields["log_det_w"], float(spec.lmm.p), float(spec.lmm.reml))
        return _deviance(theta, d, spec.lmm)

    return forward_over_reverse(model, jnp.concatenate([x[:nt], jnp.zeros(m, x.dtype)]))


@_jit
def value_grad_hess(x, data: ResidualData, spec: ResidualSpec):
    """Value, gradient and Hessian of the deviance: ``_taylor_vgh`` for variance functions and the Markov
    correlations (O(n) rows), plain forward-over-reverse on lag statistics (level-sized) and where groups are
    factored densely (XLA's CPU runtime was seen to stall on the Taylor program of the dense path: corCompSymm,
    corARMA(1, 1))."""
    plain = spec.lags or (spec.bound.correlation is not None and not spec.bound.markov)
    return forward_over_reverse(_full_deviance, x, data, spec) if plain else _taylor_vgh(x, data, spec)


@_jit
def newton(x0, lower, radius0, max_iter, index, hold, data: ResidualData, spec: ResidualSpec):
    """Trust-region Newton over the entries ``index`` of x, the others held at their values in ``hold``."""
    def vgh(z, aux):
        f, g, H = value_grad_hess(hold.at[index].set(z), data, spec)
        return f, g[index], H[index][:, index], aux

    return trust_region.loop(vgh, x0, lower, radius0, max_iter=max_iter)[0]


class ResidualObjective(NamedTuple):
    """The deviance in ``x = (theta, rho)``; ``free``: the entries of x the optimizer moves (the others are
    held: nlme's ``fixed = TRUE``); ``conditional(x)``: the plain ``LmmObjective`` of the rows whitened at x's
    rho (its deviance in theta is this one's at that rho: the fitted model's estimates come from it)."""

    data: ResidualData
    spec: ResidualSpec
    base: LmmObjective
    lower: np.ndarray
    start: np.ndarray
    names: list
    free: np.ndarray

    @property
    def reml(self) -> bool:
        return self.spec.lmm.reml

    @property
    def fn(self):
        return partial(deviance, spec=self.spec)

    def deviance(self, x):
        return deviance(np.asarray(x, dtype=np.float64), self.data, self.spec)

    def value_grad_hess(self, x):
        return value_grad_hess(np.asarray(x, dtype=np.float64), self.data, self.spec)

    def minimize(self, x0, *, radius0: float | None = None, max_iter: int = 300) -> Solution:
        """Newton from ``x0`` (all of x) over the free entries; the Solution is over all of x (held entries with
        gradient 0 and a unit Hessian row, so that they read as fixed)."""
        x0 = np.maximum(np.asarray(x0, dtype=np.float64), self.lower)
        index = np.flatnonzero(self.free)
        if index.size == 0:  # every parameter held: the deviance there
            return held_solution(x0, float(self.deviance(x0)))
        z0, radius0 = start(x0[index], self.lower[index], radius0)
        state = newton(z0, self.lower[index], radius0, np.int32(max_iter), index, x0, self.data, self.spec)
        s = solution(state, self.lower[index], max_iter)
        x, g, H = x0.copy(), np.zeros_like(x0), np.eye(len(x0))
        x[index], g[index] = s.x, s.grad
        H[np.ix_(index, index)] = s.hessian
        at_bound = np.zeros(len(x0), dtype=bool)
        at_bound[index] = s.at_bound
        return s._replace(x=x, grad=g, hessian=H, at_bound=at_bound)

    def conditional(self, x) -> LmmObjective:
        data = jax.device_get(_lmm_data(np.asarray(x, dtype=np.float64), self.data, self.spec))
        return self.base._replace(data=LmmData(*map(np.asarray, data)), programs={})


def make_residual(base: LmmObjective, bound: Bound, arrays: Arrays) -> ResidualObjective:
    """The residual-structure deviance of ``base``'s design (``base``: its identity-residual objective)."""
    d = base.data
    if len(d.hg):
        raise ValueError(f"residual structures are not available for this model: {len(d.hg)} levels of its first "
                         "random-effects term couple with so many columns of the others that their pairs are not "
                         "listed (mixjax.linalg.crossprod.PAIR_BUDGET); fit it with the default residuals.")
    spec = ResidualSpec(base.spec, bound, int(d.D0.shape[0]), int(d.ev.shape[0]))
    rows = Rows(*(np.asarray(a) for a in base.rows))
    data = ResidualData(rows, arrays, d.eg, d.ej, d.pg, d.ptarget, d.n)
    gaps, klass = lag_classes(np.asarray(arrays.gap))
    if bound.markov and bound.correlation is not None and not bound.variances and 0 < len(gaps) <= MAX_CLASSES:
        prev = np.asarray(arrays.prev)
        stats = (host_lag_stats(rows, prev, klass, gaps, spec.l1) if spec.lmm.qr == 0 else
                 _lag_stats(rows, prev, klass, gaps, (spec.l1, spec.lmm.qr, spec.n_entries)))
        spec, data = spec._replace(lags=True), data._replace(lags=stats)
    free = np.ones(spec.n_x, dtype=bool)
    rho0, names = [], list(bound.names)
    if bound.correlation is not None:
        rho0.append(bound.correlation.start(bound.m))
        free[base.spec.n_theta : base.spec.n_theta + bound.n_corr] = not bound.correlation.fixed
    start_at = base.spec.n_theta + bound.n_corr
    for f, strata in bound.variances:
        k = f.n_params(len(strata))
        rho0.append(f.start(len(strata)))
        free[start_at : start_at + k] = not f.fixed
        start_at += k
    x0 = np.concatenate([base.start, *rho0])
    lower = np.concatenate([base.lower, np.full(bound.n_params, -np.inf)])
    return ResidualObjective(data, spec, base, lower, x0, list(base.names) + names, free)
