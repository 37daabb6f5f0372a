"""Confidence intervals: likelihood-profile intervals against lme4's ``confint(m, method = "profile")`` (an LMM's
ML profile, as lme4; a binomial GLMM), the profile table, Wald intervals (fixed effects as lme4's, variance
parameters on the log-SD / Fisher-z scales), bootstrap intervals, and bad input."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, r_name, reference_fit
from scipy import stats

INF = ["inf_sleepstudy", "inf_penicillin", "inf_machines", "inf_exam"]


def _lme4_name(name: str) -> str:
    """mixjax's row name -> lme4's ``oldNames = FALSE`` name (``sd_(Intercept)|Subject``, ``cor_Days.(Intercept)|
    Subject``, ``sigma``)."""
    if name == "Residual: sd":
        return "sigma"
    if ": sd(" in name:
        group, var = name[:-1].split(": sd(")
        return f"sd_{r_name(var)}|{group}"
    if ": cor(" in name:
        group, pair = name[:-1].split(": cor(")
        a, b = pair.split(", ")
        return f"cor_{r_name(b)}.{r_name(a)}|{group}"
    return r_name(name)


def _check_ends(ci: pd.DataFrame, expected: dict):
    """Ends within 0.5% of the interval's width, every row present."""
    assert len(ci) == len(expected)
    for name, row in ci.iterrows():
        lo, hi = expected[_lme4_name(name)]
        width = hi - lo
        assert abs(row.lower - lo) < 0.005 * width and abs(row.upper - hi) < 0.005 * width, (name, row, lo, hi)


@pytest.mark.parametrize("rid", INF)
def test_profile_intervals_match_lme4(rid):
    ref, fit = reference_fit(rid)
    ci = fit.confint()
    assert list(ci.columns) == ["lower", "upper"] and ci.attrs == {"method": "profile", "level": 0.95}
    rows = ref["confint_profile"]["rows"]
    _check_ends(ci, {r["name_new"]: (r["2.5 %"], r["97.5 %"]) for r in rows.values()})
    assert list(ci.index[: len(fit.fixef)]) == list(fit.fixef.index)


def test_glmm_profile_intervals_match_lme4():
    _, fit = reference_fit("extra_boot_cbpp")
    ref = json.loads((REFERENCE / "extra_inference.json").read_text())["cbpp"]
    expected = {("sd_(Intercept)|herd" if r["parameter"] == ".sig01" else r["parameter"]): (r["2.5 %"], r["97.5 %"])
                for r in ref["confint_profile"]}
    _check_ends(fit.confint(), expected)


def test_profile_table_is_lme4s_zeta():
    """zeta is 0 at the estimate, increasing in the value, and its square is the ML deviance increase: close to
    lme4's profile points (lme4 interpolates; these are exact refits)."""
    ref = json.loads((REFERENCE / "extra_inference.json").read_text())["sleepstudy_profile"]
    _, fit = reference_fit("inf_sleepstudy")
    prof = fit.profile()
    assert list(prof.columns) == ["parameter", "value", "zeta"]
    for name, rows in prof.groupby("parameter"):
        assert np.all(np.diff(rows.zeta.to_numpy()) > 0), name
        assert np.isclose(rows.zeta.abs().min(), 0.0)
    days = prof[prof.parameter == "Days"]
    lme4 = pd.DataFrame([r for r in ref["profile"]["rows"] if r[".par"] == "Days"])
    inside = days[(days.value > lme4.value.min()) & (days.value < lme4.value.max())]
    theirs = np.interp(inside.value, lme4.value, lme4[".zeta"])  # lme4's points are denser than this grid
    assert len(inside) >= 9 and np.allclose(inside.zeta, theirs, atol=1e-2)  # lme4's linear interpolation error


