"""GlmmFit: the result of a generalized linear mixed model fit, with lme4's (and glmmTMB's) accessors.

Standard errors come from the exact Hessian of ``-log L`` in ``psi = [theta, beta, family parameters]`` (as lme4's
``use.hessian`` and glmmTMB's ``sdreport``): ``vcov`` is the beta block of its inverse, taken over the
parameters not held at a bound.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..design import Design
from ..engines import glmm as engine
from ..inference import tables
from ..objectives.glmm import GlmmObjective
from ..objectives.lmm import _factors
from ..optim import Solution
from .base import MixedFit
from .estimates import covariance_parts, varcorr_frame
from .lmm import OptimizerInfo, response_vector
from .stata_summary import check_style, stata_summary
from .status import describe
from .summary import Summary, summarize_glmm

__all__ = ["GlmmFit"]


@dataclass(frozen=True, eq=False, repr=False)
class GlmmFit(MixedFit):
    """A fitted GLMM. Built by ``mixjax.glmm``; every attribute is computed from the optimum."""

    design: Design
    objective: GlmmObjective
    solution: Solution

    # ---------------------------------------------------------------------------------------- parameters
    @property
    def family(self):
        return self.objective.spec.family

    @property
    def nagq(self) -> int:
        return self.objective.spec.nagq

    @property
    def _parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nt, p = self.design.n_theta, self.design.p
        x = self.solution.x
        return x[:nt], x[nt : nt + p], x[nt + p :]

    @property
    def _theta_values(self) -> np.ndarray:
        return self._parts[0]

    @cached_property
    def _T(self) -> tuple:
        return tuple(np.asarray(T) for T in _factors(self._parts[0], self.objective.spec.covs))

    @property
    def theta(self) -> pd.Series:
        return pd.Series(self._parts[0], index=self.design.theta_names, name="theta")

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self._parts[1], index=list(self.design.xnames), name="fixef")

    @cached_property
    def _covariance(self) -> np.ndarray:
        """Inverse of the Hessian of ``-log L`` over the free parameters (NaN rows/columns for those at a bound)."""
        s = self.solution
        free = ~(s.at_bound & (s.grad > 0))
        cov = np.full((len(s.x), len(s.x)), np.nan)
        cov[np.ix_(free, free)] = np.linalg.inv(0.5 * s.hessian[np.ix_(free, free)])
        return cov

    @property
    def vcov(self) -> pd.DataFrame:
        nt, p = self.design.n_theta, self.design.p
        names = list(self.design.xnames)
        return pd.DataFrame(self._covariance[nt : nt + p, nt : nt + p], index=names, columns=names)

    @property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.vcov)), index=list(self.design.xnames), name="fixef_se")

    @property
    def dispersion(self) -> float | None:
        """The family's dispersion as glmmTMB's ``sigma()``: nbinom2 size, nbinom1 phi, gaussian SD, gamma CV,
        inverse Gaussian sigma; None for binomial, Poisson and ordinal, and where ``disp=`` models it per row."""
        return self.family.dispersion(self._parts[2])

    def _dpar(self, name: str) -> tuple[pd.Series | None, pd.Series | None]:
        """Coefficients and SEs of a distributional parameter's linear predictor (``zi``, ``disp``); Nones without
        one."""
        part = next((d for d in self.design.dpars if d.name == name), None)
        if part is None:
            return None, None
        first = len(self.solution.x) - len(self._parts[2])
        index = [first + i for i, n in enumerate(self._family_names) if n.startswith(name + ".")]
        se = np.sqrt(np.diag(self._covariance)[index])
        return (pd.Series(self.solution.x[index], index=list(part.xnames), name=f"{name}_fixef"),
                pd.Series(se, index=list(part.xnames), name=f"{name}_fixef_se"))

    @property
    def zi_fixef(self) -> pd.Series | None:
        """Coefficients of the zero-inflation (or hurdle) linear predictor, logit scale (glmmTMB's
        ``fixef(m)$zi``); None without ``zi=``."""
        return self._dpar("zi")[0]

    @property
    def zi_fixef_se(self) -> pd.Series | None:
        return self._dpar("zi")[1]

    @property
    def disp_fixef(self) -> pd.Series | None:
        """Coefficients of the dispersion linear predictor, on the dispersion parameter's log scale (glmmTMB's
        ``fixef(m)$disp``); None without ``disp=``."""
        return self._dpar("disp")[0]

    @property
    def disp_fixef_se(self) -> pd.Series | None:
        return self._dpar("disp")[1]

    def coef_table(self, ddf: str | None = None, level: float = 0.95, vcov=None) -> pd.DataFrame:
        """The fixed effects with ``estimate, se, df, statistic, p_value, lower, upper`` (Wald z), then the rows of
        ``zi=`` and ``disp=`` linear predictors, named ``zi.<column>`` and ``disp.<column>``."""
        table = super().coef_table(ddf, level, vcov)
        for name in ("zi", "disp"):
            part = self._dpar(name)
            if part[0] is not None:
                est, se = (v.to_numpy() for v in part)
                rows = pd.DataFrame({"estimate": est, "se": se, "df": np.inf, **tables._t_table(est, se, np.inf, level)},
                                    index=[f"{name}.{c}" for c in part[0].index])
                table = pd.concat([table, rows])
        return table

    @property
    def cutpoints(self) -> pd.Series | None:
        """Ordinal models: the cutpoints (clmm's thresholds ``1|2``, ``2|3``, ...); None otherwise."""
        if self.family.name != "ordinal":
            return None
        return pd.Series(self._parts[2], index=self.family.param_names(self.objective.response), name="cutpoints")

    @property
    def cutpoints_se(self) -> pd.Series | None:
        if self.family.name != "ordinal":
            return None
        k = len(self._parts[2])
        return pd.Series(np.sqrt(np.diag(self._covariance)[-k:]), index=self.cutpoints.index, name="cutpoints_se")

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """One row per variance and per correlation of the random effects (R's ``as.data.frame(VarCorr(m))``);
        no residual row (see ``dispersion``)."""
        rows = []
        for term, T in zip(self.design.terms, self._T):
            cov, sd, corr = covariance_parts(1.0, T)
            rows += [(term.group, c, None, cov[i, i], sd[i]) for i, c in enumerate(term.cnames)]
            rows += [(term.group, term.cnames[j], term.cnames[i], cov[i, j], corr[i, j])
                     for j in range(term.k) for i in range(j + 1, term.k)]
        return varcorr_frame(rows)

    # ---------------------------------------------------------------------------------------- criteria
    @property
    def loglik(self) -> float:
        """The marginal log-likelihood with all constants (Laplace or quadrature, same scale)."""
        return -0.5 * self.solution.fun

    @property
    def deviance(self) -> float:
        """``-2 loglik``."""
        return self.solution.fun

    @property
    def df(self) -> int:
        return len(self.solution.x)

    # ---------------------------------------------------------------------------------------- convergence
    @property
    def hessian(self) -> np.ndarray:
        """Exact Hessian of ``-2 log L`` in ``psi`` at the optimum."""
        return self.solution.hessian

    @property
    def optimizer(self) -> OptimizerInfo:
        s = self.solution
        return OptimizerInfo(describe(s.status, s.max_iter, s.detail), s.iterations, s.evaluations, s.grad_norm,
                             s.hessian_min_eig)

    @property
    def converged(self) -> bool:
        return self.solution.converged

    # ---------------------------------------------------------------------------------------- random effects
    @cached_property
    def _conditional(self):
        u1, ur, F = self.objective.conditional(self.solution.x)
        return np.asarray(u1), np.asarray(ur), F

    @cached_property
    def _b(self) -> tuple:
        u1, ur, _ = self._conditional
        spec = self.objective.spec
        us = [u1] + [ur[o : o + l * k].reshape(l, k) for o, l, k in zip(spec.rest_offsets, spec.levels[1:], spec.ks[1:])]
        return tuple(u @ T.T for u, T in zip(us, self._T))

    @cached_property
    def condvar(self) -> dict:
        """Conditional covariance of the random effects at the mode (the inverse of the Laplace ``H``, scaled by
        Lambda): group -> array (n_levels, k, k)."""
        _, _, F = self._conditional
        spec = self.objective.spec
        L1inv = np.asarray(F.L1inv)
        blocks = [np.einsum("gki,gkj->gij", L1inv, L1inv)]
        if spec.qr:
            Ls = np.asarray(F.Ls)
            Sinv = np.linalg.inv(Ls @ Ls.T)
            M = np.asarray(F.M)
            blocks[0] = blocks[0] + np.einsum("gai,ij,gbj->gab", M, Sinv, M)
            for o, l, k in zip(spec.rest_offsets, spec.levels[1:], spec.ks[1:]):
                part = Sinv[o : o + l * k, o : o + l * k].reshape(l, k, l, k)
                blocks.append(part[np.arange(l), :, np.arange(l), :])
        return {t.group: np.einsum("ij,gjk,lk->gil", T, v, T) for t, T, v in zip(self.design.terms, self._T, blocks)}

    # ---------------------------------------------------------------------------------------- predictions
    def _offset(self, newdata) -> np.ndarray | float:
        if newdata is None:
            return 0.0 if self.design.offset is None else self.design.offset
        if not self.design.parsed.offsets:
            return 0.0
        from ..design import (
            _offsets,  # the formula's offset(...) terms, evaluated on newdata
        )

        return _offsets(self.design.parsed, newdata, None)

    def predict(self, newdata: pd.DataFrame | None = None, *, type: str = "link", include_re: bool = True,
                allow_new_levels: bool = False, at_time=None):
        """Predictions for ``newdata`` (default: the fitted rows): the linear predictor (``type="link"``, offsets
        included) or the mean response (``type="response"``; category probabilities (n, K) for ordinal models);
        survival fits also ``"median"``, ``"mean"`` (survival times), ``"hazard"``, ``"survival"`` at ``at_time``
        (``survival``). ``include_re=False`` gives the population level; unseen levels raise unless
        ``allow_new_levels`` (then their random effects are 0)."""
        if type in ("median", "mean", "hazard", "survival"):
            return self.survival(newdata, type=type, at_time=at_time, include_re=include_re,
                                 allow_new_levels=allow_new_levels)
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response' (survival fits: 'median', 'mean', 'hazard', "
                             f"'survival'), got {type!r}.")
        eta = self._linear_predictor(newdata, include_re, allow_new_levels, self._parts[1]) + self._offset(newdata)
        if type == "link":
            return np.asarray(eta)
        resp = self.objective.response
        if newdata is not None and self.design.dpars:  # the zi= / disp= designs of the new rows
            resp = resp._replace(**{d.name: np.asarray(d.spec.get_model_matrix(newdata)[list(d.xnames)], dtype=float)
                                    for d in self.design.dpars})
        return np.asarray(self.family.response_mean(resp, eta, self._parts[2]))

    def fitted(self):
        """Conditional mean response for the rows used in the fit."""
        return self.predict(type="response")

    def residuals(self) -> np.ndarray:
        """Response residuals: observed minus fitted mean (for binomial, on the proportion scale)."""
        if self.family.name == "ordinal":
            raise ValueError("residuals are not defined for an ordinal response; use predict(type='response').")
        resp = self.objective.response
        return resp.y / resp.trials - self.fitted()

    # ---------------------------------------------------------------------------------------- batches
    @property
    def _family_names(self) -> list:
        return self.family.param_names(self.objective.response)

    @property
    def _family_values(self) -> np.ndarray:
        return self._parts[2]

    def _simulate(self, keys, use_re: bool):
        u1, ur, _ = self._conditional
        obj = self.objective
        return engine.simulate(keys, self.solution.x, u1, ur, obj.data, obj.spec, use_re=use_re)

    def _fit_batch(self, Y, start=None, **kwargs):
        return engine.fit_many(self.objective, self.design.terms, Y, self.solution.x if start is None else start,
                               **kwargs)

    def _with_response(self, y) -> tuple[Design, GlmmObjective]:
        """Design and objective for ``y`` on the scale of ``Response.y`` (binomial: successes out of the trials)."""
        obj, d = self.objective, self.design
        resp = obj.response._replace(y=y)
        if d.y.ndim == 2:  # cbind(successes, failures)
            design_y = np.column_stack([y, resp.trials - y])
        elif self.family.name == "binomial" and not d.response_levels:
            design_y = y / resp.trials  # a proportion (0/1 when the trials are 1)
        else:
            design_y = y
        data = obj.data._replace(y=np.asarray(y, dtype=np.float64))
        zeros = (np.zeros_like(obj.last_mode["u"][0]), np.zeros_like(obj.last_mode["u"][1]))
        return dataclasses.replace(d, y=design_y), obj._replace(data=data, response=resp, last_mode={"u": zeros})

    def _weight_map(self):
        """(prior weights, weights -> [beta, theta, family parameters] (JAX), names of theta and the family's)."""
        obj, nt, p = self.objective, self.design.n_theta, self.design.p

        def f(w):
            psi = obj.argmin(obj.data_with(weights=w), self.solution.x)
            return jnp.concatenate([psi[nt : nt + p], psi[:nt], psi[nt + p :]])

        return np.asarray(obj.data.weights), f, list(self.design.theta_names) + self._family_names

    def refit(self, y) -> GlmmFit:
        """The same model fitted to another response ``y`` (one value per row, on the scale ``simulate`` gives:
        binomial successes out of each row's trials, counts, ordinal codes 0..K-1), without rebuilding the
        design (lme4's ``refit``); the optimizer starts from this fit's estimates."""
        y = check_family_response(self.family, self.objective.response, response_vector(y, self.nobs))
        design, obj = self._with_response(y)
        return GlmmFit(design, obj, engine.solve(obj, design.terms, self.solution.x))

    # ---------------------------------------------------------------------------------------- display
    def summary(self, style: str = "lme4", eform: bool = False) -> Summary:
        """glmer's summary; ``style="stata"``: Stata's ``me*`` layout. ``eform=True`` (survival families): the
        fixed-effects table as hazard (PH) or time (AFT) ratios with the ancillary parameters (``eform_table``),
        as Stata prints ``mestreg`` by default."""
        out = stata_summary(self) if check_style(style) == "stata" else summarize_glmm(self)
        if not eform:
            return out
        table = self.eform_table()
        text = f"{out.text}\n\nExponentiated coefficients ({table.index.name}s):\n" + table.to_string(
            float_format=lambda v: f"{v:.4f}")
        return dataclasses.replace(out, fixed=table, text=text)

    # ---------------------------------------------------------------------------------------- survival families
    def survival(self, newdata=None, *, type: str = "median", at_time=None, include_re: bool = True,
                 allow_new_levels: bool = False) -> np.ndarray:
        """Survival fits: median / mean survival time, or hazard / survival at ``at_time`` (``results.survival``)."""
        from .survival import predict
        return predict(self, newdata, type=type, at_time=at_time, include_re=include_re,
                       allow_new_levels=allow_new_levels)

    def eform_table(self, level: float = 0.95) -> pd.DataFrame:
        """Survival fits: hazard (PH) or time (AFT) ratios and the ancillary parameters (``results.survival``)."""
        from .survival import eform_table
        return eform_table(self, level)


def check_family_response(family, resp, y: np.ndarray) -> np.ndarray:
    """``y`` (successes for binomial, codes for ordinal) checked against the family's support, through the
    family's own response check."""
    if family.name == "binomial":
        if np.any((y < 0) | (y > resp.trials) | (np.mod(y, 1) != 0)):
            raise ValueError("a binomial response must be whole numbers of successes between 0 and each row's trials.")
        return y
    if family.name == "ordinal":
        k = len(resp.levels)
        if np.any((y < 0) | (y > k - 1) | (np.mod(y, 1) != 0)):
            raise ValueError(f"an ordinal response must be category codes 0..{k - 1}.")
        return y
    return family.response(y, resp.weights, (), "y").y
