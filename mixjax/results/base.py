"""What LMM and GLMM results share: sizes, random effects by level, their use in predictions, display."""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from ..inference import postestimation, tables
from ..inference.confint import confint
from ..inference.profile import Profile
from ..inference.profile import profile as likelihood_profile
from .batch import Bootstrap, bootstrap, random_keys
from .influence import influence

__all__ = ["SINGULAR_TOL", "Criteria", "MixedFit"]

SINGULAR_TOL = 1e-4  # lme4's isSingular tolerance on the diagonal of theta


class Criteria:
    """Mixin: AIC and BIC from ``loglik``, ``df`` and ``nobs``."""

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.df

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.nobs) * self.df


class MixedFit(Criteria):
    """Mixin: needs ``design``, ``loglik``, ``df``, ``_theta_values`` (array), ``_b`` (per term (levels, k)
    random effects) and ``condvar``."""

    @property
    def nobs(self) -> int:
        return self.design.n_obs

    @property
    def ngroups(self) -> dict:
        return {t.factor: t.n_levels for t in self.design.terms}

    @property
    def singular(self) -> bool:
        """lme4's ``isSingular``: some diagonal element of theta below 1e-4 (a variance at or near 0)."""
        diag = self._theta_values[self.design.theta_lower == 0.0]  # diagonal entries of the T factors
        return bool(np.any(diag < SINGULAR_TOL))

    @property
    def ranef(self) -> dict:
        """Conditional modes: group -> DataFrame (levels x term columns)."""
        return {
            t.group: pd.DataFrame(b, index=pd.Index(t.levels, name=t.factor), columns=list(t.cnames))
            for t, b in zip(self.design.terms, self._b)
        }

    @property
    def ranef_se(self) -> dict:
        """Conditional standard deviations of the random effects: group -> DataFrame like ``ranef``."""
        ranef = self.ranef
        return {
            g: pd.DataFrame(np.sqrt(np.diagonal(v, axis1=1, axis2=2)), index=ranef[g].index, columns=ranef[g].columns)
            for g, v in self.condvar.items()
        }

    def _random_part(self, codes_and_Z) -> np.ndarray:
        """``Z b`` for rows given as (level codes, columns) per term; code -1 (a new level) contributes 0."""
        out = 0.0
        for (codes, Z), b in zip(codes_and_Z, self._b):
            known = codes >= 0
            out = out + np.where(known, np.einsum("nk,nk->n", Z, b[np.where(known, codes, 0)]), 0.0)
        return out

    def _linear_predictor(self, newdata, include_re: bool, allow_new_levels: bool, beta: np.ndarray) -> np.ndarray:
        """``X beta (+ Z b)`` for ``newdata`` (the fitted rows when None), without offsets."""
        d = self.design
        if newdata is None:
            parts = [(t.codes, t.Z) for t in d.terms]
            X = d.X
        else:
            from .predict import (
                new_design_parts,  # local: keeps the import graph simple
            )

            X, parts = new_design_parts(d, newdata, include_re, allow_new_levels)
        return X @ beta + (self._random_part(parts) if include_re else 0.0)

    def simulate(self, n: int = 1, *, seed=None, use_re: bool = False) -> np.ndarray:
        """``(n, nobs)`` responses drawn from the fitted model (lme4's ``simulate``): new random effects, or with
        ``use_re=True`` the fitted conditional modes (lme4's ``use.u``). ``seed``: an int (reproducible), a numpy
        Generator, or None. GLMMs: binomial successes out of each row's trials, counts, ordinal category codes
        0..K-1."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive number of responses, got {n!r}.")
        return np.asarray(self._simulate(random_keys(int(n), seed), bool(use_re)))

    def bootstrap(self, n: int = 1000, *, seed=None, batch_size: int | None = None, progress=None) -> Bootstrap:
        """Parametric bootstrap (lme4's ``bootMer(type = "parametric")``): ``n`` responses simulated from the fit in
        batches of ``batch_size`` (default: up to 1,024, fewer for large data), each batch refitted from the fit's
        estimates through one compiled, vmapped program; a progress bar over the batches when there are several
        and the run takes over a second (``progress=False`` silences it, ``True`` forces it)."""
        return bootstrap(self, n, seed, batch_size, progress)

    def influence(self, level: str | None = None) -> pd.DataFrame:
        """One-step influence diagnostics from one pass (no refits): per observation, or per level of the grouping
        factor ``level`` (all its rows' weights together), each fixed effect's DFBETAS, the change of each
        variance parameter (``delta: ...``) when it is removed, and Cook's distance. The derivatives of the
        estimates in the prior weights are exact (the optimum differentiated by the implicit function theorem);
        what is approximate is the first-order step from weight 1 to 0."""
        return influence(self, level)

    # ---------------------------------------------------------------------------------------- inference
    def coef_table(self, ddf: str | None = None, level: float = 0.95, vcov=None) -> pd.DataFrame:
        """The fixed effects with ``estimate, se, df, statistic, p_value, lower, upper``. ``ddf``:
        ``"satterthwaite"`` (LMM default, as lmerTest), ``"kenward-roger"`` (pbkrtest's adjusted standard errors
        and degrees of freedom; REML fits), ``"residual"`` (``n - p``) or ``"asymptotic"`` (Wald z: GLMMs).
        ``vcov="robust"``: cluster-robust CR2 standard errors (LMMs)."""
        return tables.coef_table(self, ddf, level, vcov)

    def anova(self, ddf: str | None = None, type: int | str = 3) -> pd.DataFrame:
        """F tests of each fixed-effect term, as lmerTest's ``anova(m)``: ``sum_sq, mean_sq, num_df, den_df, F,
        p_value``; ``type=3`` (marginal) or ``1`` (sequential)."""
        return tables.anova_table(self, ddf, type)

    def contrast(self, L, ddf: str | None = None) -> pd.DataFrame:
        """Estimate, standard error and degrees of freedom of each row of ``L`` (one weight per fixed effect) as
        a linear combination of the fixed effects (lmerTest's ``contest1D``)."""
        return tables.contrasts(self, L, ddf)

    def confint(self, method: str = "profile", level: float = 0.95, **options) -> pd.DataFrame:
        """Confidence intervals (columns ``lower, upper``) for the fixed effects, then the random-effect SDs and
        correlations and the residual SD, named as in ``bootstrap().samples``. ``method``: ``"profile"``
        (likelihood profile, lme4's default; an LMM's ML profile, as lme4), ``"wald"`` (variance parameters on the
        log-SD and Fisher-z scales, Stata's ``estat sd``) or ``"bootstrap"`` (options ``n``, ``seed``, ``type``,
        ``progress``, or ``boot=`` an earlier bootstrap)."""
        return confint(self, method, level, **options)

    @cached_property
    def _profile(self) -> Profile:
        return likelihood_profile(self)

    def profile(self) -> pd.DataFrame:
        """The likelihood profile (lme4's ``profile(m)``): ``parameter, value, zeta``, the signed square root of
        the deviance increase when the parameter is held at ``value`` and the others refitted; ``zeta = 0`` at the
        estimate. An LMM is profiled on its ML deviance (refitted by ML if fitted by REML), as lme4 does."""
        return self._profile.table.copy()

    # ---------------------------------------------------------------------------------------- Stata's estat
    def icc(self, level: float = 0.95) -> pd.DataFrame:
        """Intraclass correlations at each level of nesting with SE and interval (Stata's ``estat icc``): random
        intercepts; binomial and ordinal models on the latent scale."""
        return postestimation.icc(self, level)

    def recovariance(self) -> dict:
        """Each random-effects term's covariance matrix (Stata's ``estat recovariance``): group -> DataFrame."""
        return postestimation.recovariance(self)

    def wcorrelation(self, group: str, level=None) -> dict:
        """The model-implied correlations and SDs of the observations of one level of ``group`` (Stata's ``estat
        wcorrelation``; LMMs): ``{"correlation": DataFrame, "sd": Series}``."""
        return postestimation.wcorrelation(self, group, level)

    def group_summary(self) -> pd.DataFrame:
        """Per grouping factor: number of groups and the minimum, mean and maximum observations per group (Stata's
        ``estat group``)."""
        return postestimation.group_summary(self)

    def __repr__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()
