"""LmmFit: the result of a linear mixed model fit, with lme4's accessors."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..design import Design
from ..engines import lmm as engine
from ..engines import residual as residual_engine
from ..inference import robust
from ..inference.kenward_roger import KenwardRoger, kenward_roger
from ..inference.satterthwaite import Satterthwaite, satterthwaite
from ..objectives.lmm import LmmObjective, make_lmm
from ..objectives.lmm_estimates import estimates as device_estimates
from ..optim import Solution
from ..optim.lbfgs import fd_hessian
from .base import MixedFit
from .estimates import Estimates, conditional_variances, covariance_parts, estimates, varcorr_frame
from .stata_summary import check_style, stata_summary
from .status import describe
from .summary import Summary, summarize

__all__ = ["LmmFit", "OptimizerInfo", "response_vector"]


class OptimizerInfo(NamedTuple):
    """How the optimizer ended: ``status`` in words, ``iterations``, ``evaluations`` (value, gradient and Hessian
    together), ``max_grad`` (largest projected gradient of the deviance), ``hessian_min_eig`` (smallest
    eigenvalue of the deviance's Hessian on the free parameters; positive at a strict minimum)."""

    status: str
    iterations: int
    evaluations: int
    max_grad: float
    hessian_min_eig: float


@dataclass(frozen=True, eq=False, repr=False)
class LmmFit(MixedFit):
    """A fitted linear mixed model. Built by ``mixjax.lmm``; every attribute is computed from the optimum."""

    design: Design
    objective: LmmObjective
    solution: Solution
    residual: object = None  # ``engines.residual.ResidualFit`` of a fit with residual structures

    # ---------------------------------------------------------------------------------------- parameters
    @cached_property
    def _est(self) -> Estimates:
        return estimates(self.objective, self.design, self.solution.x)

    @property
    def _theta_values(self) -> np.ndarray:
        return self.solution.x

    @property
    def _b(self) -> tuple:
        return self._est.b

    @property
    def reml(self) -> bool:
        return self.objective.reml

    @property
    def theta(self) -> pd.Series:
        return pd.Series(self.solution.x, index=self.objective.names, name="theta")

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self._est.beta, index=list(self.design.xnames), name="fixef")

    @property
    def vcov(self) -> pd.DataFrame:
        names = list(self.design.xnames)
        return pd.DataFrame(self._est.vcov, index=names, columns=names)

    @property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._est.vcov)), index=list(self.design.xnames), name="fixef_se")

    @property
    def sigma(self) -> float:
        return self._est.sigma

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """One row per variance and per correlation, then ``Residual``: R's ``as.data.frame(VarCorr(m))``."""
        rows = []
        for term, T in zip(self.design.terms, self._est.T):
            cov, sd, corr = covariance_parts(self.sigma, T)
            rows += [(term.group, c, None, cov[i, i], sd[i]) for i, c in enumerate(term.cnames)]
            rows += [(term.group, term.cnames[j], term.cnames[i], cov[i, j], corr[i, j])
                     for j in range(term.k) for i in range(j + 1, term.k)]
        rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return varcorr_frame(rows)

    # ---------------------------------------------------------------------------------------- criteria
    @property
    def deviance(self) -> float:
        """ML deviance, or the REML criterion for REML fits (lme4's 'REML criterion at convergence')."""
        return self.solution.fun

    @property
    def loglik(self) -> float:
        return -0.5 * self.solution.fun

    @property
    def df(self) -> int:
        if self.residual is None:
            return self.design.p + self.design.n_theta + 1
        return self.design.p + int(self.residual.objective.free.sum()) + 1  # held parameters do not count

    # ---------------------------------------------------------------------------------------- residual structures
    def _structure(self, which: str) -> dict:
        if self.residual is None:
            return {}
        bound, rho = self.residual.objective.spec.bound, self.residual.rho
        if which == "correlation":
            cor = bound.correlation
            return {} if cor is None else {"class": type(cor).__name__, **cor.natural(rho[: bound.n_corr], bound.m)}
        if not bound.variances:
            return {}
        combined = len(bound.variances) > 1  # varComb: nlme's names, "A.Female", "B.power"
        out, start = {"class": "varComb" if combined else type(bound.variances[0][0]).__name__}, bound.n_corr
        for i, (f, strata) in enumerate(bound.variances):
            k = f.n_params(len(strata))
            prefix = f"{chr(65 + i)}." if combined else ""
            out.update({prefix + name: v for name, v in f.natural(rho[start : start + k], strata).items()})
            start += k
        return out

    def marginal_covariance(self, level=None) -> pd.DataFrame:
        """The model's covariance of the response over the rows of one level of the first grouping factor (default:
        its first level), ``Z G Z' + sigma^2 Lambda`` (nlme's ``getVarCov(type = "marginal")``), rows labelled by
        their position in the fit's data."""
        if self.objective.rows is None:
            self._check_supported("marginal_covariance")
        t1 = self.design.terms[0]
        level = t1.levels[0] if level is None else str(level)
        if level not in t1.levels:
            raise ValueError(f"{level!r} is not a level of {t1.factor!r}; its levels are {', '.join(t1.levels[:10])}...")
        rows = np.flatnonzero(t1.codes == t1.levels.index(level))
        V = np.zeros((len(rows), len(rows)))
        for term, T in zip(self.design.terms, self._est.T):
            Z = term.Z[rows]
            same = term.codes[rows][:, None] == term.codes[rows][None, :]
            V += same * (Z @ np.asarray(T) @ np.asarray(T).T @ Z.T)
        V = self.sigma**2 * (V + self._residual_covariance(rows))
        return pd.DataFrame(V, index=rows, columns=rows)

    def _residual_covariance(self, rows: np.ndarray) -> np.ndarray:
        """``Lambda`` (residual covariance over sigma^2) over ``rows``, from the whitening: ``(W' W)^{-1}`` with ``W``
        the whitened unit columns."""
        if self.residual is None:
            return np.diag(1.0 / self.design.weights[rows])
        from ..residual import whiten

        o = self.residual.objective
        E = np.zeros((self.nobs, len(rows)))
        E[rows, np.arange(len(rows))] = np.sqrt(self.design.weights[rows])
        W, _ = whiten(self.residual.rho, E, o.data.arrays, o.spec.bound)
        return np.linalg.inv(np.asarray(W).T @ np.asarray(W))

    @property
    def correlation(self) -> dict:
        """The residual correlation structure's class and parameters on their natural scale (nlme's ``coef(cs,
        unconstrained = FALSE)``: ``Phi``, ``Rho``, ``range`` ...); empty without one."""
        return self._structure("correlation")

    @property
    def variance_function(self) -> dict:
        """The variance function's class and parameters (nlme's ``coef(vf, unconstrained = FALSE)``: SD ratios
        per level for ``varIdent``, ``power``, ``expon``, ``const``); empty without one."""
        return self._structure("variance")

    # ---------------------------------------------------------------------------------------- convergence
    @cached_property
    def hessian(self) -> np.ndarray:
        """Hessian of the deviance in theta at the optimum: the optimizer's, or forward differences of the exact
        gradient where the optimizer (L-BFGS-B) did not form it."""
        s = self.solution
        return s.hessian if s.hessian is not None else fd_hessian(self.objective.value_grad, s.x, s.grad)

    @property
    def optimizer(self) -> OptimizerInfo:
        s = self.solution
        free = ~(s.at_bound & (s.grad > 0))
        min_eig = float(np.linalg.eigvalsh(self.hessian[np.ix_(free, free)])[0]) if free.any() else np.inf
        return OptimizerInfo(describe(s.status, s.max_iter, s.detail), s.iterations, s.evaluations, s.grad_norm,
                             min_eig)

    @property
    def converged(self) -> bool:
        return self.solution.converged

    # ---------------------------------------------------------------------------------------- random effects
    @cached_property
    def condvar(self) -> dict:
        """Conditional covariance of the random effects given the data and the estimates (lme4's ``condVar``):
        group -> array (n_levels, k, k)."""
        if self.residual is not None:
            self._check_supported("condvar (conditional variances of the random effects)")
        return {t.group: v for t, v in zip(self.design.terms, conditional_variances(self.design, self._est))}

    # ---------------------------------------------------------------------------------------- predictions
    def fitted(self) -> np.ndarray:
        """Conditional fitted values ``X beta + Z b`` for the rows used in the fit."""
        return self._linear_predictor(None, True, False, self._est.beta)

    def residuals(self) -> np.ndarray:
        """Response residuals ``y - fitted()``."""
        return self.design.y - self.fitted()

    def predict(self, newdata: pd.DataFrame | None = None, *, include_re: bool = True,
                allow_new_levels: bool = False) -> np.ndarray:
        """Predictions for ``newdata`` (default: the fitted data). ``include_re=False`` gives the population
        level ``X beta``; levels not seen in the fit raise unless ``allow_new_levels`` (then their random
        effects are 0, as lme4's ``allow.new.levels``)."""
        return self._linear_predictor(newdata, include_re, allow_new_levels, self._est.beta)

    # ---------------------------------------------------------------------------------------- batches
    def _check_supported(self, what: str) -> None:
        if self.residual is not None:
            raise ValueError(f"{what} is not available yet for fits with residual correlation structures or variance "
                             "functions.")
        if self.objective.rows is None:
            raise ValueError(f"{what} is not available yet for fits with a known covariance over the levels "
                             "(relmat=).")

    def _simulate(self, keys, use_re: bool):
        self._check_supported("simulation (and the parametric bootstrap)")
        est = self._est
        return engine.simulate(keys, est.beta, est.sigma, est.T, est.b, self.objective.rows, use_re=use_re)

    def _fit_batch(self, Y, start=None, **kwargs):
        self._check_supported("refitting to new responses")
        return engine.fit_many(self.objective, self.design, Y, self.solution.x if start is None else start, **kwargs)

    def _with_response(self, y) -> tuple[Design, LmmObjective]:
        obj = self.objective
        data = jax.device_get(obj.data_with(y=y))
        return (dataclasses.replace(self.design, y=y),
                obj._replace(data=data, rows=obj.rows._replace(y=y), programs={}))

    def _weight_map(self):
        """(prior weights, weights -> [beta, theta, sigma] (JAX), names of theta and sigma)."""
        self._check_supported("derivatives in the prior weights")
        obj = self.objective

        def f(w):
            data = obj.data_with(weights=w)
            theta = obj.argmin(data, self.solution.x)
            est = device_estimates(theta, data, obj.spec)
            return jnp.concatenate([est.beta, theta, est.sigma[None]])

        return self.design.weights, f, list(obj.names) + ["sigma"]

    def refit(self, y) -> LmmFit:
        """The same model fitted to another response ``y`` (one value per row of the fit), without rebuilding the
        design (lme4's ``refit``); the optimizer starts from this fit's theta."""
        self._check_supported("refit")
        y = response_vector(y, self.nobs)
        design, obj = self._with_response(y)
        return LmmFit(design, obj, engine.solve(obj, design, self.solution.x, True))

    def refit_ml(self) -> LmmFit:
        """The same model fitted by maximum likelihood (lme4's ``refitML``), from this fit's theta; a fit by ML is
        returned as it is."""
        if not self.reml:
            return self
        if self.residual is not None:
            r = self.residual
            ml = fit_with_residuals(self.design, r.correlation, r.variance, False, self.solution.x,
                                    r.objective.free[: self.design.n_theta])
        else:
            obj = make_lmm(self.design, reml=False)
            ml = LmmFit(self.design, obj, engine.solve(obj, self.design, self.solution.x, True))
        return dataclasses.replace(self, objective=ml.objective, solution=ml.solution, residual=ml.residual)

    # ---------------------------------------------------------------------------------------- inference
    @cached_property
    def _satterthwaite(self) -> Satterthwaite:
        return satterthwaite(self.objective, self.solution.x, self.sigma)

    @cached_property
    def _kenward_roger(self) -> KenwardRoger:
        self._check_supported("Kenward-Roger")
        return kenward_roger(self.design, self._est.T, self.sigma)

    def vcov_robust(self, type: str = "CR2", cluster: str | None = None) -> pd.DataFrame:
        """Cluster-robust covariance of the fixed effects (clubSandwich's ``vcovCR``; Stata's ``vce(robust)`` is
        CR1-like): ``type`` "CR2" (Bell-McCaffrey, default), "CR1", "CR0" (also "CR1p", "CR1S", "CR3");
        ``cluster``: a grouping factor of the model, default the outermost one."""
        self._check_supported("cluster-robust covariance")
        return robust.vcov_robust(self, type, cluster)

    def coef_test_robust(self, type: str = "CR2", cluster: str | None = None,
                         test: str = "Satterthwaite") -> pd.DataFrame:
        """t tests of the fixed effects with cluster-robust standard errors (clubSandwich's ``coef_test``):
        ``estimate, se, df, statistic, p_value``; ``test`` "Satterthwaite" (default), "naive-t", "naive-tp" or
        "z"."""
        self._check_supported("cluster-robust tests")
        return robust.coef_test_robust(self, type, cluster, test)

    # ---------------------------------------------------------------------------------------- display
    def summary(self, ddf: str | None = None, style: str = "lme4") -> Summary:
        """lme4's summary with lmerTest's columns: degrees of freedom (``ddf``, Satterthwaite by default) and
        ``Pr(>|t|)``; ``style="stata"``: Stata's layout (``mixed ..., stddeviations``)."""
        return stata_summary(self) if check_style(style) == "stata" else summarize(self, ddf)


def fit_with_residuals(design: Design, correlation, variance, reml: bool, theta0, free_theta=None,
                       cls=None) -> LmmFit:
    """The LMM with residual structures (``engines.residual``), as an ``LmmFit`` (or ``cls``) whose objective is the
    deviance in theta at the estimated residual parameters."""
    def fitted_at(objective, solution):
        return LmmFit(design, objective, solution).fitted()

    res = residual_engine.fit_residual(design, correlation, variance, reml, theta0, fitted_at, free_theta)
    n_theta = res.objective.spec.n_theta
    return (cls or LmmFit)(design, res.objective.conditional(res.solution.x),
                           residual_engine.theta_solution(res.solution, n_theta), res)


def response_vector(y, n: int) -> np.ndarray:
    """``y`` as a finite float vector of length ``n`` (else a ValueError that says what is wrong)."""
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("the response must be numbers (one per row of the fit).") from None
    if y.shape != (n,):
        raise ValueError(f"the response must have one value per row of the fit ({n}), got shape {y.shape}.")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"the response has {int(np.sum(~np.isfinite(y)))} missing or infinite value(s); give "
                         "finite numbers.")
    return y