def test_wald_intervals():
    ref, fit = reference_fit("inf_sleepstudy")
    ci = fit.confint("wald", level=0.9)
    z = stats.norm.ppf(0.95)
    assert np.allclose(ci.loc[fit.fixef.index, "lower"], fit.fixef - z * fit.fixef_se)
    for name, r in ref["confint_wald"]["rows"].items():  # lme4's Wald rows (its variance rows are NA)
        if r["2.5 %"] is not None:
            row = fit.confint("wald").loc["Intercept" if name == "(Intercept)" else name]
            assert row.lower == pytest.approx(r["2.5 %"], rel=1e-5) and row.upper == pytest.approx(r["97.5 %"], rel=1e-5)
    sd = ci.loc["Subject: sd(Intercept)"]
    est = fit.varcorr.sdcor.iloc[0]  # Subject: sd(Intercept)
    assert sd.lower < est < sd.upper
    assert np.log(sd.upper) - np.log(est) == pytest.approx(np.log(est) - np.log(sd.lower))  # symmetric on log SD
    cor = ci.loc["Subject: cor(Intercept, Days)"]
    assert -1 < cor.lower < cor.upper < 1
    assert np.arctanh(cor.upper) + np.arctanh(cor.lower) == pytest.approx(2 * np.arctanh(fit.varcorr.sdcor.iloc[2]))


def test_bootstrap_intervals():
    _, fit = reference_fit("inf_sleepstudy")
    boot = fit.bootstrap(50, seed=2, progress=False)
    ci = fit.confint("bootstrap", boot=boot, level=0.8)
    assert "loglik" not in ci.index and ci.attrs["method"] == "bootstrap"
    assert np.allclose(ci.lower, boot.samples.drop(columns="loglik").quantile(0.1))
    basic = fit.confint("bootstrap", boot=boot, type="basic")
    assert np.allclose(basic.upper, 2 * boot.t0.drop("loglik") - boot.samples.drop(columns="loglik").quantile(0.025))


@pytest.mark.parametrize(("args", "kwargs", "match"), [
    (("bayes",), {}, "unknown method 'bayes'"),
    (("profile",), {"level": 1.5}, "level must be"),
    (("wald",), {"n": 10}, "unknown option"),
    (("bootstrap",), {"nsim": 10}, "unknown option"),
])
def test_confint_bad_input(args, kwargs, match):
    _, fit = reference_fit("inf_sleepstudy")
    with pytest.raises(ValueError, match=match):
        fit.confint(*args, **kwargs)


def test_nlme_has_wald_intervals_and_nlme_t_tests():
    import mixjax

    fit = mixjax.nlme("circumference ~ Asym/(1+exp((xmid-age)/scal))", mixjax.datasets.load("Orange"),
                      fixed="Asym + xmid + scal ~ 1", random="Asym ~ 1 | Tree",
                      start={"Asym": 170, "xmid": 700, "scal": 350})
    ci, z = fit.confint(level=0.9), fit.coef_table(ddf="asymptotic", level=0.9)
    assert np.allclose(ci.lower, fit.fixef - stats.norm.ppf(0.95) * fit.fixef_se)
    assert np.allclose(z.lower, ci.lower) and np.all(np.isinf(z.df))
    t = fit.coef_table()  # nlme's summary: DF 28 for each (35 rows, 5 trees, 3 fixed effects)
    assert np.all(t.df == 28) and np.allclose(t.p_value, 2 * stats.t.sf(np.abs(t.statistic), 28))
    assert "DF" in fit.summary() and "p-value" in fit.summary()  # nlme's summary columns
    with pytest.raises(ValueError, match="Wald intervals: use method='wald'"):
        fit.confint("profile")
    with pytest.raises(ValueError, match="use ddf='asymptotic' or ddf='nlme'"):
        fit.coef_table(ddf="kenward-roger")
    _, lmm = reference_fit("inf_sleepstudy")
    # nlme's containment df for an LMM (nlme's lme(Reaction ~ Days, random = ~ Days | Subject): DF 161, 161)
    assert list(lmm.coef_table(ddf="nlme")["df"]) == [161, 161]
    _, crossed = reference_fit("inf_penicillin")
    with pytest.raises(ValueError, match="nested grouping factors"):
        crossed.coef_table(ddf="nlme")
