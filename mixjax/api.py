"""The public entry points: short compositions of parse -> design -> objective -> optimize -> result."""
from __future__ import annotations

import dataclasses
import warnings
from functools import partial

import numpy as np
import pandas as pd

from . import families, residual, sharding, streaming
from .design import MixjaxWarning, build, hold
from .engines import glmm as glmm_engine
from .engines import lmm as lmm_engine
from .engines import nlme as nlme_engine
from .families.separation import separated_columns
from .formula import parse
from .nonlinear.setup import setup
from .objectives.glmm import glm_start, make_glmm
from .objectives.lmm import make_lmm
from .responses import many_design
from .results import GlmmFit, LmmFit
from .results.batch import ManyFits, solution_of
from .results.glmm import check_family_response
from .results.lmm import fit_with_residuals
from .results.nlme import NlmeFit, from_laplace, from_lindstrom_bates

__all__ = ["lmm", "glmm", "nlme", "lmm_many", "glmm_many"]

MAX_QUADRATURE_NODES = 10_000  # nagq ** k


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
        warnings.warn(f"the fit did not converge: {fit.optimizer.status}", MixjaxWarning, stacklevel=3)
    if fit.singular:
        warnings.warn("boundary (singular) fit: see fit.theta and fit.varcorr", MixjaxWarning, stacklevel=3)
    return fit


def _residual_args(correlation, weights):
    """nlme's ``weights=`` may be a variance function: (prior weights, variance function)."""
    if isinstance(weights, residual.VARIANCE_TYPES):
        return None, weights
    return weights, None


