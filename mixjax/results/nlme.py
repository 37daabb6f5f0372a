"""NlmeFit: the result of a nonlinear mixed model fit by Lindstrom-Bates, with nlme's accessors.

Fixed effects, their covariance, ``sigma`` and the variance components are those of the LMM fitted to the
linearized model at convergence, as nlme reports them; so is the log-likelihood."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..objectives.nlme import NlmeSpec, _f, _phi
from ..optim.lindstrom_bates import LindstromBates
from .base import Criteria
from .estimates import Estimates, covariance_parts, estimates
from .lmm import OptimizerInfo

__all__ = ["NlmeFit"]


@dataclass(frozen=True, eq=False, repr=False)
class NlmeFit(Criteria):
    """A fitted nonlinear mixed model. Built by ``mixjax.nlme``."""

    model: str
    spec: NlmeSpec
    state: LindstromBates
    group: str
    levels: tuple
    codes: np.ndarray
    columns: dict
    y: np.ndarray

    @cached_property
    def _est(self) -> Estimates:
        s = self.state
        return estimates(s.objective, s.design, s.solution.x)

    @property
    def fixef(self) -> pd.Series:
        return pd.Series(self.state.beta, index=list(self.spec.names), name="fixef")

    @property
    def vcov(self) -> pd.DataFrame:
        names = list(self.spec.names)
        return pd.DataFrame(self._est.vcov, index=names, columns=names)

    @property
    def fixef_se(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self._est.vcov)), index=list(self.spec.names), name="fixef_se")

    @property
    def sigma(self) -> float:
        return self._est.sigma

    @property
    def theta(self) -> pd.Series:
        return pd.Series(self.state.solution.x, index=self.state.design.theta_names, name="theta")

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """``group, var1, var2, vcov, sdcor``: one row per random-effect variance and correlation, then
        ``Residual`` (the LMM's layout; nlme's ``VarCorr`` holds the same numbers)."""
        rows = []
        for block, T in zip(self.spec.blocks, self._est.T):
            names = [self.spec.names[j] for j in block]
            cov, sd, corr = covariance_parts(self.sigma, T)
            rows += [(self.group, n, None, cov[i, i], sd[i]) for i, n in enumerate(names)]
            rows += [(self.group, names[j], names[i], cov[i, j], corr[i, j])
                     for j in range(len(names)) for i in range(j + 1, len(names))]
        rows.append(("Residual", None, None, self.sigma**2, self.sigma))
        return pd.DataFrame(rows, columns=["group", "var1", "var2", "vcov", "sdcor"])

    @property
    def loglik(self) -> float:
        return -0.5 * self.state.solution.fun

    @property
    def df(self) -> int:
        return len(self.spec.names) + len(self.state.solution.x) + 1

    @property
    def nobs(self) -> int:
        return len(self.y)

    @property
    def ngroups(self) -> dict:
        return {self.group: len(self.levels)}

    @property
    def ranef(self) -> pd.DataFrame:
        """Random effects per level (rows) and random parameter (columns)."""
        return pd.DataFrame(self.state.b, index=pd.Index(self.levels, name=self.group),
                            columns=[self.spec.names[j] for j in self.spec.random])

    @property
    def converged(self) -> bool:
        return self.state.converged

    @property
    def optimizer(self) -> OptimizerInfo:
        """Lindstrom-Bates status and outer iterations; gradient and Hessian figures of the last LME step."""
        s = self.state
        return OptimizerInfo(s.status, s.iterations, s.solution.evaluations, s.solution.grad_norm,
                             s.solution.hessian_min_eig)

    def predict(self, newdata: pd.DataFrame | None = None, level: int = 1) -> np.ndarray:
        """Means for ``newdata`` (default: the fitted rows): ``level=1`` with the group effects of each row's group
        (a level not seen in the fit raises), ``level=0`` the population curve (``b = 0``), as nlme's
        ``predict(m, newdata, level=)``."""
        if level not in (0, 1):
            raise ValueError(f"level must be 0 (population) or 1 (groups), got {level!r}.")
        columns, codes = self.columns, self.codes
        if newdata is not None:
            missing = [c for c in list(self.columns) + ([self.group] if level else []) if c not in newdata.columns]
            if missing:
                raise ValueError(f"newdata lacks column(s) {', '.join(missing)}.")
            columns = {c: np.asarray(newdata[c], dtype=float) for c in self.columns}
            codes = np.zeros(len(newdata), dtype=np.int32)
            if level:
                index = {lev: i for i, lev in enumerate(self.levels)}
                labels = newdata[self.group].astype(str).to_numpy()
                unknown = sorted({lab for lab in labels if lab not in index})
                if unknown:
                    raise ValueError(
                        f"newdata has level(s) of {self.group!r} not in the fit: {', '.join(unknown[:5])}; "
                        "predict them with level=0."
                    )
                codes = np.array([index[lab] for lab in labels], dtype=np.int32)
        b = self.state.b if level == 1 else np.zeros_like(self.state.b)
        return np.asarray(_f(_phi(self.state.beta, b, codes, self.spec), columns, self.spec))

    def residuals(self, level: int = 1) -> np.ndarray:
        return self.y - self.predict(level=level)

    def summary(self) -> str:
        table = pd.DataFrame({"Value": self.fixef, "Std.Error": self.fixef_se, "t-value": self.fixef / self.fixef_se})
        vc = self.varcorr[self.varcorr.var2.isna()]
        lines = [
            "Nonlinear mixed-effects model fit by maximum likelihood (Lindstrom-Bates, mixjax)",
            f"  Model: {self.model}",
            f"  AIC {self.aic:.4f}  BIC {self.bic:.4f}  logLik {self.loglik:.4f}",
            "",
            f"Random effects (group {self.group}):",
            pd.DataFrame({"StdDev": vc.sdcor.to_numpy()}, index=vc.var1.fillna("Residual").to_numpy()).to_string(),
            "",
            "Fixed effects:",
            table.to_string(float_format=lambda v: f"{v:.6g}"),
            "",
            f"Number of observations: {self.nobs}, groups: {self.group} {len(self.levels)}",
            f"optimizer: {self.state.status}; {self.state.iterations} iterations",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()
