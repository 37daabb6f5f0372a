"""``LmeFit`` and ``GlsFit``: LMM fits made by ``mixjax.lme`` / ``mixjax.gls``, reported as nlme reports them
(``summary.lme``, ``summary.gls``): the StdDev table, the residual structures' parameters, the t-table with nlme's
degrees of freedom (``ddf="nlme"``, the default here), standardized (Pearson) within-group residuals."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..residual.bind import log_sd
from .estimates import covariance_parts, varcorr_frame
from .lmm import LmmFit
from .summary import Summary, _lower_triangle

__all__ = ["LmeFit", "GlsFit"]

_STRUCTURES = {"Unstructured": "General positive-definite, Log-Cholesky parametrization", "Diagonal": "Diagonal",
               "HomogeneousDiagonal": "Multiple of an Identity", "CompoundSymmetry": "Compound Symmetry"}
_CORRELATIONS = {"corAR1": "AR(1)", "corCAR1": "Continuous AR(1)", "corCompSymm": "Compound symmetry",
                 "corSymm": "General correlation", "corExp": "Exponential spatial correlation",
                 "corToeplitz": "Toeplitz (banded)", "corBanded": "Banded general correlation"}
_VARIANCES = {"varIdent": "Different standard deviations per stratum", "varPower": "Power of variance covariate",
              "varExp": "Exponential of variance covariate",
              "varConstPower": "Constant plus power of variance covariate", "varFixed": "fixed weights"}


def _num(v: float) -> str:
    return f"{v:.7g}"


def pearson_residuals(fit: LmmFit) -> np.ndarray:
    """``(y - fitted) / (sigma s_i)``: nlme's ``residuals(type = "pearson")`` (the variance function's SDs,
    not the correlation)."""
    scale = np.sqrt(fit.design.weights)
    if fit.residual is not None:
        o = fit.residual.objective
        scale = scale / np.exp(np.asarray(log_sd(fit.residual.rho[o.spec.bound.n_corr :], o.data.arrays, o.spec.bound)))
    return fit.residuals() * scale / fit.sigma


def _quantiles(fit) -> str:
    q = np.quantile(pearson_residuals(fit), [0, 0.25, 0.5, 0.75, 1])
    return pd.DataFrame([q], columns=["Min", "Q1", "Med", "Q3", "Max"]).to_string(index=False,
                                                                               float_format=lambda v: f"{v:.8f}")


def _structures(fit) -> list[str]:
    lines = []
    if fit.residual is None:
        return lines
    cor, var = dict(fit.correlation), dict(fit.variance_function)
    bound = fit.residual.objective.spec.bound
    if cor:
        name = cor.pop("class")
        c = bound.correlation
        label = (f"ARMA({c.p},{c.q})" if name == "corARMA" else
                 f"{_CORRELATIONS.get(type(c.correlation).__name__, name)} by {c.by}" if name == "corBy" else
                 _CORRELATIONS.get(name, name))
        lines += [f"Correlation Structure: {label}",
                  f" Formula: {bound.correlation.form or '~1 | ' + fit.design.terms[0].factor}",
                  " Parameter estimate(s):", pd.DataFrame([cor]).to_string(index=False, float_format=_num), ""]
    if var:
        name = var.pop("class")
        forms = [f.form for f, _ in bound.variances]
        if len(forms) > 1:
            lines += ["Combination of variance functions: "]
        for (f, strata) in bound.variances:
            kind = type(f).__name__
            lines += ["Variance function:", f" Structure: {_VARIANCES[kind]}", f" Formula: {f.form}"]
        values = {strata[0]: 1.0, **var} if name == "varIdent" else var
        if values:
            lines += [" Parameter estimates:", pd.DataFrame([values]).to_string(index=False, float_format=_num)]
        lines.append("")
    return lines


def _random_lines(fit) -> list[str]:
    lines = ["Random effects:"]
    terms = list(fit.design.terms)[::-1]  # outermost first, as nlme
    Ts = list(fit._est.T)[::-1]
    for i, (term, T) in enumerate(zip(terms, Ts)):
        last = i == len(terms) - 1
        _, sd, corr = covariance_parts(fit.sigma, np.asarray(T))
        names = ["(Intercept)" if c == "Intercept" else c for c in term.cnames]
        group = " %in% ".join(term.factor.split(":"))
        shown = [n for n in names if n != "(Intercept)"] or ["1"]
        shown = shown if "(Intercept)" in names or shown == ["1"] else ["0", *shown]
        lines.append(f" Formula: ~{' + '.join(shown)} | {group}")
        if term.k > 1:
            lines.append(f" Structure: {_STRUCTURES.get(type(term.cov).__name__, type(term.cov).__name__)}")
            table = pd.DataFrame({"StdDev": sd}, index=names)
            short = [n[:6] if n != "(Intercept)" else "(Intr)" for n in names]
            for j in range(term.k - 1):
                table[short[j] if j == 0 else short[j]] = [""] * (j + 1) + [f"{c:.3f}" for c in corr[j + 1 :, j]]
            table.columns = ["StdDev", "Corr"] + [""] * (term.k - 2) if term.k > 1 else ["StdDev"]
            if last:
                table.loc["Residual"] = [fit.sigma] + [""] * (term.k - 1)
            lines.append(table.to_string(float_format=_num))
        else:
            row = dict(zip(names, sd)) | ({"Residual": fit.sigma} if last else {})
            lines.append(pd.DataFrame([row], index=["StdDev:"]).to_string(float_format=_num))
        lines.append("")
    return lines


def _fixed_lines(fit, model: str) -> tuple[pd.DataFrame, list[str]]:
    t = fit.coef_table(ddf="nlme")
    names = ["(Intercept)" if n == "Intercept" else n for n in t.index]
    table = pd.DataFrame({"Value": t["estimate"].to_numpy(), "Std.Error": t["se"].to_numpy(),
                          "DF": t["df"].to_numpy().astype(int), "t-value": t["statistic"].to_numpy(),
                          "p-value": t["p_value"].to_numpy()}, index=names)
    shown = table.to_string(formatters={"p-value": lambda p: f"{p:.4f}"}, float_format=_num)
    lines = [f"Fixed effects:  {model}" if model else "Coefficients:", shown]
    if len(names) > 1:
        corr = fit.vcov.to_numpy() / np.outer(fit.fixef_se, fit.fixef_se)
        short = ["(Intr)" if n == "(Intercept)" else n for n in names]
        lines += [" Correlation: ", _lower_triangle(pd.DataFrame(corr, index=short, columns=short))]
    return table, lines


def _criteria(fit) -> list[str]:
    return [pd.DataFrame([[fit.aic, fit.bic, fit.loglik]], columns=["AIC", "BIC", "logLik"]).to_string(
        index=False, float_format=_num), ""]


def _summary(fit, title: str, model: str, random_lines: list[str], groups: list[str]) -> Summary:
    header = "\n".join([title, *_criteria(fit)])
    fixed, fixed_lines = _fixed_lines(fit, model)
    body = [*random_lines, *_structures(fit), *fixed_lines, "",
            "Standardized Within-Group Residuals:" if random_lines else "Standardized residuals:", _quantiles(fit), "",
            f"Number of Observations: {fit.nobs}", *groups]
    random = fit.varcorr
    corr = fit.vcov / np.outer(fit.fixef_se, fit.fixef_se)
    text = header + "\n" + "\n".join(body)
    return Summary(header, random, "\n".join(groups), fixed, corr, "", text)


@dataclass(frozen=True, eq=False, repr=False)
class LmeFit(LmmFit):
    """An ``LmmFit`` made by ``mixjax.lme``: nlme's names, summary and degrees of freedom."""

    fixed: str = ""
    random: object = None
    nlme_style = True

    def summary(self, ddf: str | None = None) -> Summary:
        """nlme's ``summary.lme`` (``ddf`` is nlme's; other methods: ``fit.coef_table(ddf=...)``)."""
        method = "REML" if self.reml else "maximum likelihood"
        groups = [t.factor for t in self.design.terms][::-1]
        counts = [f"Number of Groups: {self.design.terms[0].n_levels}"] if len(groups) == 1 else \
            ["Number of Groups: ", pd.DataFrame([[self.ngroups[g] for g in groups]], columns=[
                " %in% ".join(g.split(":")) for g in groups]).to_string(index=False)]
        return _summary(self, f"Linear mixed-effects model fit by {method}", self.fixed, _random_lines(self), counts)

    def __repr__(self) -> str:
        kind = "Log-restricted-likelihood" if self.reml else "Log-likelihood"
        return str(self.summary()).replace("\n", f"\n  {kind}: {self.loglik:.7g}\n", 1)


