"""NlmeFit: the result of a nonlinear mixed model fit, with nlme's accessors.

Lindstrom-Bates (``method="ML"``/``"REML"``): fixed effects, their covariance, ``sigma`` and the variance
components are those of the LMM fitted to the linearized model at convergence, as nlme reports them; so is the
log-likelihood. Laplace: the maximum of the Laplace approximation, with the covariance of the fixed effects from
the inverse of its exact Hessian."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..engines.nlme import LindstromBates
from ..inference import tables
from ..inference.confint import confint
from ..nonlinear.setup import NlmeProblem, depth
from ..objectives.lmm import make_lmm
from ..objectives.nlme import NlmeData, _f, host_factors, phi
from ..optim.newton import Solution
from .base import Criteria
from .estimates import covariance_parts, estimates
from .lmm import OptimizerInfo
from .status import describe

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
        names = [f"{g}.{self.spec.names[b[i]]}" + ("" if i == j else f".{self.spec.names[b[j]]}")
                 for g, term in zip(self.problem.groups, self.spec.terms) for b in term.blocks
                 for j in range(len(b)) for i in range(j, len(b))]
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
        return pd.DataFrame(rows, columns=["group", "var1", "var2", "vcov", "sdcor"])

    @property
    def df(self) -> int:
        return len(self.beta) + len(self.theta_values) + 1

    @property
    def nobs(self) -> int:
        return len(self.problem.data.y)

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

    def residuals(self, level: int | None = None) -> np.ndarray:
        return self.y - self.predict(level=level)

    def summary(self) -> str:
        t = self.coef_table()
        table = pd.DataFrame({"Value": t.estimate, "Std.Error": t.se, "DF": t.df.astype(int), "t-value": t.statistic,
                              "p-value": t.p_value})
        vc = self.varcorr
        re = pd.DataFrame({"Group": vc.group, "Name": vc.var1.fillna(""),
                           "StdDev/Corr": vc.sdcor.to_numpy(), "with": vc.var2.fillna("")})
        criterion = "logRestrictedLik" if self.method == "REML" else "logLik"
        lines = [
            f"Nonlinear mixed-effects model fit by {_METHODS[self.method]}, mixjax",
            f"  Model: {self.problem.model}",
            f"  AIC {self.aic:.4f}  BIC {self.bic:.4f}  {criterion} {self.loglik:.4f}",
            "",
            "Random effects:",
            re.to_string(index=False, float_format=lambda v: f"{v:.6g}"),
            "",
            "Fixed effects:",
            table.to_string(float_format=lambda v: f"{v:.6g}"),
            "",
            f"Number of observations: {self.nobs}, groups: "
            + ", ".join(f"{g} {n}" for g, n in self.ngroups.items()),
            f"optimizer: {self.status}; {self.iterations} iterations",
        ]
        return "\n".join(lines)

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
        return self.summary()


def from_lindstrom_bates(problem: NlmeProblem, state: LindstromBates, reml: bool = False) -> NlmeFit:
    """nlme's numbers at convergence. REML as nlme computes it for nonlinear models: its PNLS step re-estimates the
    relative covariance by ML at every iteration, so the fixed effects and relative covariance are the ML ones;
    ``sigma`` (divisor ``n - p``), the covariances scaled by it, and the restricted log-likelihood come from the
    REML criterion of the final linearized model."""
    objective = make_lmm(state.design, reml=True) if reml else state.objective.objective
    theta = state.solution.x
    est = estimates(objective, state.design, state.objective.full(theta))
    fun = float(objective.deviance(state.objective.full(theta))) if reml else state.solution.fun
    return NlmeFit(problem, "REML" if reml else "ML", state.beta, list(est.b), theta, est.sigma, est.vcov,
                   -0.5 * fun, state.solution, state.iterations, state.status)


def from_laplace(problem: NlmeProblem, objective, solution: Solution, iterations: int) -> NlmeFit:
    """The Laplace maximum: ``psi = [theta, beta]``; the covariance of ``beta`` from the inverse of half the
    deviance's Hessian over the parameters not on a bound."""
    n_theta = problem.spec.terms[0].n_theta
    psi = solution.x
    theta, beta = psi[:n_theta], psi[n_theta:]
    u = objective.mode(psi)
    T = host_factors(theta, problem.spec)[0]
    free = ~solution.at_bound
    cov = np.full((len(psi), len(psi)), np.nan)
    cov[np.ix_(free, free)] = np.linalg.inv(0.5 * solution.hessian[np.ix_(free, free)])
    return NlmeFit(problem, "laplace", beta, [u @ T.T], theta, objective.sigma(psi, u), cov[n_theta:, n_theta:],
                   -0.5 * solution.fun, solution, iterations, describe(solution.status, solution.max_iter,
                                                                       solution.detail))
