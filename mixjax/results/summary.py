"""lme4-style summary of a fit, as text and as HTML."""
from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..inference.tables import check_ddf, format_p
from .estimates import covariance_parts

__all__ = ["Summary", "summarize", "summarize_glmm"]


@dataclass(frozen=True)
class Summary:
    """The text lme4's ``summary()`` prints, plus its tables as DataFrames (``random``, ``fixed``,
    ``correlation``)."""

    header: str
    random: pd.DataFrame
    groups: str
    fixed: pd.DataFrame
    correlation: pd.DataFrame
    footer: str
    text: str

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__

    def __contains__(self, text: str) -> bool:
        """``"p-value" in fit.summary()``: whether the printed text contains ``text``."""
        return text in self.text

    def _repr_html_(self) -> str:
        fmt = {"float_format": lambda v: f"{v:.4f}"}
        corr = self.correlation.where(np.tril(np.ones(self.correlation.shape, dtype=bool), -1)).iloc[1:, :-1]
        corr_html = f"<b>Correlation of fixed effects</b>{corr.to_html(na_rep='', **fmt)}" if len(corr) else ""
        return (
            f"<div><pre>{html.escape(self.header)}</pre>"
            f"<b>Random effects</b>{self.random.to_html(index=False, na_rep='', **fmt)}"
            f"<pre>{html.escape(self.groups)}</pre>"
            f"<b>Fixed effects</b>{self.fixed.to_html(**fmt)}{corr_html}"
            f"<pre>{html.escape(self.footer)}</pre></div>"
        )


def _random_table(terms, Ts, scale: float, residual: bool) -> pd.DataFrame:
    rows = []
    for term, T in zip(terms, Ts):
        cov, sd, corr = covariance_parts(scale, T)
        for i, name in enumerate(term.cnames):
            rows.append((term.group if i == 0 else "", name, cov[i, i], sd[i], list(corr[i, :i])))
    if residual:
        rows.append(("Residual", "", scale**2, scale, []))
    width = max((len(r[4]) for r in rows), default=0)
    table = pd.DataFrame(
        [(g, n, v, s, *[f"{c:.2f}" for c in corr], *[""] * (width - len(corr))) for g, n, v, s, corr in rows],
        columns=["Groups", "Name", "Variance", "Std.Dev.", *(["Corr"] + [""] * (width - 1) if width else [])],
    )
    return table


def _fixed_table(est: pd.Series, se: pd.Series, z: bool = False) -> pd.DataFrame:
    """Estimates, SEs and t values; ``z``: z values with normal p-values, as glmer prints them."""
    table = pd.DataFrame({"Estimate": est, "Std. Error": se, ("z value" if z else "t value"): est / se})
    if z:
        table["Pr(>|z|)"] = [math.erfc(abs(v) / math.sqrt(2.0)) for v in est / se]
    return table


def _t_tests(fit, ddf) -> pd.DataFrame:
    """lmerTest's coefficient table: Estimate, Std. Error, df, t value, Pr(>|t|)."""
    t = fit.coef_table(ddf=ddf)
    return pd.DataFrame({"Estimate": t["estimate"], "Std. Error": t["se"], "df": t["df"], "t value": t["statistic"],
                         "Pr(>|t|)": t["p_value"]})


def _format_fixed(fixed: pd.DataFrame) -> str:
    """The fixed-effects table as R prints it: p-values as ``<2e-16`` or 3 significant digits."""
    shown = fixed.astype(object)
    for col in [c for c in fixed.columns if c.startswith("Pr(")]:
        shown[col] = [format_p(p) for p in fixed[col]]
    for col in [c for c in fixed.columns if not c.startswith("Pr(")]:
        shown[col] = [f"{v:.4f}" if col != "df" else f"{v:.2f}" for v in fixed[col]]
    return shown.to_string()


def _residual_quantiles(fit) -> str:
    scaled = fit.residuals() * np.sqrt(fit.design.weights) / fit.sigma
    q = np.quantile(scaled, [0, 0.25, 0.5, 0.75, 1.0])
    return pd.DataFrame([q], columns=["Min", "1Q", "Median", "3Q", "Max"]).to_string(
        index=False, float_format=lambda v: f"{v:.4f}"
    )


def summarize(fit, ddf=None, residuals: bool = True) -> Summary:
    """lme4's summary of an LMM fit; ``residuals=False``: no quantiles of the scaled residuals (streamed fits keep
    no rows)."""
    d = fit.design
    method = "REML" if fit.reml else "maximum likelihood"
    lines = [f"Linear mixed model fit by {method} (mixjax)", f"Formula: {d.formula}", ""]
    if fit.reml:
        lines.append(f"REML criterion at convergence: {fit.deviance:.4f}")
    else:
        lines.append(_criteria(fit))
    quantiles = _residual_quantiles(fit) if residuals else "not kept: the rows were streamed"
    lines += ["", "Scaled residuals:", quantiles, ""]
    header = "\n".join(lines)
    random = _random_table(d.terms, fit._est.T, fit.sigma, residual=True)
    fixed = _t_tests(fit, ddf)
    method = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's", "residual": "residual",
              "asymptotic": "asymptotic (z)"}[check_ddf(fit, ddf)]
    return _assemble(fit, header, random, fixed, title=f"Fixed effects (t tests use {method} degrees of freedom):")


