"""Profiled ML / REML deviance of a linear mixed model as a pure function of theta.

For relative covariance factor ``Lambda(theta)`` the penalized system is factored blockwise (see
``mixjax.linalg.crossprod``): per level of term 1, ``D_g = T1' D0_g T1 + I = Ld_g Ld_g'``; the rest is the Schur
complement ``S = Lr' (A_rr - sum_g C0_g' T1 D_g^{-1} T1' C0_g) Lr + I_zr = L L'`` (``Lr``: the rest's block of
Lambda; identity for X and y). With ``r = L[-1, -1]`` (so ``r^2`` is the penalized residual sum of squares),
``log|L_theta|^2 = sum_g log|D_g| + 2 sum log diag(L)[:qr]``, and

    ML:   d(theta) = log|L_theta|^2 - log|W| + n (1 + log(2 pi r^2 / n))
    REML: d(theta) = log|L_theta|^2 + log|L_X|^2 - log|W| + (n - p) (1 + log(2 pi r^2 / (n - p)))

exactly lme4's ``devfun``. Cost per evaluation is independent of n.

The compiled functions are module-level and take the arrays (``LmmData``) as arguments and the structure
(``LmmSpec``, hashable) as a static argument: fits with the same shapes reuse one compilation, and no data is
baked into the compiled program. ``objective.fn(theta, data)`` is that pure function; ``objective.data_with(y=...,
weights=...)`` gives the cross-products of another response or other prior weights as a pure JAX function of them
(``mixjax.linalg.crossprod.device_crossproducts``), so ``jax.vmap`` over responses and ``jax.grad`` in the weights
are plain JAX.
"""
from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._config import jit
from .._exported import DiskCached
from ..design import Design
from ..linalg.crossprod import (
    NO_LEVELS,
    CrossProducts,
    Rows,
    crossproducts,
    device_crossproducts,
    engine_terms,
    heavy_rows,
    response_blocks,
    rest_layout,
)
from ..linalg.crossprod import rows as design_rows
from ..linalg.schur_logdet import schur_logdet, schur_terms
from ..linalg.small import cholesky_small, tril_inverse_small
from ..optim import trust_region
from ..optim.implicit import argmin
from ..optim.newton import Solution, held_solution, solution, start
from . import lmm_scalar
from .lmm_buckets import pad

__all__ = ["LmmObjective", "LmmSpec", "LmmData", "make_lmm", "Factor", "with_data", "deviance_sigma"]

# the programs work on the cross-products, not per observation: the classic CPU emitters compile them in half the
# time and run them as fast at every size (``mixjax._config``)
_jit = partial(jit, static_argnames="spec", classic_below=math.inf)


class LmmSpec(NamedTuple):
    """Static structure: ``covs`` the covariance structure per term, ``layout`` (offset, levels, k) of the rest
    terms, sizes."""

    covs: tuple
    layout: tuple
    nr: int
    qr: int
    p: int
    reml: bool | None  # None: read from ``LmmData.reml`` at run time (size buckets: one program for REML and ML)

    @property
    def ks(self) -> tuple:
        return tuple(c.k for c in self.covs)

    @property
    def n_theta(self) -> int:
        return sum(c.n_theta for c in self.covs)


class LmmData(NamedTuple):
    """Device arrays of the cross-products (see ``CrossProducts``), ``n``, ``log|W|`` and ``p`` as scalars."""

    D0: jax.Array
    A_low: jax.Array
    Cxy: jax.Array
    eg: jax.Array
    ej: jax.Array
    ev: jax.Array
    pg: jax.Array
    ptarget: jax.Array
    pval: jax.Array
    n: jax.Array
    log_det_w: jax.Array
    p: jax.Array  # the number of fixed effects, a scalar: REML's ``n - p`` (the shapes may be padded: ``lmm_buckets``)
    reml: jax.Array  # 1.0 for REML, 0.0 for ML, a scalar (read where ``LmmSpec.reml`` is None: ``reml_weight``)
    hg: jax.Array = NO_LEVELS  # heavy levels of term 1, whose pairs are not listed (``crossprod.heavy_levels``)
    hrow: jax.Array = NO_LEVELS  # each entry's row among them


