"""``fit.summary(style="stata")``: the layout of Stata's ``mixed ..., stddeviations`` / ``me*`` output: a header
with the log likelihood, the coefficient table (z tests, 95% intervals; ``_cons`` last) and the random-effects
parameters as standard deviations and correlations with Wald intervals on the log-SD / Fisher-z scale (Stata's
``estat sd``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .summary import Summary

__all__ = ["check_style", "stata_summary"]


def check_style(style: str) -> str:
    if style not in ("lme4", "stata"):
        raise ValueError(f"style={style!r}: use 'lme4' (default) or 'stata'.")
    return style

LINE = "-" * 78


def _name(name: str) -> str:
    return "_cons" if name == "Intercept" else name


def _cell(v, fmt: str) -> str:
    return format(v, fmt) if np.isfinite(v) else " " * len(format(0.0, fmt))


def _row(label: str, values, formats, width: int = 12) -> str:
    return f"{label[-width:]:>{width}} |" + "".join(_cell(float(v), f) for v, f in zip(values, formats))


FIXED = (" 10.7g", " 10.7g", " 8.2f", " 8.3f", " 12.7g", " 11.7g")
RANDOM = (" 10.7g", " 11.7g", " 12.7g", " 11.7g")


def stata_summary(fit) -> Summary:
    z = stats.norm.ppf(0.975)
    kind = "Mixed-effects " + ("REML" if getattr(fit, "reml", False) else "ML") + " regression" \
        if hasattr(fit, "reml") else f"Mixed-effects GLM ({fit.family})"
    groups = "\n".join(f"{'Group variable: ' + g:<48}Number of groups  = {n:>10}" for g, n in fit.ngroups.items())
    header = f"{kind:<48}Number of obs     = {fit.nobs:>10}\n{groups}\n\nLog likelihood = {fit.loglik:.8g}"
    est, se = fit.fixef, fit.fixef_se
    order = [n for n in est.index if n != "Intercept"] + [n for n in est.index if n == "Intercept"]
    fixed = pd.DataFrame({"Coefficient": est[order], "Std. err.": se[order], "z": est[order] / se[order]})
    fixed["P>|z|"] = 2 * stats.norm.sf(np.abs(fixed["z"]))
    fixed["[95% conf."], fixed["interval]"] = fixed["Coefficient"] - z * fixed["Std. err."], \
        fixed["Coefficient"] + z * fixed["Std. err."]
    fixed.index = [_name(n) for n in order]
    response = getattr(fit.design.parsed, "response", "y")
    if response.startswith(("cbind(", "cens(", "interval(")):  # the (first) variable, as Stata names the equation
        response = response.split("(", 1)[1].split(",")[0].strip()
    elif response.startswith("Surv("):
        response = "_t"  # stset's name
    lines = [LINE, f"{response[-12:]:>12} | Coefficient  Std. err.      z    P>|z|     [95% conf. interval]",
             "-" * 13 + "+" + "-" * 64]
    lines += [_row(n, list(r), FIXED) for n, r in fixed.iterrows()] + [LINE]
    random = _random(fit, z)
    if len(random):
        lines += [LINE, "  Random-effects parameters  |   Estimate   Std. err.     [95% conf. interval]",
                  "-" * 29 + "+" + "-" * 48]
        group = None
        for (g, label), r in random.iterrows():
            if g != group and g != "Residual":
                lines.append(f"{g + ': ':<29}|")
                group = g
            if g == "Residual":
                lines.append("-" * 29 + "+" + "-" * 48)
            lines.append(_row(label, list(r), RANDOM, width=28))
        lines.append(LINE)
    text = header + "\n\n" + "\n".join(lines)
    return Summary(header, random.reset_index(), "", fixed, fit.vcov, "", text)


def _random(fit, z: float) -> pd.DataFrame:
    """SDs and correlations with Wald intervals (on the log-SD and Fisher-z scales) where the fit has them."""
    try:
        ci = fit.confint("wald")
    except ValueError:
        ci = None
    rows = []
    for _, r in fit.varcorr.iterrows():
        group, is_sd = r["group"], r["var2"] is None or (isinstance(r["var2"], float) and np.isnan(r["var2"]))
        v1 = _name(str(r["var1"])) if r["var1"] is not None and r["var1"] == r["var1"] else ""
        label = ("sd(Residual)" if group == "Residual" else f"sd({v1})") if is_sd else \
            f"corr({v1},{_name(str(r['var2']))})"
        key = ("Residual: sd" if group == "Residual" else f"{group}: sd({r['var1']})") if is_sd else \
            f"{group}: cor({r['var1']}, {r['var2']})"
        lo = hi = se = np.nan
        if ci is not None and key in ci.index:
            lo, hi = ci.loc[key, "lower"], ci.loc[key, "upper"]
            se = r["sdcor"] * (np.log(hi) - np.log(lo)) / (2 * z) if is_sd else \
                (1 - r["sdcor"] ** 2) * (np.arctanh(hi) - np.arctanh(lo)) / (2 * z)
        rows.append((group, label, float(r["sdcor"]), float(se), float(lo), float(hi)))
    return pd.DataFrame(rows, columns=["group", "parameter", "Estimate", "Std. err.", "[95% conf.", "interval]"]
                        ).set_index(["group", "parameter"])
