"""Satterthwaite's degrees of freedom for linear combinations of an LMM's fixed effects, as lmerTest computes them,
with exact derivatives.

The variance parameters are ``varpar = (theta, sigma)``. Their asymptotic covariance is ``A = 2 H^+``, with ``H``
the Hessian of the deviance in ``varpar`` (not profiled in sigma: lmerTest's ``devfun_vp``) and ``^+`` the
pseudo-inverse over eigenvalues above 1e-8. For a contrast ``l``, ``v(varpar) = l' C(varpar) l`` with ``C = sigma^2
(R_X' R_X)^{-1}`` the covariance of the fixed effects; its gradient ``g`` comes from the Jacobian of ``C``, and the
degrees of freedom are ``2 v^2 / (g' A g)``. lmerTest differentiates numerically (numDeriv); here ``H`` and the
Jacobian are JAX's exact derivatives. A test of several contrasts (an F test) follows lmerTest's ``contestMD``:
the contrasts are rotated to the eigenvectors of ``L C L'``, each gets its own degrees of freedom ``nu_m``, and the
F statistic's denominator degrees of freedom are ``2 E / (E - q)`` with ``E = sum nu_m / (nu_m - 2)``.
"""
from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

from .._config import jit
from .._exported import DiskCached
from ..objectives.lmm import deviance_sigma, factor

__all__ = ["Satterthwaite", "contrast_df", "f_test", "satterthwaite"]

EIGEN_TOL = 1e-8  # lmerTest's tolerance on the eigenvalues of the Hessian of the deviance in varpar


class Satterthwaite(NamedTuple):
    """``vcov`` (p, p) of the fixed effects, ``jacobian`` (n_varpar, p, p) of ``vcov`` in the variance parameters,
    ``varpar_vcov`` (n_varpar, n_varpar) their asymptotic covariance, ``hessian_eigenvalues`` of the deviance in
    them (all positive at a proper optimum)."""

    vcov: np.ndarray
    jacobian: np.ndarray
    varpar_vcov: np.ndarray
    hessian_eigenvalues: np.ndarray


def _vcov(varpar, data, spec):
    f = factor(varpar[:-1], data, spec)
    qr, p = spec.qr, spec.p
    Lx_inv = solve_triangular(f.L[qr : qr + p, qr : qr + p], jnp.eye(p), lower=True)
    return varpar[-1] ** 2 * Lx_inv.T @ Lx_inv


@partial(jit, static_argnames="spec", classic_below=math.inf)
def _derivatives(varpar, data, spec):
    """The Hessian of the deviance in ``varpar``, the fixed effects' covariance and its Jacobian (one program)."""
    H = jax.hessian(lambda v: deviance_sigma(v[:-1], v[-1], data, spec))(varpar)
    return H, _vcov(varpar, data, spec), jax.jacfwd(_vcov)(varpar, data, spec)


_DERIVATIVES = DiskCached(_derivatives)


def satterthwaite(objective, theta, sigma: float) -> Satterthwaite:
    """The pieces of Satterthwaite's approximation for an LMM at its optimum (``theta``, ``sigma``)."""
    varpar = np.append(np.asarray(theta, dtype=np.float64), sigma)
    data, spec = objective.bucketed()
    H, C, J = jax.device_get(_DERIVATIVES(varpar, data, spec=spec))
    p = objective.spec.p  # the real fixed effects come first in padded data (``lmm_buckets``)
    C, J = C[:p, :p], J[:p, :p]
    values, vectors = np.linalg.eigh((H + H.T) / 2)
    keep = values > EIGEN_TOL
    A = 2.0 * (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    return Satterthwaite(C, np.moveaxis(J, -1, 0), A, values)


def contrast_df(s: Satterthwaite, L: np.ndarray) -> np.ndarray:
    """Degrees of freedom of each row of ``L`` (m, p) as a single contrast."""
    L = np.atleast_2d(L)
    v = np.einsum("mi,ij,mj->m", L, s.vcov, L)
    g = np.einsum("mi,kij,mj->mk", L, s.jacobian, L)
    return 2.0 * v**2 / np.einsum("mk,kl,ml->m", g, s.varpar_vcov, g)


def f_ddf(nu: np.ndarray) -> float:
    """lmerTest's ``get_Fstat_ddf``: denominator degrees of freedom of an F statistic made of t statistics with
    degrees of freedom ``nu``."""
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < 1e-8):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    E = np.sum(nu / (nu - 2))
    return float(2 * E / (E - len(nu)))


def f_test(s: Satterthwaite, L: np.ndarray, beta: np.ndarray) -> tuple[float, int, float]:
    """(F, numerator df, denominator df) for ``L beta = 0`` (lmerTest's ``contestMD``)."""
    L = np.atleast_2d(L)
    d, P = np.linalg.eigh(L @ s.vcov @ L.T)
    d, P = d[::-1], P[:, ::-1]
    q = int(np.sum(d > max(np.sqrt(np.finfo(float).eps) * d[0], 0.0)))
    PtL = P[:, :q].T @ L
    F = float(np.sum((PtL @ beta) ** 2 / d[:q]) / q)
    return F, q, f_ddf(contrast_df(s, PtL))
