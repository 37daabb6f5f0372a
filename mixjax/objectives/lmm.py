"""Profiled ML / REML deviance of a linear mixed model as a pure function of theta.

For relative covariance factor ``Lambda(theta)`` the penalized system is factored blockwise (see
``mixjax.linalg.crossprod``): per level of term 1, ``D_g = T1' D0_g T1 + I = Ld_g Ld_g'``; the rest is the Schur
complement ``S = Lr' (A_rr - sum_g C0_g' T1 D_g^{-1} T1' C0_g) Lr + I_zr = L L'`` (``Lr``: the rest's block of
Lambda; identity for X and y). With ``r = L[-1, -1]`` (so ``r^2`` is the penalized residual sum of squares),
``log|L_theta|^2 = sum_g log|D_g| + 2 sum log diag(L)[:qr]``, and

    ML:   d(theta) = log|L_theta|^2 - log|W| + n (1 + log(2 pi r^2 / n))
    REML: d(theta) = log|L_theta|^2 + log|L_X|^2 - log|W| + (n - p) (1 + log(2 pi r^2 / (n - p)))

exactly lme4's ``devfun``. Cost per evaluation is independent of n.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from ..design import Design
from ..linalg.crossprod import CrossProducts, crossproducts, rest_layout

__all__ = ["LmmObjective", "make_lmm", "Factor"]


class Factor(NamedTuple):
    """The factored system at one theta: ``Ld`` (l1, k1, k1), ``T1`` (k1, k1), rest factors ``Tr``, ``L`` (nr, nr)."""

    Ld: jax.Array
    T1: jax.Array
    Tr: tuple
    L: jax.Array


class LmmObjective(NamedTuple):
    """``deviance(theta)`` is pure and jit-compiled; ``factor(theta)`` exposes the factorization; ``lower``,
    ``start`` and ``names`` describe theta. ``value_grad_hess(theta)`` returns all three in one compiled call."""

    deviance: object
    value_grad_hess: object
    factor: object
    lower: np.ndarray
    start: np.ndarray
    names: list
    reml: bool
    cp: CrossProducts
    layout: list


def _scale_rest(G, Tr, layout):
    """``G Lr`` for the rest's block of Lambda (column blocks of levels x k times T_t)."""
    nr = G.shape[0]
    pieces, end = [], 0
    for (off, lt, kt), T in zip(layout, Tr):
        block = G[:, off : off + lt * kt].reshape(nr, lt, kt) @ T
        pieces.append(block.reshape(nr, lt * kt))
        end = off + lt * kt
    pieces.append(G[:, end:])
    return jnp.concatenate(pieces, axis=1)


def _split_theta(theta, design: Design):
    out, start = [], 0
    for term in design.terms:
        out.append(term.cov.factor(theta[start : start + term.cov.n_theta]))
        start += term.cov.n_theta
    return out


def make_lmm(design: Design, reml: bool = True, cp: CrossProducts | None = None) -> LmmObjective:
    """Build the profiled deviance of ``design``. ``cp`` may be passed to reuse cross-products."""
    cp = crossproducts(design) if cp is None else cp
    layout = rest_layout(design)
    nr = cp.A_low.shape[0]
    qr = sum(lt * kt for _, lt, kt in layout)
    p, n = design.p, cp.n_obs
    D0, A_low = jnp.asarray(cp.D0), jnp.asarray(cp.A_low)
    pg, ptarget, pval = jnp.asarray(cp.pg), jnp.asarray(cp.ptarget), jnp.asarray(cp.pval)
    k1 = D0.shape[1]
    eye_zr = jnp.concatenate([jnp.ones(qr), jnp.zeros(nr - qr)])

    def factor(theta) -> Factor:
        T1, *Tr = _split_theta(theta, design)
        D = jnp.einsum("ji,gjk,kl->gil", T1, D0, T1) + jnp.eye(k1)
        Ld = jnp.linalg.cholesky(D)
        M = solve_triangular(Ld, jnp.broadcast_to(T1.T, D.shape), lower=True)  # Ld^{-1} T1'
        V = jnp.einsum("gai,gaj->gij", M, M)  # T1 D^{-1} T1'
        contrib = jnp.einsum("pab,pab->p", pval, V[pg])
        G = A_low - jax.ops.segment_sum(contrib, ptarget, num_segments=nr * nr).reshape(nr, nr)
        G = G + G.T - jnp.diag(jnp.diag(G))
        S = _scale_rest(_scale_rest(G, Tr, layout).T, Tr, layout) + jnp.diag(eye_zr)
        return Factor(Ld, T1, tuple(Tr), jnp.linalg.cholesky(S))

    def deviance(theta):
        f = factor(theta)
        d = jnp.diagonal(f.L)
        log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(f.Ld, axis1=1, axis2=2))) + 2.0 * jnp.sum(jnp.log(d[:qr]))
        r2 = d[-1] ** 2
        if reml:
            dof = n - p
            log_det = log_det + 2.0 * jnp.sum(jnp.log(d[qr : qr + p]))
        else:
            dof = n
        return log_det - cp.log_det_w + dof * (1.0 + jnp.log(2.0 * jnp.pi * r2 / dof))

    grad = jax.grad(deviance)

    def value_grad_hess(theta):
        return deviance(theta), grad(theta), jax.jacfwd(grad)(theta)

    return LmmObjective(
        deviance=jax.jit(deviance),
        value_grad_hess=jax.jit(value_grad_hess),
        factor=jax.jit(factor),
        lower=design.theta_lower,
        start=design.theta_start,
        names=design.theta_names,
        reml=reml,
        cp=cp,
        layout=layout,
    )
