"""StreamedLmmFit: an ``LmmFit`` of streamed rows (``mixjax.streaming``), which keeps its cross-products and no
rows.

Everything computed from the cross-products works as for any fit: fixef, SEs, vcov, theta, varcorr, sigma, the
criteria, summary (without the scaled residuals' quantiles), coef_table, contrasts, confint, ranef and their
conditional variances (``condvar``, ``ranef_se``), profiles and likelihood-ratio tests (``refit_ml`` reuses the
cross-products). What needs the rows (fitted values, residuals, predictions for the fitted rows, simulation and the
bootstrap, refits to new responses, Kenward-Roger, cluster-robust covariances, influence, per-level statistics)
raises a ``ValueError`` that says so.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..engines import lmm as engine
from ..linalg.crossprod import CrossProducts, z_gram
from ..objectives.lmm import make_lmm
from .estimates import conditional_variances
from .lmm import LmmFit
from .stata_summary import check_style, stata_summary
from .summary import Summary, summarize

__all__ = ["StreamedLmmFit"]


def _needs_rows(what: str) -> ValueError:
    return ValueError(f"{what} needs the rows of the data, and this fit streamed them (from Parquet, Arrow or Dask) "
                      "without keeping them in memory; load the data into a pandas DataFrame and fit it with "
                      "mixjax.lmm for that.")


@dataclass(frozen=True, eq=False, repr=False)
class StreamedLmmFit(LmmFit):
    """A linear mixed model fitted to streamed rows; ``crossproducts`` the ``CrossProducts`` of all rows."""

    crossproducts: CrossProducts | None = None

    def _check_supported(self, what: str) -> None:
        raise _needs_rows(what)

    def fitted(self):
        raise _needs_rows("fitted()")

    def residuals(self):
        raise _needs_rows("residuals()")

    def predict(self, newdata=None, *, include_re: bool = True, allow_new_levels: bool = False):
        """Predictions for ``newdata`` (a DataFrame); the fitted rows are not kept, so ``newdata`` is required."""
        if newdata is None:
            raise _needs_rows("predict() for the fitted rows (newdata=None)")
        return super().predict(newdata, include_re=include_re, allow_new_levels=allow_new_levels)

    def marginal_covariance(self, level=None):
        raise _needs_rows("marginal_covariance()")

    @cached_property
    def condvar(self) -> dict:
        """lme4's ``condVar`` from the cross-products: one term, per level ``sigma^2 T (T' D0_g T + I)^{-1} T'``;
        several, the dense inverse of ``Lambda' Z'WZ Lambda + I`` (``crossprod.z_gram``; up to 6,000 effects)."""
        cp, est, terms = self.crossproducts, self._est, self.design.terms
        if len(terms) == 1:
            T = est.T[0]
            blocks = np.linalg.inv(np.einsum("ji,gjk,kl->gil", T, cp.D0, T) + np.eye(T.shape[0]))
            return {terms[0].group: est.sigma**2 * np.einsum("ij,gjk,lk->gil", T, blocks, T)}
        gram = z_gram(cp, self.objective.spec.qr)
        return {t.group: v for t, v in zip(terms, conditional_variances(self.design, est, gram=gram))}

    def group_summary(self):
        raise _needs_rows("group_summary()")

    def wcorrelation(self, group: str, level=None):
        raise _needs_rows("wcorrelation()")

    def icc(self, level: float = 0.95):
        raise _needs_rows("icc() (its check that the factors are nested)")

    def anova(self, ddf: str | None = None, type: int | str = 3):
        raise _needs_rows("anova() of one fit (the F tests' hypotheses; mixjax.anova(fit0, fit1), the "
                          "likelihood-ratio test between fits, works on streamed fits)")

    def refit_ml(self) -> StreamedLmmFit:
        """The same model fitted by maximum likelihood from this fit's theta, on the same cross-products."""
        if not self.reml:
            return self
        obj = make_lmm(self.design, reml=False, cp=self.crossproducts)._replace(rows=None)
        return dataclasses.replace(self, objective=obj, solution=engine.solve(obj, self.design, self.solution.x, True))

    def summary(self, ddf: str | None = None, style: str = "lme4") -> Summary:
        """lme4's summary (``LmmFit.summary``) without the quantiles of the scaled residuals, which need the rows."""
        return stata_summary(self) if check_style(style) == "stata" else summarize(self, ddf, residuals=False)