class Factor(NamedTuple):
    """The factored system at one theta: ``Ld`` (l1, k1, k1), ``T1`` (k1, k1), rest factors ``Tr``, ``L`` (nr, nr)."""

    Ld: jax.Array
    T1: jax.Array
    Tr: tuple
    L: jax.Array


def _factors(theta, covs):
    """Each term's ``T`` from its slice of theta (``covs``: the terms' covariance structures)."""
    out, start = [], 0
    for cov in covs:
        out.append(cov.factor(theta[start : start + cov.n_theta]))
        start += cov.n_theta
    return out


def _scale_rest(G, Tr, layout):
    """``G Lr`` for the rest's block of Lambda (column blocks of levels x k times T_t)."""
    nr = G.shape[0]
    pieces, end = [], 0
    for (off, lt, kt), T in zip(layout, Tr):
        pieces.append((G[:, off : off + lt * kt].reshape(nr, lt, kt) @ T).reshape(nr, lt * kt))
        end = off + lt * kt
    pieces.append(G[:, end:])
    return jnp.concatenate(pieces, axis=1)


def _system(theta, data: LmmData, spec: LmmSpec):
    """Per-level Cholesky factors ``Ld`` of block 1 and the rest's Schur complement ``S``, of which only the
    lower triangle is meaningful (``S`` is symmetric; the upper triangle may hold zeros)."""
    T1, *Tr = _factors(theta, spec.covs)
    k1 = spec.ks[0]
    D = jnp.einsum("ji,gjk,kl->gil", T1, data.D0, T1) + jnp.eye(k1)
    Ld = cholesky_small(D)
    M = tril_inverse_small(Ld) @ T1.T  # Ld^{-1} T1'
    V = jnp.einsum("gai,gaj->gij", M, M)  # T1 D^{-1} T1'
    nr, qr = spec.nr, spec.qr
    W = jnp.einsum("gai,gab,gbj->ij", data.Cxy, V, data.Cxy)  # (X y) x (X y): dense contraction
    if qr:  # products with the other terms' columns: sums over the coupling's nonzeros
        U = jnp.einsum("eab,eb->ea", V[data.eg], data.ev)
        W_zx = jax.ops.segment_sum(jnp.einsum("eai,ea->ei", data.Cxy[data.eg], U), data.ej, num_segments=qr)
        contrib = jnp.einsum("pab,pab->p", data.pval, V[data.pg])
        W_zz = jax.ops.segment_sum(contrib, data.ptarget, num_segments=qr * qr).reshape(qr, qr)
        if data.hg.shape[0]:  # heavy levels: their dense coupling rows, one matrix product (full: tril below)
            Ch = heavy_rows(data.ev, data.ej, data.hg, data.hrow, qr)
            W_zz = W_zz + jnp.einsum("hia,hab,hjb->ij", Ch, V[data.hg], Ch)
        W = jnp.block([[W_zz, jnp.zeros((qr, nr - qr))], [W_zx.T, W]])
    G = data.A_low - jnp.tril(W)
    eye_zr = jnp.diag((jnp.arange(nr) < spec.qr).astype(G.dtype))
    if all(kt == 1 for _, _, kt in spec.layout):  # diagonal Lr: scale the lower triangle elementwise
        s = jnp.concatenate([jnp.repeat(T[0, 0], lt) for (_, lt, _), T in zip(spec.layout, Tr)] + [jnp.ones(nr - spec.qr)])
        return Ld, G * jnp.outer(s, s) + eye_zr
    G = G + jnp.tril(G, -1).T
    return Ld, _scale_rest(_scale_rest(G, Tr, spec.layout).T, Tr, spec.layout) + eye_zr