@dataclass(frozen=True, eq=False, repr=False)
class GlsFit(LmmFit):
    """An ``LmmFit`` made by ``mixjax.gls``: no random effects (a placeholder term is held at 0)."""

    nlme_style = True

    @cached_property
    def _est(self):
        """nlme's gls scales the ML covariance of the coefficients by ``n / (n - p)``."""
        est = LmmFit._est.func(self)
        n, p = self.nobs, self.design.p
        return est if self.reml else est._replace(vcov=est.vcov * n / (n - p))

    @property
    def singular(self) -> bool:
        return False

    @property
    def ngroups(self) -> dict:
        return {}

    @property
    def varcorr(self) -> pd.DataFrame:
        return varcorr_frame([("Residual", None, None, self.sigma**2, self.sigma)])

    def coef_table(self, ddf: str | None = None, level: float = 0.95, vcov=None) -> pd.DataFrame:
        """t tests with ``n - p`` df (nlme's gls)."""
        return super().coef_table("residual" if ddf in (None, "nlme") else ddf, level, vcov)

    def summary(self, ddf: str | None = None) -> Summary:
        """nlme's ``summary.gls``."""
        method = "REML" if self.reml else "maximum likelihood"
        model = self.design.formula.rsplit(" + (1 |", 1)[0]
        title = f"Generalized least squares fit by {method}\n  Model: {model}"
        out = _summary(self, title, model, [], [f"Residual standard error: {self.sigma:.7g}",
                                             f"Degrees of freedom: {self.nobs} total; {self.nobs - self.design.p} residual"])
        return out
