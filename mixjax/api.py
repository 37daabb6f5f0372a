"""The public entry points: short compositions of parse -> design -> objective -> optimize -> result."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from . import families
from .design import MixjaxWarning, build
from .families.separation import separated_columns
from .formula import parse
from .objectives.glmm import make_glmm
from .objectives.lmm import make_lmm
from .optim.reflect import minimize_reflecting
from .optim.lbfgs import minimize_lbfgs
from .results import GlmmFit, LmmFit
from .start import moment_start

__all__ = ["lmm", "glmm", "nlme"]

MAX_QUADRATURE_NODES = 10_000  # nagq ** k
GLMM_RADIUS0 = 0.5

DENSE_NEWTON_MAX = 64  # largest dense Schur block (rest columns) for which the exact autodiff Hessian is cheap


def _start(start, names: list, default: np.ndarray, lower: np.ndarray, what: str = "theta") -> np.ndarray:
    """Start values given as an array or as a dict by name (the others keep their defaults), checked."""
    if start is None:
        return default
    if isinstance(start, dict):
        unknown = set(start) - set(names)
        if unknown:
            raise ValueError(
                f"start has unknown {what} name(s) {', '.join(sorted(unknown))}; the names are {', '.join(names)}."
            )
        start = [start.get(n, s) for n, s in zip(names, default)]
    x = np.asarray(start, dtype=float).ravel()
    if x.shape != (len(names),):
        raise ValueError(f"start must have {len(names)} {what} values ({', '.join(names)}), got {x.size}.")
    bad = ~np.isfinite(x) | (x < lower)
    if bad.any():
        bad_names = [n for n, b in zip(names, bad) if b]
        raise ValueError(
            f"start values must be finite, with standard-deviation (diagonal) entries >= 0; bad: {', '.join(bad_names)}."
        )
    return x


def _warn(fit):
    """Say so (a MixjaxWarning at the caller's line) when the fit did not converge or is singular."""
    if not fit.converged:
        warnings.warn(f"the fit did not converge: {fit.solution.status}", MixjaxWarning, stacklevel=3)
    if fit.singular:
        warnings.warn("boundary (singular) fit: see fit.theta and fit.varcorr", MixjaxWarning, stacklevel=3)
    return fit


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
    theta0 = _start(start, design.theta_names, design.theta_start, design.theta_lower)
    objective = make_lmm(design, reml=reml)
    if objective.spec.nr <= DENSE_NEWTON_MAX:
        solution = minimize_reflecting(objective.value_grad_hess, theta0, objective.lower, design.terms)
    else:  # crossed / nested with a large dense block: quasi-Newton on the exact gradient, Newton polish
        theta0 = moment_start(design) if start is None else theta0
        solution = minimize_lbfgs(objective.value_grad, theta0, objective.lower, polish=0)
    fit = LmmFit(design, objective, solution)
    return _warn(fit)


def _check_nagq(nagq, formula: str) -> int:
    """``nagq`` must be a positive integer; above 1 only with a single random-effects term."""
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or nagq < 1:
        raise ValueError(f"nagq must be a positive integer (1 = Laplace), got {nagq!r}.")
    if nagq > 1:
        random = parse(formula).random
        if len(random) > 1 or random[0].split:
            raise ValueError(
                f"nagq={nagq} (adaptive quadrature) needs a single random-effects term, but {formula!r} has "
                f"{len(random) if len(random) > 1 else 'an uncorrelated (||) set of'} terms: with crossed or nested "
                "grouping factors the integral does not factor into one low-dimensional integral per group. Use "
                "nagq=1 (Laplace), or one correlated term (x | g)."
            )
    return int(nagq)


def glmm(formula: str, data, *, family, link: str | None = None, nagq: int = 1, weights=None, offset=None,
         start=None) -> GlmmFit:
    """Fit a generalized linear mixed model with lme4's formula syntax.

    ``family``: one of ``mixjax.families.FAMILIES`` (binomial, poisson, nbinom2, nbinom1, gaussian, gamma,
    inverse_gaussian, ordinal); ``link``: one of the family's links (default R's); ``nagq``: 1 for Laplace, more
    for adaptive Gauss-Hermite quadrature with ``nagq`` points per random-effect dimension (one random-effects
    term only); ``weights``: prior weights (binomial: the number of trials of a proportion response);
    ``offset``: added to the linear predictor, as are ``offset(...)`` terms of the formula; ``start``: values of
    ``psi = [theta, beta, family parameters]`` (array, or dict by name as ``fit.objective.names``).
    ``-log L`` (the true marginal log-likelihood, every constant included) is minimized by trust-region Newton
    with its exact gradient and Hessian.
    """
    fam = families.get(family, link)
    nagq = _check_nagq(nagq, formula)
    design = build(formula, data, weights=weights, offset=offset, glmm=True)
    k = design.terms[0].k
    if nagq ** k > MAX_QUADRATURE_NODES:
        raise ValueError(
            f"nagq={nagq} with {k} random effects per level needs {nagq}^{k} = {nagq ** k} quadrature points per "
            f"level, more than {MAX_QUADRATURE_NODES}; use a smaller nagq."
        )
    resp = fam.response(design.y, design.weights, design.response_levels, design.parsed.response)
    if not fam.has_intercept:  # ordinal: the cutpoints take the intercept's place
        keep = [i for i, n in enumerate(design.xnames) if n != "Intercept"]
        design = dataclasses.replace(design, X=design.X[:, keep], xnames=tuple(design.xnames[i] for i in keep))
    if fam.name == "binomial":
        for name in separated_columns(design.X, design.xnames, resp.y, resp.trials):
            warnings.warn(
                f"complete separation: fixed-effect column {name!r} predicts the response perfectly, so its "
                "estimate runs off towards infinity and its standard error is meaningless. Drop or merge it, or "
                "use a penalized (Bayesian) fit.",
                MixjaxWarning,
                stacklevel=2,
            )
    objective = make_glmm(design, fam, resp, nagq)
    psi0 = _start(start, objective.names, objective.start, objective.lower, what="parameter")
    # a first trust radius of 0.5: the Newton model of the Laplace likelihood is poor far from the optimum, and
    # longer first steps were rejected (VerbAgg, grouseticks, cbpp, Salamanders: 5-8 iterations instead of 7-12)
    solution = minimize_reflecting(objective.value_grad_hess, psi0, objective.lower, design.terms,
                                   radius0=GLMM_RADIUS0)
    fit = GlmmFit(design, objective, solution)
    return _warn(fit)


def _parameter_list(text: str, what: str) -> list[str]:
    names = [p.strip() for p in text.split("+")]
    bad = [p for p in names if not p.isidentifier()]
    if bad or not names:
        raise ValueError(f"{what}: {', '.join(map(repr, bad or [text]))} is not a parameter name.")
    return names


def _nlme_terms(fixed: str, random: str) -> tuple[list[str], list[str], str]:
    """``"A + B ~ 1"`` and ``"A ~ 1 | g"`` -> (fixed parameters, random parameters, grouping column)."""
    if not isinstance(fixed, str) or fixed.count("~") != 1 or fixed.split("~")[1].strip() != "1":
        raise ValueError(
            f"fixed={fixed!r}: write 'A + B + C ~ 1' (each parameter a constant; parameter-specific linear models "
            "such as {'A': '~ Variety'} are not supported yet)."
        )
    if not isinstance(random, str) or random.count("~") != 1 or random.count("|") != 1:
        raise ValueError(f"random={random!r}: write 'A ~ 1 | group' or 'A + B ~ 1 | group'.")
    lhs, rhs = random.split("~")
    one, group = (side.strip() for side in rhs.split("|"))
    if one != "1" or not group.isidentifier():
        raise ValueError(
            f"random={random!r}: write 'A ~ 1 | group' with one grouping column (nested groups are not supported yet)."
        )
    return _parameter_list(fixed.split("~")[0], "fixed"), _parameter_list(lhs, "random"), group


def nlme(model: str, data, *, fixed: str, random: str, start: dict, covariance: str = "unstructured",
         method: str = "ML"):
    """Fit a nonlinear mixed model by Lindstrom-Bates, as R's ``nlme()``.

    ``model``: ``"response ~ expression"`` in data columns and parameters (a restricted parser: numbers, names,
    ``+ - * / ^``, exp, log, sqrt, trig); ``fixed``: ``"A + B ~ 1"``; ``random``: ``"A ~ 1 | group"`` or
    ``"A + B ~ 1 | group"``; ``start``: a value per fixed parameter; ``covariance``: ``"unstructured"`` (pdSymm) or
    ``"diagonal"`` (pdDiag); ``method``: ``"ML"`` (REML is not supported yet).
    """
    import pandas as pd

    from .checks import _check_columns, _drop_missing
    from .nonlinear import parse_model
    from .objectives.nlme import NlmeSpec, linearize
    from .optim.lindstrom_bates import lindstrom_bates
    from .results.nlme import NlmeFit

    expr = parse_model(model)
    params, random_params, group = _nlme_terms(fixed, random)
    if covariance not in ("unstructured", "diagonal"):
        raise ValueError(f"covariance must be 'unstructured' or 'diagonal', got {covariance!r}.")
    if method == "REML":
        raise ValueError(
            "method='REML' is not supported yet for nonlinear models (nlme's REML differs from a REML step on the "
            "linearized model); use method='ML', nlme's default."
        )
    if method != "ML":
        raise ValueError(f"method must be 'ML', got {method!r}.")
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    unused = [p for p in params + random_params if p not in expr.symbols]
    if unused:
        raise ValueError(f"parameter(s) {', '.join(unused)} of fixed/random are not in the model {expr.text!r}.")
    not_fixed = [p for p in random_params if p not in params]
    if not_fixed:
        raise ValueError(f"random parameter(s) {', '.join(not_fixed)} must also be in fixed={fixed!r}.")
    columns = [s for s in expr.symbols if s not in params]
    _check_columns(set(columns) | {expr.response, group}, data, model)
    missing = [p for p in params if not isinstance(start, dict) or p not in start]
    if missing:
        raise ValueError(
            f"start has no value for {', '.join(missing)}; give start={{'{missing[0]}': ...}} for every parameter in "
            "fixed (self-starting models are not supported yet)."
        )
    frame, _, _, _ = _drop_missing(data, sorted(set(columns) | {expr.response, group}), None)
    cat = frame[group].astype("category") if not isinstance(frame[group].dtype, pd.CategoricalDtype) else frame[group]
    cat = cat.cat.remove_unused_categories()
    codes, levels = np.asarray(cat.cat.codes, dtype=np.int32), tuple(map(str, cat.cat.categories))
    index = {p: i for i, p in enumerate(params)}
    blocks = ((tuple(index[p] for p in random_params),) if covariance == "unstructured"
              else tuple((index[p],) for p in random_params))
    spec = NlmeSpec(expr, tuple(params), blocks, len(levels))  # expr: callable, hashed by its text (shared compiles)
    values = {c: np.asarray(frame[c], dtype=float) for c in columns}
    y = np.asarray(frame[expr.response], dtype=float)
    beta0 = np.array([float(start[p]) for p in params])
    f0 = np.asarray(linearize(beta0, np.zeros((len(levels), len(random_params))), values, codes, spec)[0])
    if not np.all(np.isfinite(f0)):
        raise ValueError(
            f"the model is not finite at the start values in {int((~np.isfinite(f0)).sum())} row(s) (first at row "
            f"{int(np.flatnonzero(~np.isfinite(f0))[0])}); change start."
        )
    state = lindstrom_bates(spec, y, values, codes, levels, group, beta0)
    if not state.converged:
        raise ValueError(
            f"the Lindstrom-Bates iterations failed: {state.status}. Try other start values, or fewer random "
            "effects (covariance='diagonal', or fewer parameters in random)."
        )
    return NlmeFit(model, spec, state, group, levels, codes, values, y)