def reml_weight(data: LmmData, spec: LmmSpec):
    """1.0 for REML, 0.0 for ML: the spec's where it says (known when tracing), else the data's (run time)."""
    return data.reml if spec.reml is None else float(spec.reml)


def _parts(theta, data: LmmData, spec: LmmSpec, terms=schur_terms):
    """(log-determinant term, degrees of freedom, ``r^2``) of the deviance at theta."""
    Ld, S = _system(theta, data, spec)
    log_det_zz, log_det_xx, r2 = terms(S, spec.qr, spec.p)
    log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(Ld, axis1=1, axis2=2))) + log_det_zz - data.log_det_w
    w = reml_weight(data, spec)
    return log_det + w * log_det_xx, data.n - w * data.p, r2


def _deviance(theta, data: LmmData, spec: LmmSpec, terms=schur_terms):
    log_det, dof, r2 = _parts(theta, data, spec, terms)
    return log_det + dof * (1.0 + jnp.log(2.0 * jnp.pi * r2 / dof))


@_jit
def deviance_sigma(theta, sigma, data: LmmData, spec: LmmSpec):
    """The deviance at theta and the residual SD ``sigma``, not profiled (lmerTest's ``devfun_vp``): equal to the
    profiled deviance where ``sigma^2 = r^2 / dof``."""
    log_det, dof, r2 = _parts(theta, data, spec)
    return log_det + r2 / sigma**2 + dof * jnp.log(2.0 * jnp.pi * sigma**2)


@_jit
def deviance(theta, data: LmmData, spec: LmmSpec):
    """The profiled deviance (plain autodiff: forward and reverse mode, any order)."""
    return _deviance(theta, data, spec)


def forward_over_reverse(fn, x, *args):
    """Value, gradient and Hessian of ``fn(x, *args)`` from one forward-over-reverse pass (value and gradient ride
    along as its primal: one copy of the program, half the compile time of three separate traces)."""
    def grad_and_value(t):
        f, g = jax.value_and_grad(fn)(t, *args)
        return g, (f, g)

    H, (f, g) = jax.jacfwd(grad_and_value, has_aux=True)(x)
    return f, g, H


@_jit
def value_grad_hess(theta, data: LmmData, spec: LmmSpec):
    """Value, gradient and Hessian of the deviance (``forward_over_reverse``)."""
    return forward_over_reverse(_deviance, theta, data, spec)


@_jit
def newton(theta0, lower, radius0, max_iter, index, data: LmmData, spec: LmmSpec) -> trust_region.State:
    """The whole trust-region Newton minimization of the deviance from ``theta0``, as one compiled loop, over the
    entries ``index`` of theta (the others held at 0)."""
    n = spec.n_theta

    def vgh(x, aux):
        f, g, H = value_grad_hess(jnp.zeros(n, x.dtype).at[index].set(x), data, spec)
        return f, g[index], H[index][:, index], aux

    return trust_region.loop(vgh, theta0, lower, radius0, max_iter=max_iter)[0]


_VALUE_GRAD_HESS = DiskCached(value_grad_hess)  # a new process loads them instead of tracing
_NEWTON = DiskCached(newton, notice="the LMM fit")


@_jit
def value_grad(theta, data: LmmData, spec: LmmSpec):
    """Value and gradient through the cheaper reverse-mode rule of ``schur_logdet``; where every term has one
    column, through the hand-derived pass of ``lmm_scalar`` (cheaper still)."""
    if lmm_scalar.all_scalar(spec):
        return lmm_scalar.value_grad(theta, data, spec)
    return jax.value_and_grad(partial(_deviance, terms=schur_logdet))(theta, data, spec)


