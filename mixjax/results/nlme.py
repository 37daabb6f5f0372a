"""NlmeFit: the result of a nonlinear mixed model fit, with nlme's accessors.

Lindstrom-Bates (``method="ML"``/``"REML"``): nlme's numbers. The fixed and random effects are the PNLS step's
where nlme's iterations stop (its ``pnlsTol`` criterion); the covariance of the fixed effects, ``sigma``, the
variance components and the log-likelihood are those of the LMM fitted to the model linearized there, as nlme
reports them (``fixed_point()``: the fit iterated on to the Lindstrom-Bates fixed point). Laplace: the maximum of
the Laplace approximation, with the covariance of the fixed effects from the inverse of its exact Hessian."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from ..engines.nlme import PNLS_TOL, LindstromBates, lindstrom_bates, lindstrom_bates_residual
from ..engines.residual import ResidualFit
from ..inference import tables
from ..inference.confint import confint
from ..nonlinear.setup import NlmeProblem, depth
from ..objectives.lmm import make_lmm
from ..objectives.lmm_residual import make_residual
from ..objectives.nlme import NlmeData, _f, host_factors, phi
from ..optim.newton import Solution
from ..residual.bind import log_sd
from .base import SINGULAR_TOL, Criteria
from .estimates import covariance_parts, estimates, varcorr_frame
from .lme import _structures
from .lmm import LmmFit, OptimizerInfo
from .status import describe
from .summary import Summary

__all__ = ["NlmeFit", "from_laplace", "from_lindstrom_bates"]

_METHODS = {"ML": "maximum likelihood (Lindstrom-Bates)", "REML": "REML (Lindstrom-Bates, nlme's convention)",
            "laplace": "maximum likelihood (Laplace approximation)"}


@dataclass(frozen=True, eq=False, repr=False)
class NlmeFit(Criteria):
    """A fitted nonlinear mixed model. Built by ``mixjax.nlme``."""

    problem: NlmeProblem
    method: str
    beta: np.ndarray
    bs: list  # per term (levels, k), terms largest first
    theta_values: np.ndarray
    sigma: float
    vcov_beta: np.ndarray
    loglik: float
    solution: Solution  # the last LME step (Lindstrom-Bates) or the Laplace optimization
    iterations: int
    status: str
    pnls_tol: float | None = PNLS_TOL  # nlme's pnlsTol where the Lindstrom-Bates iterations stopped (None: Laplace)
    residual: object = None  # ``engines.residual.ResidualFit`` of the last linearized model, with residual structures

    # the residual structures' parameters in the LMM fits' layout (``fit.correlation``, ``fit.variance_function``)
    _structure = LmmFit._structure
    correlation = LmmFit.correlation
    variance_function = LmmFit.variance_function

    @property
    def spec(self):
        return self.problem.spec

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.beta, index=list(self.problem.names), name="fixef")

    @property
    def vcov(self) -> pd.DataFrame:
        names = list(self.problem.names)
        return pd.DataFrame(self.vcov_beta, index=names, columns=names)

    @property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov_beta)), index=list(self.problem.names), name="fixef_se")

    @property
    def theta(self) -> pd.Series:
        names = [n for g, term in zip(self.problem.groups, self.spec.terms)
                 for n in term.cov.names(g, tuple(self.spec.names[j] for j in term.params))]
        return pd.Series(self.theta_values, index=names, name="theta")

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """``group, var1, var2, vcov, sdcor``: one row per random-effect variance and correlation (within a
        covariance block), then ``Residual`` (the LMM's layout; nlme's ``VarCorr`` holds the same numbers)."""
        rows = []
        for group, term, T in self._outer_first(self.spec.terms, host_factors(self.theta_values, self.spec)):
            names = [self.spec.names[j] for j in term.params]
            cov, sd, corr = covariance_parts(self.sigma, T)
            rows += [(group, n, None, cov[i, i], sd[i]) for i, n in enumerate(names)]
            off = 0
            for block in term.blocks:
                rows += [(group, names[off + j], names[off + i], cov[off + i, off + j], corr[off + i, off + j])
                         for j in range(len(block)) for i in range(j + 1, len(block))]
                off += len(block)
        rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return varcorr_frame(rows)

    @property
    def df(self) -> int:
        """Fixed effects, covariance parameters, sigma and the residual structures' free parameters (nlme's)."""
        o = self.residual.objective if self.residual is not None else None
        return len(self.beta) + len(self.theta_values) + 1 + (0 if o is None else int(o.free[o.spec.n_theta :].sum()))

    def pearson_residuals(self) -> np.ndarray:
        """``residuals() / (sigma s_i)``, ``s_i`` the variance function's SD multiplier of row i (nlme's
        ``resid(m, type = "pearson")``; the correlation is not undone)."""
        scale = self.sigma * np.ones(self.nobs)
        if self.residual is not None:
            o = self.residual.objective
            scale *= np.exp(np.asarray(log_sd(self.residual.rho[o.spec.bound.n_corr :], o.data.arrays, o.spec.bound)))
        return self.residuals() / scale

    @property
    def nobs(self) -> int:
        return len(self.problem.data.y)

    @property
    def bic(self) -> float:
        """nlme's BIC: ``log(n - p)`` per parameter for REML fits (the restricted likelihood's observations),
        ``log(n)`` otherwise."""
        n = self.nobs - (len(self.beta) if self.method == "REML" else 0)
        return -2.0 * self.loglik + np.log(n) * self.df

    @property
    def y(self) -> np.ndarray:
        return np.asarray(self.problem.data.y)

    def _outer_first(self, *per_term):
        """``(group, *items)`` per term, outermost grouping first (nlme's order)."""
        rows = zip(self.problem.groups, *per_term)
        return sorted(rows, key=lambda row: depth(self.problem, row[0]))

    @property
    def ngroups(self) -> dict:
        return {g: len(lev) for g, lev in self._outer_first(self.problem.levels)}

    @property
    def ranef(self):
        """Random effects per level (rows) and random parameter (columns); with nested groups a dict of them by
        grouping level, outer first (nlme's ``ranef``)."""
        frames = {g: pd.DataFrame(b, index=pd.Index(lev, name=g), columns=[self.spec.names[j] for j in t.params])
                  for g, lev, b, t in self._outer_first(self.problem.levels, self.bs, self.spec.terms)}
        return next(iter(frames.values())) if len(frames) == 1 else frames

    @property
    def converged(self) -> bool:
        return self.status.startswith("converged")

    @property
    def optimizer(self) -> OptimizerInfo:
        """Status and outer iterations; gradient and Hessian figures of the last LME step (Lindstrom-Bates) or of
        the Laplace deviance."""
        s = self.solution
        return OptimizerInfo(self.status, self.iterations, s.evaluations, s.grad_norm, s.hessian_min_eig)

    def _newdata(self, newdata: pd.DataFrame, level: int) -> NlmeData:
        p = self.problem
        columns = list(p.data.columns)
        needed = columns + [c for spec in p.fixed_specs.values() if spec is not None for c in spec.required_variables]
        needed += list(p.group_columns[:level])
        missing = [c for c in dict.fromkeys(needed) if c not in newdata.columns]
        if missing:
            raise ValueError(f"newdata lacks column(s) {', '.join(missing)}.")
        X = np.hstack([np.ones((len(newdata), 1)) if spec is None else np.asarray(spec.get_model_matrix(newdata))
                       for spec in p.fixed_specs.values()])
        codes = []
        for group, levels in zip(p.groups, p.levels):
            d = depth(p, group)
            if d > level:
                codes.append(np.zeros(len(newdata), dtype=np.int32))
                continue
            labels = newdata[list(p.group_columns[:d])].astype(str).agg("/".join, axis=1).to_numpy()
            index = {lev: i for i, lev in enumerate(levels)}
            unknown = sorted({lab for lab in labels if lab not in index})
            if unknown:
                raise ValueError(f"newdata has level(s) of {group!r} not in the fit: {', '.join(unknown[:5])}; "
                                 f"predict them with level={d - 1}.")
            codes.append(np.array([index[lab] for lab in labels], dtype=np.int32))
        return NlmeData(np.zeros(len(newdata)), {c: np.asarray(newdata[c], dtype=float) for c in columns}, X,
                        tuple(codes))

    def predict(self, newdata: pd.DataFrame | None = None, level: int | None = None) -> np.ndarray:
        """Means for ``newdata`` (default: the fitted rows) at grouping ``level``: 0 the population curve (no
        random effects), 1 with the effects of each row's group, 2 adding the nested group's, and so on (default:
        all, the innermost); a level not seen in the fit raises. As nlme's ``predict(m, newdata, level=)``."""
        deepest = len(self.problem.group_columns)
        level = deepest if level is None else level
        if level not in range(deepest + 1):
            raise ValueError(f"level must be one of {list(range(deepest + 1))} (0: population), got {level!r}.")
        data = self.problem.data if newdata is None else self._newdata(newdata, level)
        bs = [b if depth(self.problem, g) <= level else np.zeros_like(b) for g, b in zip(self.problem.groups, self.bs)]
        return np.asarray(_f(phi(self.beta, bs, data, self.spec), data, self.spec))

    def fitted(self, level: int | None = None) -> np.ndarray:
        """Fitted values of the rows of the fit at grouping ``level`` (nlme's ``fitted(m, level=)``): the model at
        the fixed effects (0), plus the random effects of the groups down to ``level``; default the innermost."""
        return self.predict(level=level)

    def residuals(self, level: int | None = None) -> np.ndarray:
        """Response residuals ``y - fitted(level)`` (nlme's ``resid(m, level=)``; default the innermost level)."""
        return self.y - self.fitted(level)

    @property
    def singular(self) -> bool:
        """lme4's ``isSingular`` on the relative covariance factor: some diagonal entry of the Cholesky factor of a
        covariance block (in ``theta``, relative to ``sigma``) below 1e-4: a standard deviation at or near 0, or a
        block of several random effects that is (nearly) singular, such as a correlation of +-1."""
        return bool(np.any(self.theta_values[self._diagonal] < SINGULAR_TOL))

    @property
    def _diagonal(self) -> np.ndarray:
        """Positions of the diagonal entries of the covariance blocks' factors in ``theta_values``."""
        lower = np.concatenate([term.cov.lower() for term in self.spec.terms])
        return np.flatnonzero(lower == 0.0)

    def fixed_point(self) -> NlmeFit:
        """This model iterated on to the fixed point of the Lindstrom-Bates iterations, from this fit: the PNLS
        step run to its minimum (``pnls_tol=0``: nlme's ``pnlsTol`` going to 0) at the covariance that maximizes
        the likelihood of the model linearized there. nlme (and this fit) stops as soon as its PNLS criterion is
        below 1e-3, short of that minimum, at a point that depends on the start values; the fixed point does not.
        Lindstrom-Bates fits only."""
        if self.method == "laplace":
            raise ValueError("fixed_point() is for Lindstrom-Bates fits (method='ML' or 'REML'); a Laplace fit is "
                             "the maximum of its own objective.")
        p = self.problem
        if self.residual is None:
            state = lindstrom_bates(p.spec, p.data, self.beta, p.names, p.groups, p.levels, bs0=self.bs,
                                    theta0=self.theta_values, pnls_tol=0.0, tolerance=1e-10)
        else:
            r = self.residual
            state = lindstrom_bates_residual(p.spec, p.data, self.beta, p.names, p.groups, p.levels,
                                             r.objective.spec.bound, r.objective.data.arrays,
                                             reml=self.method == "REML", bs0=self.bs, theta0=self.theta_values,
                                             rho0=r.rho, pnls_tol=0.0, tolerance=1e-10)
        if not state.converged:
            raise ValueError(f"the Lindstrom-Bates iterations did not reach their fixed point: {state.status}.")
        structures = () if self.residual is None else (self.residual.correlation, self.residual.variance)
        return from_lindstrom_bates(p, state, reml=self.method == "REML", pnls_tol=0.0, structures=structures)

    def summary(self, ddf: str | None = None, adjust_sigma: bool = True) -> Summary:
        """nlme's ``summary.nlme``: AIC, BIC and log-likelihood; the random effects' standard deviations with the
        correlations as a lower-triangular ``Corr`` matrix, per grouping level (outer first), and the residual SD;
        the fixed-effects t-table (``ddf``: nlme's degrees of freedom by default, see ``coef_table``) with standard
        errors times ``sqrt(n / (n - p))`` for ML fits (nlme's ``adjustSigma``; ``adjust_sigma=False``: the fit's
        ``fixef_se``); the correlation of the fixed effects; the quantiles of the standardized within-group
        residuals."""
        return summarize_nlme(self, ddf, adjust_sigma)

    def coef_table(self, ddf: str | None = None, level: float = 0.95) -> pd.DataFrame:
        """The fixed effects with ``estimate, se, df, statistic, p_value, lower, upper``: nlme's t tests
        (``ddf="nlme"``, default: ``n - (groups at the innermost level) - p + 1`` df) or Wald z tests
        (``ddf="asymptotic"``)."""
        return tables.coef_table(self, ddf, level)

    def confint(self, method: str = "wald", level: float = 0.95) -> pd.DataFrame:
        """Wald intervals of the fixed effects (columns ``lower, upper``)."""
        return confint(self, method, level)

    def bootstrap(self, *args, **kwargs):
        raise NotImplementedError("the parametric bootstrap, simulate, refit and influence work for fits of "
                                  "mixjax.lmm and mixjax.glmm (and lmm_many / glmm_many); not yet for nonlinear models.")

    simulate = refit = influence = bootstrap

    def __repr__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def from_lindstrom_bates(problem: NlmeProblem, state: LindstromBates, reml: bool = False,
                         pnls_tol: float = PNLS_TOL, structures: tuple = ()) -> NlmeFit:
    """nlme's numbers where the iterations stopped. REML as nlme computes it for nonlinear models: its PNLS step
    re-estimates the relative covariance by ML at every iteration, so the fixed effects and relative covariance are
    the ML ones; ``sigma`` (divisor ``n - p``), the covariances scaled by it, and the restricted log-likelihood come
    from the REML criterion of the final linearized model. With residual structures (``structures``: the
    correlation and variance function as given) see ``_from_residual``."""
    if state.bound is not None:
        return _from_residual(problem, state, reml, pnls_tol, structures)
    objective = make_lmm(state.design, reml=True) if reml else state.objective.objective
    theta = state.solution.x
    est = estimates(objective, state.design, state.objective.full(theta))
    fun = float(objective.deviance(state.objective.full(theta))) if reml else state.solution.fun
    return NlmeFit(problem, "REML" if reml else "ML", state.beta, list(state.bs), theta, est.sigma, est.vcov,
                   -0.5 * fun, state.solution, state.iterations, state.status, pnls_tol)


def _from_residual(problem: NlmeProblem, state: LindstromBates, reml: bool, pnls_tol: float,
                   structures: tuple) -> NlmeFit:
    """As nlme's final ``MEestimate``: the (restricted) likelihood of the last linearized model with the residual
    structure, at the covariance of the last PNLS iteration and the structure's parameters of the last LME step,
    ``log|Lambda|`` included; ``sigma`` and the covariance of the fixed effects from the rows whitened there."""
    objective = make_residual(make_lmm(state.design, reml=reml), state.bound, state.arrays)
    theta = state.solution.x
    full = state.objective.full(theta)
    x = np.r_[full, state.rho]
    est = estimates(objective.conditional(x), state.design, full)
    fun = float(objective.deviance(x))
    correlation, variance = structures or (state.bound.correlation, None)
    residual = ResidualFit(objective, state.joint._replace(x=x), correlation, variance)
    return NlmeFit(problem, "REML" if reml else "ML", state.beta, list(state.bs), theta, est.sigma, est.vcov,
                   -0.5 * fun, state.solution, state.iterations, state.status, pnls_tol, residual)


def from_laplace(problem: NlmeProblem, objective, solution: Solution, iterations: int) -> NlmeFit:
    """The Laplace maximum: ``psi = [theta, beta]``; the covariance of ``beta`` from the inverse of half the
    deviance's Hessian over the parameters not on a bound."""
    n_theta = problem.spec.terms[0].n_theta
    psi = solution.x
    theta, beta = psi[:n_theta], psi[n_theta:]
    u, sigma = objective.mode_and_sigma(psi)
    T = host_factors(theta, problem.spec)[0]
    free = ~solution.at_bound
    cov = np.full((len(psi), len(psi)), np.nan)
    cov[np.ix_(free, free)] = np.linalg.inv(0.5 * solution.hessian[np.ix_(free, free)])
    return NlmeFit(problem, "laplace", beta, [u @ T.T], theta, sigma, cov[n_theta:, n_theta:],
                   -0.5 * solution.fun, solution, iterations, describe(solution.status, solution.max_iter,
                                                                       solution.detail), None)


def _g(v: float) -> str:
    """A number as R prints it by default (7 significant digits)."""
    return f"{v:.7g}"


def _column(values) -> list[str]:
    """A column of numbers as R's ``format`` writes it: fixed notation, with as many decimals as the entry that
    needs most for 7 significant digits (at most 10)."""
    decimals = 0
    for v in np.asarray(values, dtype=float):
        if np.isfinite(v) and v != 0:
            mantissa, _, exponent = f"{v:.7g}".partition("e")
            decimals = max(decimals, len(mantissa.partition(".")[2]) - int(exponent or 0))
    decimals = min(decimals, 10)
    return [f"{v:.{decimals}f}" for v in np.asarray(values, dtype=float)]


def _random_effects(fit: NlmeFit) -> tuple[pd.DataFrame, str]:
    """The random-effects table (``Groups, Name, StdDev``, then one column of correlations per earlier random
    effect of a covariance block, NaN elsewhere; last the residual SD) and its text, per grouping level outer
    first, as nlme's ``print(summary(reStruct))``: StdDev and the lower-triangular Corr matrix."""
    rows, lines = [], []
    terms = fit._outer_first(fit.spec.terms, host_factors(fit.theta_values, fit.spec))
    for n, (group, term, T) in enumerate(terms):
        names = [fit.spec.names[j] for j in term.params]
        _, sd, corr = covariance_parts(fit.sigma, T)
        correlated = np.zeros((len(names), len(names)), dtype=bool)  # pairs within one covariance block
        off = 0
        for block in term.blocks:
            correlated[off : off + len(block), off : off + len(block)] = True
            off += len(block)
        correlated &= np.tri(len(names), k=-1, dtype=bool)
        cols = [names[j] for j in range(len(names)) if correlated[:, j].any()]
        rows += [{"Groups": group, "Name": name, "StdDev": sd[i],
                  **{names[j]: corr[i, j] for j in range(len(names)) if correlated[i, j]}}
                 for i, name in enumerate(names)]
        outer = fit.problem.group_columns[: depth(fit.problem, group)]
        level = " %in% ".join(reversed(outer))  # nlme's 'Tree %in% Site'
        formula = (f"{names[0]} ~ 1 | {level}" if len(names) == 1
                   else f"list({', '.join(f'{p} ~ 1' for p in names)})\n Level: {level}")
        lines.append(f" Formula: {formula}")
        if len(names) > 1:
            lines.append(" Structure: " + ("General positive-definite" if cols else "Diagonal"))
        last = n == len(terms) - 1
        labels = names + (["Residual"] if last else [])
        sds = _column(list(sd) + ([fit.sigma] if last else []))
        wl, ws = max(map(len, labels)), max(len("StdDev"), *map(len, sds))
        width = [max(6, len(c[:6])) for c in cols]
        head = f"{'':<{wl}} {'StdDev':<{ws}}" + (" Corr" if cols else "")
        table = [head]
        for i, (label, s) in enumerate(zip(labels, sds)):
            line = f"{label:<{wl}} {s:<{ws}}"
            if cols and i == 0:
                line += " " + " ".join(f"{c[:6]:<{w}}" for c, w in zip(cols, width))
            elif cols and i < len(names):
                line += " " + " ".join(f"{corr[i, names.index(c)]:>{w}.3f}" if correlated[i, names.index(c)]
                                       else " " * w for c, w in zip(cols, width))
            table.append(line.rstrip())
        lines += table + [""]
    rows.append({"Groups": "Residual", "Name": "", "StdDev": fit.sigma})
    frame = pd.DataFrame(rows)
    return frame, "\n".join(lines).rstrip()


def _correlation_text(corr: pd.DataFrame) -> str:
    """The correlation of the fixed effects as nlme prints it: lower triangle, 3 decimals."""
    names = list(corr.index)
    wl, w = max(map(len, names)), max(6, *(len(n) for n in names[:-1]))
    lines = [" Correlation: ", f"{'':<{wl}} " + " ".join(f"{n:<{w}}" for n in names[:-1])]
    for i in range(1, len(names)):
        lines.append(f"{names[i]:<{wl}} " + " ".join(f"{corr.iloc[i, j]:>{w}.3f}" for j in range(i)))
    return "\n".join(line.rstrip() for line in lines)


def _groups_text(fit: NlmeFit) -> str:
    counts = fit.ngroups
    if len(counts) == 1:
        return f"Number of Observations: {fit.nobs}\nNumber of Groups: {next(iter(counts.values()))}"
    names = list(counts)
    labels = [" %in% ".join(reversed(names[: i + 1])) for i in range(len(names))]  # nlme: 'Tree %in% Site'
    table = pd.DataFrame([list(counts.values())], columns=labels).to_string(index=False)
    return f"Number of Observations: {fit.nobs}\nNumber of Groups:\n{table}"


def _structure_lines(fit: NlmeFit) -> list[str]:
    """The residual structures as nlme's ``print(summary(m))`` shows them (``results.lme``'s lines; a
    correlation's default form names the innermost grouping)."""
    if fit.residual is None:
        return []
    group = SimpleNamespace(factor="/".join(fit.problem.group_columns))
    view = SimpleNamespace(residual=fit.residual, correlation=fit.correlation,
                           variance_function=fit.variance_function, design=SimpleNamespace(terms=[group]))
    return _structures(view)


def summarize_nlme(fit: NlmeFit, ddf: str | None = None, adjust_sigma: bool = True) -> Summary:
    """``NlmeFit.summary``: nlme's ``summary.nlme`` as a ``Summary`` (the LMM's and GLMM's)."""
    criteria = pd.DataFrame([[_g(fit.aic), _g(fit.bic), _g(fit.loglik)]], columns=["AIC", "BIC", "logLik"])
    header = "\n".join([
        f"Nonlinear mixed-effects model fit by {_METHODS[fit.method]} (mixjax)",
        f"  Model: {fit.problem.model}",
        criteria.to_string(index=False),
        "",
    ])
    random, random_text = _random_effects(fit)
    t = fit.coef_table(ddf)
    se = t.se.to_numpy()
    if adjust_sigma and fit.method == "ML":  # nlme's adjustSigma: a REML-like residual SD for the t-table
        se = se * np.sqrt(fit.nobs / (fit.nobs - len(fit.beta)))
    stat = t.estimate.to_numpy() / se
    df = t.df.to_numpy()
    p = np.where(np.isinf(df), 2 * stats.norm.sf(np.abs(stat)), 2 * stats.t.sf(np.abs(stat), np.minimum(df, 1e300)))
    fixed = pd.DataFrame({"Value": t.estimate.to_numpy(), "Std.Error": se, "DF": df, "t-value": stat, "p-value": p},
                         index=t.index)
    corr = fit.vcov / np.outer(fit.fixef_se, fit.fixef_se)
    shown = pd.DataFrame({"Value": _column(fixed["Value"]), "Std.Error": _column(se),
                          "DF": [f"{v:.0f}" if np.isfinite(v) else "Inf" for v in df], "t-value": _column(stat),
                          "p-value": [f"{v:.4f}" for v in p]}, index=fixed.index)
    resid = np.quantile(fit.pearson_residuals(), [0.0, 0.25, 0.5, 0.75, 1.0])
    body = [
        "Random effects:",
        random_text,
        "",
        *_structure_lines(fit),
        f"Fixed effects:  {' + '.join(fit.problem.names)}",
        shown.to_string(),
    ]
    if len(fit.beta) > 1:
        body.append(_correlation_text(corr))
    body += ["", "Standardized Within-Group Residuals:",
             pd.DataFrame([_column(resid)], columns=["Min", "Q1", "Med", "Q3", "Max"]).to_string(index=False),
             ""]
    groups = _groups_text(fit)
    if fit.pnls_tol is None:
        how = ""
    elif fit.pnls_tol > 0:
        how = f" (nlme's pnlsTol {fit.pnls_tol:g}; fit.fixed_point() iterates on to the fixed point)"
    else:
        how = " (to the Lindstrom-Bates fixed point: pnlsTol 0)"
    notes = [f"optimizer: {fit.status}; {fit.iterations} iterations{how}"]
    if fit.singular:
        notes.append("boundary (singular) fit: some variance or correlation parameter is at its bound (see theta).")
    footer = "\n".join(notes)
    text = header + "\n" + "\n".join(body) + "\n" + groups + "\n\n" + footer
    return Summary(header, random, groups, fixed, corr, footer, text)