def _random_text(random: pd.DataFrame) -> str:
    """The random-effects table as lme4 prints it: group and term names left-aligned, numbers right-aligned."""
    width = {c: max([len(c)] + [len(str(v)) for v in random[c]]) for c in ("Groups", "Name")}
    left = {c: (lambda v, w=w: f"{v:<{w}}") for c, w in width.items()}
    text = random.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", formatters=left)
    head, *rows = text.splitlines()
    for c, w in width.items():  # headers of the text columns left-aligned too
        head = head.replace(f"{c:>{w}}", f"{c:<{w}}", 1)
    return "\n".join([head, *rows])


def _assemble(fit, header: str, random: pd.DataFrame, fixed: pd.DataFrame, extra: list[str] = (),
              title: str = "Fixed effects:") -> Summary:
    d = fit.design
    groups = f"Number of obs: {fit.nobs}, groups:  " + ", ".join(f"{g}, {n}" for g, n in fit.ngroups.items())
    body = [
        "Random effects:",
        _random_text(random),
        groups,
        "",
        title,
        _format_fixed(fixed),
    ]
    corr = fit.vcov / np.outer(fit.fixef_se, fit.fixef_se)
    if len(fit.fixef) > 1:
        body += ["", "Correlation of Fixed Effects:", _lower_triangle(corr)]
    body += list(extra)
    opt = fit.optimizer
    notes = [
        f"optimizer: {opt.status}; {opt.iterations} iterations, max |gradient| {opt.max_grad:.2e}, "
        f"min Hessian eigenvalue {opt.hessian_min_eig:.3g}"
    ]
    if fit.singular:
        notes.append("boundary (singular) fit: some variance or correlation parameter is at its bound (see theta).")
    if d.aliased:
        notes.append(f"fixed-effect columns dropped as aliased: {', '.join(d.aliased)}")
    footer = "\n".join(notes)
    text = header + "\n" + "\n".join(body) + "\n\n" + footer
    return Summary(header, random, groups, fixed, corr, footer, text)


def _criteria(fit) -> str:
    crit = pd.DataFrame(
        [[fit.aic, fit.bic, fit.loglik, fit.deviance, fit.nobs - fit.df]],
        columns=["AIC", "BIC", "logLik", "deviance", "df.resid"],
    )
    return crit.to_string(index=False, float_format=lambda v: f"{v:.4f}")


def summarize_glmm(fit) -> Summary:
    """glmer's summary: criteria, random effects (variances of b), fixed effects with z values; dispersion and
    cutpoints where the family has them."""
    d = fit.design
    method = ("Laplace Approximation" if fit.nagq == 1
              else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {fit.nagq}")
    lines = [f"Generalized linear mixed model fit by maximum likelihood ({method}) (mixjax)",
             f" Family: {fit.family}", f"Formula: {d.formula}", "", _criteria(fit), ""]
    header = "\n".join(lines)
    random = _random_table(d.terms, fit._T, 1.0, residual=False)
    fixed = _fixed_table(fit.fixef, fit.fixef_se, z=True)
    extra = []
    if fit.cutpoints is not None:
        table = _fixed_table(fit.cutpoints, fit.cutpoints_se)
        extra = ["", "Threshold coefficients:", table.iloc[:, :2].to_string(float_format=lambda v: f"{v:.4f}")]
    if fit.dispersion is not None:
        extra += ["", f"Dispersion parameter for {fit.family.name} family: {fit.dispersion:.4g}"]
    for title, name in (("Zero-inflation model", "zi"), ("Dispersion model", "disp")):
        part = getattr(fit, f"{name}_fixef")
        if part is not None:  # glmmTMB's blocks
            formula = next(p.formula for p in d.dpars if p.name == name)
            table = _format_fixed(_fixed_table(part, getattr(fit, f"{name}_fixef_se"), z=True))
            extra += ["", f"{title} ({formula}):", table]
    return _assemble(fit, header, random, fixed, extra)


def _lower_triangle(corr: pd.DataFrame) -> str:
    names = list(corr.index)
    short = [n[:6] for n in names]
    width = max(len(n) for n in names)
    out = [" " * width + " " + " ".join(f"{s:>6}" for s in short[:-1])]
    for i in range(1, len(names)):
        cells = " ".join(f"{corr.iloc[i, j]:6.3f}" for j in range(i))
        out.append(f"{names[i]:<{width}} {cells}")
    return "\n".join(out)