@_jit
def factor(theta, data: LmmData, spec: LmmSpec) -> Factor:
    T1, *Tr = _factors(theta, spec.covs)
    Ld, S = _system(theta, data, spec)
    S = jnp.tril(S) + jnp.tril(S, -1).T  # symmetric, so that the factor's derivative is right (only the lower
    # triangle of ``S`` is meaningful)
    return Factor(Ld, T1, tuple(Tr), jax.lax.linalg.cholesky(S, symmetrize_input=False))


def with_data(data: LmmData, rows: Rows, spec: LmmSpec, y=None, weights=None) -> LmmData:
    """``data`` for the response ``y`` and/or prior ``weights`` (n,) instead of the design's: pure JAX (jit, vmap
    and differentiate it). A new response changes only the response blocks; new weights change everything."""
    if y is None and weights is None:
        return data
    if rows is None:
        raise ValueError("a new response or new weights need the rows behind the cross-products, which a model with "
                         "a known covariance over the levels (relmat=) does not keep; fit the model again instead.")
    y = rows.y if y is None else jnp.asarray(y, dtype=jnp.float64)
    w = rows.weights if weights is None else jnp.asarray(weights, dtype=jnp.float64)
    r, l1 = rows._replace(y=y, weights=w), data.D0.shape[0]
    if weights is None:
        z1y, ay = response_blocks(r, l1, spec.qr)
        return data._replace(Cxy=jnp.asarray(data.Cxy).at[:, :, -1].set(z1y), A_low=jnp.asarray(data.A_low).at[-1].set(ay))
    D0, A_low, Cxy, ev, pval, log_det_w = device_crossproducts(r, l1, spec.qr, data.ev.shape[0])
    return data._replace(D0=D0, A_low=A_low, Cxy=Cxy, ev=ev, pval=pval, log_det_w=log_det_w)


def _array(x):
    """Parameters as given (a JAX array or tracer: unchanged, so that transformations see them) or as float64."""
    return x if isinstance(x, jax.Array) else np.asarray(x, dtype=np.float64)


