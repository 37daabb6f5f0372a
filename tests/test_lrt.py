"""Likelihood-ratio tests between nested fits against lme4's ``anova(m0, m)`` (both refitted by ML), with the
Self-Liang boundary p-value, and the refusals."""
import numpy as np
import pytest
from conftest import reference_fit

import mixjax

INF = ["inf_sleepstudy", "inf_penicillin", "inf_machines", "inf_exam"]


def _models(rid):
    ref, m = reference_fit(rid)
    lrt = ref["lrt"]
    return lrt, mixjax.lmm(lrt["m0_formula"], mixjax.datasets.load(ref["dataset"])), m


@pytest.mark.parametrize("rid", INF)
def test_lrt_matches_lme4(rid):
    lrt, m0, m = _models(rid)
    table = mixjax.anova(m, m0, names=["m", "m0"])  # given in either order: sorted by parameters
    assert list(table.index) == ["m0", "m"] and "refitted by ML" in table.attrs["refit"]
    assert list(table.columns) == ["npar", "aic", "bic", "loglik", "deviance", "chisq", "df", "p_value", "p_chibar"]
    for name in ("m0", "m"):
        r, row = lrt["table"][name], table.loc[name]
        assert row.npar == r["npar"]
        for col, rcol in [("aic", "AIC"), ("bic", "BIC"), ("loglik", "logLik"), ("deviance", "deviance")]:
            assert row[col] == pytest.approx(r[rcol], rel=1e-7)
    row = table.loc["m"]
    assert row.chisq == pytest.approx(lrt["Chisq"], rel=1e-4) and row.df == lrt["Df"]
    assert row.p_value == pytest.approx(lrt["p"], rel=0.01, abs=1e-12)
    if lrt.get("p_chibar2"):
        assert row.p_chibar == pytest.approx(lrt["p_chibar2"]["value"], rel=0.01, abs=1e-12)
    else:  # a fixed effect tested: no boundary
        assert np.isnan(row.p_chibar)


def test_ml_fits_are_compared_as_they_are():
    data = mixjax.datasets.load("sleepstudy")
    m0 = mixjax.lmm("Reaction ~ Days + (1 | Subject)", data, reml=False)
    m = mixjax.lmm("Reaction ~ Days + (Days | Subject)", data, reml=False)
    table = mixjax.anova(m0, m)
    assert table.attrs["refit"] == "as fitted" and table.loglik.tolist() == [m0.loglik, m.loglik]


def test_glmm_lrt():
    _, m = reference_fit("extra_boot_cbpp")
    m0 = mixjax.glmm("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", mixjax.datasets.load("cbpp"),
                     family="binomial")
    table = mixjax.anova(m0, m)
    assert table.loc["model2", "df"] == 3
    assert table.loc["model2", "chisq"] == pytest.approx(2 * (m.loglik - m0.loglik))
    assert np.isnan(table.loc["model2", "p_chibar"])


def test_refusals():
    data = mixjax.datasets.load("sleepstudy")
    a = mixjax.lmm("Reaction ~ Days + (1 | Subject)", data)
    b = mixjax.lmm("Reaction ~ 1 + (Days | Subject)", data)
    with pytest.raises(ValueError, match="not nested"):
        mixjax.anova(a, b)
    with pytest.raises(ValueError, match="different rows"):
        mixjax.anova(a, mixjax.lmm("Reaction ~ Days + (Days | Subject)", data.iloc[:-10]))
    with pytest.raises(ValueError, match="at least two fits"):
        mixjax.anova(a)
    with pytest.raises(ValueError, match="same number of parameters"):
        mixjax.anova(a, mixjax.lmm("Reaction ~ Days + (1 | Subject)", data.assign(Days=data.Days**2)))
    with pytest.raises(ValueError, match="REML fits with different fixed effects"):
        mixjax.anova(mixjax.lmm("Reaction ~ 1 + (1 | Subject)", data), a, refit=False)
    _, g = reference_fit("extra_boot_cbpp")
    with pytest.raises(ValueError, match="same kind"):
        mixjax.anova(a, g)