def lmm(formula: str, data, *, reml: bool = True, weights=None, start=None, correlation=None,
        covariance: dict | None = None, fix: dict | None = None, contrasts: dict | None = None,
        relmat: dict | None = None, devices=None) -> LmmFit:
    """Fit a linear mixed model with lme4's formula syntax.

    ``formula``: e.g. ``"Reaction ~ Days + (Days | Subject)"``; ``data``: a pandas DataFrame (never modified);
    ``reml``: REML (default) or maximum likelihood; ``weights``: prior weights (array or column name), the
    residual variance of row i being ``sigma^2 / w_i``; ``start``: theta start values (array or dict by name).
    The profiled deviance is minimized by trust-region Newton with its exact gradient and Hessian, or, where the
    dense part of the factorization is large (crossed factors with many levels), by L-BFGS-B on the exact
    gradient from moment-based start values (``mixjax.start``); its Hessian, from differences of the exact
    gradient, is then formed only when asked for (``fit.hessian``, ``fit.optimizer``).

    Residual structures as nlme's: ``correlation=`` a correlation structure (``mixjax.corAR1(form="~ Days |
    Subject")``, ``corCAR1``, ``corARMA``, ``corCompSymm``, ``corSymm``, ``corExp``) within groups (default: the
    innermost grouping factor), ``weights=`` a variance function (``mixjax.varIdent(form="~ 1 | Sex")``,
    ``varPower``, ``varExp``, ``varConstPower``, ``varFixed``, ``varComb``). Their parameters are estimated with
    theta by the same Newton iterations (``fit.correlation``, ``fit.variance_function``).

    Covariance structures of the random effects: glmmTMB's names around a term (``cs(0 + factor(age) | Subject)``,
    ``ar1``, ``toep``, ``diag``, ``homdiag``, ``homcs``, ``us``) or ``covariance={"Subject": "exchangeable"}``
    (also ``"identity"``, ``"independent"``, ``("fixed", M)``, ``("pattern", M)`` as Stata's, or a
    ``mixjax.covariance`` structure). ``fix={theta name: value}`` holds parameters at values (relative to sigma,
    as theta is), as glmmTMB's ``map``; held parameters leave theta and count in no degrees of freedom. ``contrasts={"g": "sum" | "helmert" | "poly" | "treatment"}``: R's
    codings of factors in the fixed part, with R's column names (``g1``, ``g.L``), as lmer's ``contrasts=``.

    ``relmat={"animal": K}``: a known covariance over the levels of a grouping factor (a relationship or kinship
    matrix, as pedigreemm and lme4qtl): ``K`` a DataFrame whose index and columns are the levels (more are fine);
    the term ``(1 | animal)`` then has covariance ``sigma_a^2 K``.

    ``devices="all"`` (a list of jax devices, or a one-axis ``jax.sharding.Mesh``): the rows split over the
    devices, the cross-products summed with collectives (``mixjax.sharding``); in a ``jax.distributed`` job each
    process passes its own rows and gets the fit of all of them.

    Data that does not fit in memory: ``data`` a Parquet file or directory (str or path), a
    ``pyarrow.dataset.Dataset`` or a Dask DataFrame (``mixjax.streaming.source(data, batch_rows=...)`` sets the
    chunk size) is read in two passes, the levels, then the cross-products summed chunk by chunk (Dask: per
    partition, on its workers); the fit equals the fit of the same rows in a DataFrame and keeps no rows
    (``mixjax.streaming``; ``weights=`` a column name; no residual structures or ``relmat=``).
    """
    if streaming.is_source(data):  # Parquet, Arrow, Dask: cross-products summed chunk by chunk
        return _warn(streaming.lmm(formula, data, reml=reml, weights=weights, start=start, correlation=correlation,
                                   covariance=covariance, fix=fix, contrasts=contrasts, relmat=relmat, devices=devices))
    prior, variance = _residual_args(correlation, weights)
    mesh = sharding.mesh_of(devices, residual=correlation is not None or variance is not None, relmat=relmat)
    if relmat and (correlation is not None or variance is not None):
        raise ValueError("relmat= cannot be combined with residual structures (correlation=, a variance function in "
                         "weights=) yet; fit the relationship model without them.")
    extra = residual.form_columns(correlation, variance, data) if isinstance(data, pd.DataFrame) else ()
    builder = build if mesh is None else partial(sharding.build, mesh)
    design = hold(builder(formula, data, weights=prior, extra_columns=extra, covariance=covariance,
                          contrasts=contrasts, relmat=relmat), fix)
    theta0 = _start(start, design.theta_names, design.theta_start, design.theta_lower)
    if correlation is not None or variance is not None:
        return _warn(fit_with_residuals(design, correlation, variance, reml, theta0))
    objective = make_lmm(design, reml=reml, cp=None if mesh is None else sharding.crossproducts(design, mesh))
    theta0, given = (theta0, start is not None) if mesh is None else sharding.start(objective, design, theta0, start)
    fit = LmmFit(design, objective, lmm_engine.solve(objective, design, theta0, given))
    return _warn(fit if mesh is None else sharding.global_fit(fit))


def lmm_many(formula: str, data, responses, *, reml: bool = True, weights=None, devices=None) -> ManyFits:
    """One linear mixed model fitted to many responses that share its design (per gene, voxel, phenotype;
    simulations): ``responses`` are column names or an ``(n, m)`` array; the formula may omit its response
    (``"~ Days + (Days | Subject)"``). The cross-products that do not involve the response are built once; the fits
    run as vmapped batches of one compiled program (L-BFGS-B one by one where the dense block is large). Rows with a
    missing value in the model's columns or in any response are dropped once, with a warning that counts them.
    ``devices=``: as ``lmm``'s (one process): the cross-products and each response's blocks over sharded rows."""
    mesh = sharding.mesh_of(devices, caller="lmm_many")
    design, Y, names = many_design(formula, data, responses, weights=weights)
    design = dataclasses.replace(design, y=Y[0])
    objective = make_lmm(design, reml=reml, cp=None if mesh is None else sharding.crossproducts(design, mesh))
    run, Y_run = (objective, Y) if mesh is None else sharding.shard_many(objective, Y, mesh)
    batch = lmm_engine.fit_many(run, design, Y_run, None)
    template = LmmFit(design, objective, solution_of(batch, 0, objective.lower))

    def make_fit(j):
        design_j, obj_j = template._with_response(Y[j])
        return LmmFit(design_j, obj_j, solution_of(batch, j, objective.lower))

    return ManyFits(names, batch, template, make_fit)