class LmmObjective(NamedTuple):
    """The profiled deviance of one design as a pure function ``fn(theta, data)`` of theta and the cross-products
    ``data`` (``LmmData``); ``deviance(theta) = fn(theta, self.data)``. Both work under ``jax.jit``, ``grad``,
    ``hessian`` and ``vmap``; ``data_with(y=..., weights=...)`` gives ``data`` for another response or other prior
    weights (pure JAX too). ``value_grad_hess(theta)`` returns value, gradient and Hessian in one compiled call;
    ``value_grad(theta)`` value and gradient through a cheaper reverse-mode rule for the dense Schur complement;
    ``factor(theta)`` the factorization. ``lower``, ``start`` and ``names`` describe theta; ``rows`` are the
    rows behind ``data`` (None with a known covariance over the levels: ``relmat=``)."""

    data: LmmData
    spec: LmmSpec
    rows: Rows
    lower: np.ndarray
    start: np.ndarray
    names: list
    programs: dict  # compiled programs resolved once per objective (``_VALUE_GRAD_HESS``)

    @property
    def reml(self) -> bool:
        return self.spec.reml

    @property
    def layout(self) -> tuple:
        return self.spec.layout

    @property
    def fn(self):
        """``fn(theta, data)``: the deviance as a pure function of theta and the data pytree."""
        return partial(deviance, spec=self.spec)

    def data_with(self, y=None, weights=None) -> LmmData:
        return with_data(self.data, self.rows, self.spec, y, weights)

    def deviance(self, theta):
        return deviance(_array(theta), self.data, self.spec)

    def bucketed(self) -> tuple[LmmData, LmmSpec]:
        """``(data, spec)`` padded to size buckets where the model is small (``lmm_buckets``: every number the
        same, one compiled program for every model of the same structure and buckets), else ``(data, spec)``."""
        if self.programs.get("bucketed_from") is not self.data:  # the objective's data may be replaced
            self.programs.clear()
            self.programs["bucketed"] = pad(self.data, self.spec) or (self.data, self.spec)
            self.programs["bucketed_from"] = self.data
        return self.programs["bucketed"]

    def _program(self, name: str, cached: DiskCached, *args):
        """``cached``'s program for ``(*args, data)`` on the bucketed data (resolved once per objective), called."""
        data, spec = self.bucketed()
        if name not in self.programs:
            self.programs[name] = cached.program(*args, data, spec=spec)
            self.programs["leaves"] = jax.tree_util.tree_leaves(data)
        return self.programs[name](*args, *self.programs["leaves"])

    def value_grad_hess(self, theta):
        return self._program("vgh", _VALUE_GRAD_HESS, np.asarray(theta, dtype=np.float64))

    def minimize(self, theta0, *, radius0: float | None = None, max_iter: int = 300, index=None) -> Solution:
        """Trust-region Newton on the exact gradient and Hessian from ``theta0`` (``mixjax.optim.trust_region``),
        one compiled call. ``radius0``: the first trust radius (default ``max(1, |theta0|)``); ``index``: minimize
        over these entries of theta only, the others held at 0 (``theta0`` and the solution are those entries)."""
        index = np.arange(len(self.lower)) if index is None else np.asarray(index)
        if index.size == 0:  # no covariance parameter to estimate (all held: fix=)
            return held_solution(np.zeros(0), float(self.deviance(np.zeros(len(self.lower)))))
        lower = self.lower[index]
        theta0, radius0 = start(theta0, lower, radius0)
        state = self._program("newton", _NEWTON, theta0, lower, radius0, np.int32(max_iter), index)
        return solution(state, lower, max_iter)

    def value_grad(self, theta):
        return value_grad(_array(theta), self.data, self.spec)

    def factor(self, theta) -> Factor:
        return factor(_array(theta), self.data, self.spec)

    def argmin(self, data: LmmData, start=None):
        """The minimizing theta for ``data`` (e.g. ``data_with(weights=w)``): the compiled Newton loop from
        ``start`` (default ``self.start``), differentiable in ``data`` by the implicit function theorem
        (``mixjax.optim.implicit``; theta entries held at 0 have derivative 0)."""
        x0 = np.maximum(self.start if start is None else np.asarray(start, dtype=np.float64), self.lower)
        index, radius0 = np.arange(self.spec.n_theta), max(1.0, float(np.linalg.norm(x0)))
        solve = lambda d: newton(x0, self.lower, radius0, np.int32(300), index, d, self.spec).x  # noqa: E731
        return argmin(solve, self.fn, self.lower)(data)


DEVICE_PUT_BYTES = 1 << 20  # smaller data stays in numpy: copying it per call costs less than device_put once


def make_lmm(design: Design, reml: bool = True, cp: CrossProducts | None = None) -> LmmObjective:
    """Build the profiled deviance of ``design``. ``cp`` may be passed to reuse cross-products."""
    cp = crossproducts(design) if cp is None else cp
    layout = tuple(rest_layout(design))
    spec = LmmSpec(
        covs=tuple(t.cov for t in engine_terms(design)),
        layout=layout,
        nr=cp.A_low.shape[0],
        qr=sum(lt * kt for _, lt, kt in layout),
        p=design.p,
        reml=bool(reml),
    )
    data = LmmData(cp.D0, cp.A_low, cp.Cxy, cp.eg, cp.ej, cp.ev, cp.pg, cp.ptarget, cp.pval, np.float64(cp.n_obs),
                   np.float64(cp.log_det_w), np.float64(design.p), np.float64(bool(reml)), cp.hg, cp.hrow)
    if sum(np.asarray(a).nbytes for a in data) > DEVICE_PUT_BYTES:  # on the device once, not copied per call
        data = LmmData(*jax.device_put(tuple(data)))
    related = any(t.relfactor is not None for t in design.terms)
    return LmmObjective(data, spec, None if related else design_rows(design, cp), design.theta_lower,
                        design.theta_start, design.theta_names, {})
