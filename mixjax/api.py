"""The public entry points: short compositions of parse -> design -> objective -> optimize -> result."""
from __future__ import annotations

import warnings

import numpy as np

from .design import Design, MixjaxWarning, build
from .objectives.lmm import make_lmm
from .optim import minimize
from .optim.lbfgs import minimize_lbfgs
from .results import LmmFit
from .start import moment_start

__all__ = ["lmm"]

DENSE_NEWTON_MAX = 64  # largest dense Schur block (rest columns) for which the exact autodiff Hessian is cheap


def _start(design: Design, start) -> np.ndarray:
    if start is None:
        return design.theta_start
    if isinstance(start, dict):
        unknown = set(start) - set(design.theta_names)
        if unknown:
            raise ValueError(
                f"start has unknown theta name(s) {', '.join(sorted(unknown))}; the names are "
                f"{', '.join(design.theta_names)}."
            )
        start = [start.get(n, s) for n, s in zip(design.theta_names, design.theta_start)]
    theta = np.asarray(start, dtype=float).ravel()
    if theta.shape != (design.n_theta,):
        raise ValueError(
            f"start must have {design.n_theta} theta values ({', '.join(design.theta_names)}), got {theta.size}."
        )
    bad = ~np.isfinite(theta) | (theta < design.theta_lower)
    if bad.any():
        names = [n for n, b in zip(design.theta_names, bad) if b]
        raise ValueError(
            f"start values must be finite, with standard-deviation (diagonal) entries >= 0; bad: {', '.join(names)}."
        )
    return theta


def lmm(formula: str, data, *, reml: bool = True, weights=None, start=None) -> LmmFit:
    """Fit a linear mixed model with lme4's formula syntax.

    ``formula``: e.g. ``"Reaction ~ Days + (Days | Subject)"``; ``data``: a pandas DataFrame (never modified);
    ``reml``: REML (default) or maximum likelihood; ``weights``: prior weights (array or column name), the
    residual variance of row i being ``sigma^2 / w_i``; ``start``: theta start values (array or dict by name).
    The profiled deviance is minimized by trust-region Newton with its exact gradient and Hessian, or, where the
    dense part of the factorization is large (crossed factors with many levels), by L-BFGS-B on the exact
    gradient from moment-based start values (``mixjax.start``); its Hessian, from differences of the exact
    gradient, is then formed only when asked for (``fit.hessian``, ``fit.optimizer``).
    """
    design = build(formula, data, weights=weights)
    theta0 = _start(design, start)
    objective = make_lmm(design, reml=reml)
    if objective.spec.nr <= DENSE_NEWTON_MAX:
        solution = minimize(objective.value_grad_hess, theta0, objective.lower)
    else:  # crossed / nested with a large dense block: quasi-Newton on the exact gradient, Newton polish
        theta0 = moment_start(design) if start is None else theta0
        solution = minimize_lbfgs(objective.value_grad, theta0, objective.lower, polish=0)
    fit = LmmFit(design, objective, solution)
    if not solution.converged:
        warnings.warn(f"the fit did not converge: {solution.status}", MixjaxWarning, stacklevel=2)
    if fit.singular:
        warnings.warn("boundary (singular) fit: see fit.theta and fit.varcorr", MixjaxWarning, stacklevel=2)
    return fit