def _family(family, link, formula: str, parameterization: str | None = None):
    """The family object; a ``Surv(...)`` response reads the survival families (``families.get``), where
    ``parameterization="aft"`` picks the accelerated-failure-time form of exponential and weibull."""
    response = formula.split("~", 1)[0].strip() if isinstance(formula, str) else ""
    survival = response.startswith("Surv(")
    if parameterization is not None:
        both = ("exponential", "weibull")
        if parameterization not in ("ph", "aft") or not survival or family not in both:
            raise ValueError(f"parameterization={parameterization!r}: 'ph' or 'aft', for a Surv() response with "
                             f"family {' or '.join(map(repr, both))} (the others have one form).")
        family = family + "_aft" if parameterization == "aft" else family
    return families.get(family, link, survival=survival)


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


def _glmm_design(design, fam):
    """Ordinal families: the cutpoints take the intercept's place."""
    if fam.has_intercept:
        return design
    keep = [i for i, n in enumerate(design.xnames) if n != "Intercept"]
    return dataclasses.replace(design, X=design.X[:, keep], xnames=tuple(design.xnames[i] for i in keep))


def glmm(formula: str, data, *, family, link: str | None = None, nagq: int = 1, weights=None, offset=None,
         covariance: dict | None = None, contrasts: dict | None = None, fix: dict | None = None,
         zi: str | None = None, disp: str | None = None, parameterization: str | None = None, start=None,
         devices=None) -> GlmmFit:
    """Fit a generalized linear mixed model with lme4's formula syntax.

    ``family``: one of ``mixjax.families.FAMILIES`` (binomial, poisson, nbinom2, nbinom1, gaussian, gamma,
    inverse_gaussian, ordinal, betabinomial, beta, genpois, tweedie, t, lognormal, truncated_poisson,
    truncated_nbinom1, truncated_nbinom2, truncated_genpois, censored_gaussian with a ``cens(...)`` or
    ``interval(...)`` response), or with a ``Surv(...)`` response one of ``families.SURVIVAL_FAMILIES``
    (exponential, weibull, gompertz, exponential_aft, weibull_aft, lognormal, loglogistic, gamma); ``link``: one of the family's links (default R's); ``nagq``: 1 for Laplace, more
    for adaptive Gauss-Hermite quadrature with ``nagq`` points per random-effect dimension (one random-effects
    term only); ``weights``: prior weights (binomial: the number of trials of a proportion response);
    ``offset``: added to the linear predictor, as are ``offset(...)`` terms of the formula; ``start``: values of
    ``psi = [theta, beta, family parameters]`` (array, or dict by name as ``fit.objective.names``);
    ``covariance``, ``contrasts``: as ``lmm``'s; ``fix={theta name: value}`` holds covariance parameters (absolute:
    a GLMM's theta has no sigma) at values. ``zi="~ spp + mined"``: a zero-inflation probability per row with its
    own linear predictor (logit link; a hurdle for the truncated count families), as glmmTMB's ``ziformula``;
    ``disp="~ x"``: the family's dispersion with its own linear predictor on its log scale, as ``dispformula``;
    ``parameterization="ph" | "aft"``: Stata's metric of the exponential and Weibull survival families.
    ``-log L`` (the true marginal log-likelihood, every constant included) is minimized by trust-region Newton
    with its exact gradient and Hessian. ``devices=``: as ``lmm``'s; the Newton loop (PIRLS, Laplace or AGHQ)
    runs over the sharded rows as one program.
    """
    mesh = sharding.mesh_of(devices)
    fam = _family(family, link, formula, parameterization)
    nagq = _check_nagq(nagq, formula)
    dpars = {name: f for name, f in (("zi", zi), ("disp", disp)) if f is not None}
    families.distributional(fam, tuple(dpars.get("zi", "")[:1]), tuple(dpars.get("disp", "")[:1]))  # checks first
    builder = build if mesh is None else partial(sharding.build, mesh)
    design = hold(builder(formula, data, weights=weights, offset=offset, glmm=True, covariance=covariance,
                          contrasts=contrasts, dpars=dpars), fix)
    parts = {d.name: d for d in design.dpars}
    fam = families.distributional(fam, *(parts[n].xnames if n in parts else () for n in ("zi", "disp")))
    k = design.terms[0].k
    if nagq ** k > MAX_QUADRATURE_NODES:
        raise ValueError(
            f"nagq={nagq} with {k} random effects per level needs {nagq}^{k} = {nagq ** k} quadrature points per "
            f"level, more than {MAX_QUADRATURE_NODES}; use a smaller nagq."
        )
    resp = fam.response(design.y, design.weights, design.response_levels, design.parsed.response)
    resp = resp._replace(**{name: d.X for name, d in parts.items()})
    design = _glmm_design(design, fam)
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
    run = objective if mesh is None else sharding.shard_glmm(objective, design, mesh)
    psi0 = _start(start, run.names, run.start, run.lower, what="parameter")
    fit = GlmmFit(design, objective, glmm_engine.solve(run, design.terms, psi0))
    return _warn(fit if mesh is None else sharding.global_fit(fit, run))


