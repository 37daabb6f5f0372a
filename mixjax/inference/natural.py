"""A fit's deviance in the parameters people report (lme4's profile parametrization): the fixed effects, each
random-effects term's standard deviations and correlations in ``varcorr``'s order, the residual SD (LMM), then the
GLMM family's own parameters. Likelihood profiles and Wald intervals of variance parameters are computed on it.

LMM: ``D(beta, s, sigma) = log|L_theta|^2 - log|W| + r^2(beta) / sigma^2 + n log(2 pi sigma^2)``, the ML
deviance not profiled in beta or sigma (``theta`` from the SDs and correlations divided by sigma), with ``r^2(beta)``
the penalized residual sum of squares at ``beta``: the Schur complement's columns ``(X, y)`` become ``y - X beta``. GLMM: the Laplace or quadrature deviance at ``psi = (theta, beta, family parameters)``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..covariance import Unstructured
from ..linalg.schur_logdet import schur_terms
from ..objectives.glmm import deviance as glmm_deviance
from ..objectives.lmm import _system, deviance_sigma

__all__ = ["GlmmDeviance", "LmmDeviance", "Natural", "natural", "variance_deviance"]


class Natural(NamedTuple):
    """``names`` and ``kinds`` (``fixed``, ``sd``, ``cor``, ``sigma``, ``family``) of the parameters ``phi`` at the
    optimum, their ``lower`` bounds, and ``fn(phi, data) = -2 log L`` (pure JAX; ``fn`` is hashable, so compiled
    programs that take it as a static argument serve every fit of the same structure). Family parameters are
    nuisance parameters: not profiled, not reported."""

    names: list
    kinds: list
    phi: np.ndarray
    lower: np.ndarray
    fn: Callable
    data: object

    def deviance(self, phi):
        return self.fn(phi, self.data)


class LmmDeviance(NamedTuple):
    """The LMM's ML deviance in ``phi = (beta, SDs and correlations, sigma)``."""

    spec: object
    p: int
    nvc: int

    def __call__(self, phi, data):
        p, nvc, spec, qr = self.p, self.nvc, self.spec, self.spec.qr
        beta, sigma = phi[:p], phi[p + nvc]
        Ld, S = _system(_theta(phi[p : p + nvc], sigma, spec.ks), data, spec)
        S = jnp.tril(S) + jnp.tril(S, -1).T
        M = jnp.zeros((qr + p + 1, qr + 1)).at[:qr, :qr].set(jnp.eye(qr)).at[qr:-1, -1].set(-beta).at[-1, -1].set(1.0)
        log_det_zz, _, pwrss = schur_terms(M.T @ S @ M, qr, 0)  # the rest's columns with y - X beta
        log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(Ld, axis1=1, axis2=2))) + log_det_zz - data.log_det_w
        return log_det + pwrss / sigma**2 + data.n * jnp.log(2 * jnp.pi * sigma**2)


class GlmmDeviance(NamedTuple):
    """The GLMM's deviance in ``phi = (beta, SDs and correlations, family parameters)``."""

    spec: object
    p: int
    nvc: int

    def __call__(self, phi, data):
        p, nvc = self.p, self.nvc
        psi = jnp.concatenate([_theta(phi[p : p + nvc], 1.0, self.spec.ks), phi[:p], phi[p + nvc :]])
        return glmm_deviance(psi, data, self.spec)


def variance_names(fit) -> tuple[list, list]:
    """Names (``"{group}: sd({var})"``, ``"{group}: cor({var1}, {var2})"``) and kinds (``sd``, ``cor``) of the
    random-effect SDs and correlations, in ``varcorr``'s order."""
    names, kinds = [], []
    for g, v1, v2 in zip(fit.varcorr.group, fit.varcorr.var1, fit.varcorr.var2):
        if g != "Residual":
            names.append(f"{g}: sd({v1})" if pd.isna(v2) else f"{g}: cor({v1}, {v2})")
            kinds.append("sd" if pd.isna(v2) else "cor")
    return names, kinds