def glmm_many(formula: str, data, responses, *, family, link: str | None = None, nagq: int = 1, weights=None,
              offset=None) -> ManyFits:
    """One generalized linear mixed model fitted to many responses that share its design: ``responses`` are
    numeric column names or an ``(n, m)`` array, each as the family reads one column (binomial: 0/1, or proportions
    with ``weights=`` the trials; counts; positive numbers); the formula may omit its response. Each fit starts
    from its own GLM fit; the fits run as vmapped batches of one compiled program. Rows with a missing value in the
    model's columns or in any response are dropped once, with a warning that counts them."""
    fam = _family(family, link, formula)
    design, Y, names = many_design(formula, data, responses, weights=weights, offset=offset, glmm=True)
    nagq = _check_nagq(nagq, design.formula)
    resps = [fam.response(y, design.weights, (), name) for y, name in zip(Y, names)]
    differ = [name for r, name in zip(resps, names) if r.levels != resps[0].levels]
    if differ:
        raise ValueError(f"ordinal responses must share their categories: {names[0]!r} has {', '.join(resps[0].levels)}, "
                         f"but {', '.join(map(repr, differ[:5]))} differ. Fit those separately.")
    design = _glmm_design(dataclasses.replace(design, y=Y[0]), fam)
    objective = make_glmm(design, fam, resps[0], nagq)
    offset0 = np.zeros(design.n_obs) if design.offset is None else design.offset
    starts = np.stack([np.concatenate([design.theta_start, *glm_start(design.X, offset0, fam, r)]) for r in resps])
    batch = glmm_engine.fit_many(objective, design.terms, np.stack([r.y for r in resps]), starts)
    template = GlmmFit(design, objective, solution_of(batch, 0, objective.lower))

    def make_fit(j):
        design_j, obj_j = template._with_response(check_family_response(fam, resps[j], resps[j].y))
        return GlmmFit(design_j, obj_j, solution_of(batch, j, objective.lower))

    return ManyFits(names, batch, template, make_fit)