def _theta(vc, sigma, ks):
    """theta (lme4's, per term column by column) from each term's SDs then correlations (varcorr's order)."""
    out, start = [], 0
    for k in ks:
        n_cor = k * (k - 1) // 2
        sd, cor = vc[start : start + k], vc[start + k : start + k + n_cor]
        start += k + n_cor
        if k == 1:
            out.append(sd / sigma)
            continue
        rows, cols = zip(*[(i, j) for j in range(k) for i in range(j + 1, k)])
        R = jnp.eye(k).at[rows, cols].set(cor).at[cols, rows].set(cor)
        T = jnp.linalg.cholesky(sd[:, None] * R * sd[None, :]) / sigma
        tr, tc = zip(*[(i, j) for j in range(k) for i in range(j, k)])
        out.append(T[tr, tc])
    return jnp.concatenate(out)


def _vc_values(fit) -> np.ndarray:
    vc = fit.varcorr
    return vc.sdcor[vc.group != "Residual"].to_numpy(dtype=float)


def plain(fit) -> bool:
    """Whether the fit is in lme4's parametrization: unstructured covariances, independent residuals."""
    return getattr(fit, "residual", None) is None and all(isinstance(t.cov, Unstructured) for t in fit.design.terms)


def check_unstructured(fit, what: str) -> None:
    if not plain(fit):
        raise ValueError(f"{what} is available for unstructured random-effect covariances and independent residuals; "
                         "this fit has a covariance structure or a residual structure. Use confint(method='wald') "
                         "for the fixed effects, or compare fits with mixjax.anova.")


def natural(fit) -> Natural:
    """The natural parametrization of an LMM (refitted by ML if it was fitted by REML: lme4 profiles the ML
    deviance) or a GLMM."""
    check_unstructured(fit, "profiling")
    vc_names, vc_kinds = variance_names(fit)
    fixed, nvc = list(fit.fixef.index), len(vc_names)
    sd_lower = np.where(np.array(vc_kinds) == "sd", 0.0, -np.inf)
    if hasattr(fit, "refit_ml"):
        ml = fit.refit_ml()
        p = ml.design.p
        phi = np.concatenate([ml.fixef.to_numpy(), _vc_values(ml), [ml.sigma]])
        return Natural(fixed + vc_names + ["Residual: sd"], ["fixed"] * p + vc_kinds + ["sigma"], phi,
                       np.concatenate([np.full(p, -np.inf), sd_lower, [0.0]]),
                       LmmDeviance(ml.objective.spec, p, nvc), ml.objective.data)
    obj, p, nt = fit.objective, fit.design.p, fit.design.n_theta
    fam = fit.solution.x[nt + p :]
    phi = np.concatenate([fit.fixef.to_numpy(), _vc_values(fit), fam])
    return Natural(fixed + vc_names + list(fit._family_names), ["fixed"] * p + vc_kinds + ["family"] * len(fam),
                   phi, np.concatenate([np.full(p, -np.inf), sd_lower, obj.lower[nt + p :]]),
                   GlmmDeviance(obj.spec, p, nvc), obj.data)


def variance_deviance(fit) -> tuple[Callable, np.ndarray, list, list]:
    """The fit's own criterion (REML or ML; beta profiled out for an LMM) as a function of the variance
    parameters on the scale of Stata's ``estat sd`` (log SDs, Fisher-z correlations, log residual SD), with those
    parameters at the optimum, their names and kinds. GLMMs: the deviance in (those, beta, family parameters)."""
    check_unstructured(fit, "Wald intervals of the variance parameters")
    names, kinds = variance_names(fit)
    nvc = len(names)
    obj = fit.objective
    ks = obj.spec.ks

    def natural_scale(u):
        return jnp.where(jnp.asarray([k == "cor" for k in kinds]), jnp.tanh(u[:nvc]), jnp.exp(u[:nvc]))

    vc = _vc_values(fit)
    with np.errstate(divide="ignore", invalid="ignore"):
        u_vc = np.where(np.array(kinds) == "cor", np.arctanh(vc), np.log(vc))
    if hasattr(fit, "refit_ml"):
        def D(u):
            sigma = jnp.exp(u[nvc])
            return deviance_sigma(_theta(natural_scale(u), sigma, ks), sigma, obj.data, obj.spec)

        return D, np.append(u_vc, np.log(fit.sigma)), names + ["Residual: sd"], kinds + ["sd"]
    nt = fit.design.n_theta

    def D(u):
        return obj.fn(jnp.concatenate([_theta(natural_scale(u), 1.0, ks), u[nvc:]]), obj.data)

    return D, np.concatenate([u_vc, fit.solution.x[nt:]]), names, kinds