def nlme(model, data, *, fixed, random, start: dict | None = None, groups: str | None = None,
         covariance: str = "unstructured", method: str = "ML", response: str | None = None, correlation=None,
         weights=None) -> NlmeFit:
    """Fit a nonlinear mixed model, as R's ``nlme()``.

    ``model``: ``"response ~ expression"`` in data columns and parameters (a restricted parser: numbers, names,
    ``+ - * / ^``, exp, log, sqrt, trig, and the self-starting ``SSlogis(x, Asym, xmid, scal)``, ``SSfpl``,
    ``SSasymp``, ``SSfol``, ``SSbiexp``, ``SSmicmen``, ``SSgompertz``, ``SSweibull``), or a JAX-traceable function
    ``f(params, data) -> mean`` (dicts of arrays) with ``response="column"``; ``fixed``: ``"A + B ~ 1"``, or each
    parameter's own linear model ``{"A": "~ Variety", "B": "~ 1"}``; ``random``: ``"A + B ~ 1 | g"``, nested
    ``"A ~ 1 | g1/g2"``, or ``"A ~ 1"`` with ``groups="g"``; ``start``: a value per parameter (its intercept) or
    one per coefficient, optional where the model is one self-starting call; ``covariance``: ``"unstructured"``
    (pdSymm) or ``"diagonal"`` (pdDiag); ``method``: ``"ML"`` or ``"REML"`` (Lindstrom-Bates, nlme's numbers) or
    ``"laplace"`` (the Laplace approximation of the marginal likelihood, maximized with its exact gradient from
    the start values, as lme4's ``nlmer``, or where that does not converge from the Lindstrom-Bates fit; one
    grouping factor).

    Residual structures as nlme's (Lindstrom-Bates only): ``correlation=`` a correlation structure within groups
    (``mixjax.corAR1()``, ``corCAR1(form="~ t | g")``, ...; default group: the innermost grouping), ``weights=`` a
    variance function (``mixjax.varPower()``: of the fitted values, nlme's default; ``varIdent(form="~ 1 | g")``,
    ``varExp(form="~ t")``, ...). The PNLS step minimizes the whitened penalized residual sum of squares and the
    LME step estimates the structures' parameters with the covariance (``fit.correlation``,
    ``fit.variance_function``).
    """
    if method not in ("ML", "REML", "laplace"):
        raise ValueError(f"method must be 'ML', 'REML' or 'laplace', got {method!r}.")
    structured = correlation is not None or weights is not None
    if weights is not None and not isinstance(weights, residual.VARIANCE_TYPES):
        raise ValueError(f"weights={weights!r}: nlme's weights= takes a variance function (mixjax.varPower(), "
                         "varIdent(form='~ 1 | g'), varExp, varConstPower, varFixed('~ v') for known variances, "
                         "varComb); prior weights are not supported for nonlinear models.")
    if structured and method == "laplace":
        raise ValueError("method='laplace' does not take residual structures (correlation=, weights=); use "
                         "method='ML' or 'REML' (Lindstrom-Bates, as nlme).")
    extra = residual.form_columns(correlation, weights, data) if isinstance(data, pd.DataFrame) else ()
    problem = setup(model, data, fixed=fixed, random=random, start=start, groups=groups, covariance=covariance,
                    response=response, extra_columns=extra)
    if method == "laplace" and len(problem.spec.terms) > 1:
        raise ValueError("method='laplace' needs a single grouping factor; with nested groups use method='ML' "
                         "(Lindstrom-Bates).")
    args = (problem.spec, problem.data, problem.beta0, problem.names, problem.groups, problem.levels)
    if method == "laplace":  # from the start values; where that does not converge, from the Lindstrom-Bates fit
        objective, solution = nlme_engine.laplace(problem)
        if solution.converged:
            return _warn_nlme(from_laplace(problem, objective, solution, solution.iterations))
    if structured:
        bound, arrays = nlme_engine.bind_residual(problem, correlation, weights)
        state = nlme_engine.lindstrom_bates_residual(*args, bound, arrays, reml=method == "REML")
    else:
        state = nlme_engine.lindstrom_bates(*args)
    if not state.converged:
        raise ValueError(
            f"the Lindstrom-Bates iterations failed: {state.status}. Try other start values, or fewer random "
            "effects (covariance='diagonal', or fewer parameters in random)."
        )
    if method != "laplace":
        return _warn_nlme(from_lindstrom_bates(problem, state, reml=method == "REML",
                                               structures=(correlation, weights) if structured else ()))
    objective, solution = nlme_engine.laplace(problem, state)
    return _warn_nlme(from_laplace(problem, objective, solution, state.iterations + solution.iterations))


def _warn_nlme(fit: NlmeFit) -> NlmeFit:
    """As ``_warn``: a MixjaxWarning when the fit did not converge or is singular (``NlmeFit.singular``)."""
    if not fit.converged:
        warnings.warn(f"the fit did not converge: {fit.status}", MixjaxWarning, stacklevel=3)
    if fit.singular:
        warnings.warn("boundary (singular) fit: see fit.theta and fit.varcorr", MixjaxWarning, stacklevel=3)
    return fit
