"""Tests of fixed effects against lmerTest and pbkrtest: coefficient tables with Satterthwaite and Kenward-Roger
degrees of freedom, F tests of type III and type I, the summary's columns, and bad input."""
import json

import numpy as np
import pytest
from conftest import REFERENCE, r_name, reference_fit
from scipy import stats

import mixjax

INF = ["inf_sleepstudy", "inf_penicillin", "inf_machines", "inf_exam"]
DDF = {"satterthwaite": "satterthwaite", "kenward_roger": "kenward-roger"}


def _close(actual, expected, rel):
    assert np.isclose(actual, expected, rtol=rel, atol=0), (actual, expected)


def _p_close(actual, expected):
    """p-values within 1% relative or 1e-12 absolute."""
    assert np.isclose(actual, expected, rtol=0.01, atol=1e-12), (actual, expected)


@pytest.mark.parametrize("rid", INF)
@pytest.mark.parametrize("key", list(DDF))
def test_coef_table_matches_lmertest(rid, key):
    ref, fit = reference_fit(rid)
    table = fit.coef_table(ddf=DDF[key])
    assert list(table.columns) == ["estimate", "se", "df", "statistic", "p_value", "lower", "upper"]
    for name, row in table.iterrows():
        r = ref[key][r_name(name)]
        _close(row.df, r["df"], 0.005)
        _close(row.statistic, r["t value"], 1e-4)
        _close(row.se, r["Std. Error"], 1e-4)
        _p_close(row.p_value, r["Pr(>|t|)"])
        assert row.lower < row.estimate < row.upper


@pytest.mark.parametrize("rid", INF)
@pytest.mark.parametrize("key", list(DDF))
def test_anova_matches_lmertest(rid, key):
    ref, fit = reference_fit(rid)
    table = fit.anova(ddf=DDF[key])
    expected = ref[f"anova_{key}"]
    assert sorted(table.index) == sorted(expected)
    for term, row in table.iterrows():
        _check_f_row(row, expected[term])


def _check_f_row(row, r):
    assert row.num_df == r["NumDF"]
    _close(row.den_df, r["DenDF"], 0.005)
    _close(row.F, r["F value"], 1e-4)
    _close(row.sum_sq, r["Sum Sq"], 1e-4)
    _close(row.mean_sq, r["Mean Sq"], 1e-4)
    _p_close(row.p_value, r["Pr(>F)"])


ANOVA = json.loads((REFERENCE / "extra_anova.json").read_text())


@pytest.fixture(scope="module")
def exam_fits():
    data = mixjax.datasets.load("Exam")
    return {k: mixjax.lmm(ANOVA[k]["formula"], data) for k in ("exam_sex_vr", "exam_vr_slope")}


@pytest.mark.parametrize("model", ["exam_sex_vr", "exam_vr_slope"])
@pytest.mark.parametrize("type", [3, 1])
@pytest.mark.parametrize("key", list(DDF))
def test_anova_with_interactions_matches_lmertest(exam_fits, model, type, key):
    """Factor-by-factor and factor-by-covariate interactions: type III hypotheses differ from a test of the term's
    coefficients, type I ones are sequential."""
    table = exam_fits[model].anova(ddf=DDF[key], type=type)
    expected = ANOVA[model][f"type{type}_{key}"]
    assert list(table.index) == list(expected)
    for term, row in table.iterrows():
        _check_f_row(row, expected[term])


def test_type3_of_a_main_effect_is_not_its_coefficients_test(exam_fits):
    fit = exam_fits["exam_sex_vr"]
    coef = fit.coef_table().loc["sex[T.M]"]
    assert not np.isclose(fit.anova(type=3).loc["sex"].F, coef.statistic**2, rtol=1e-3)


def test_summary_prints_degrees_of_freedom_and_p_values():
    ref, fit = reference_fit("inf_sleepstudy")
    s = fit.summary()
    assert list(s.fixed.columns) == ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    assert "Satterthwaite" in s.text and "<2e-16" in s.text and "3.26e-06" in s.text
    _close(s.fixed.loc["Days", "df"], ref["satterthwaite"]["Days"]["df"], 0.005)
    kr = fit.summary(ddf="kenward-roger")
    assert "Kenward-Roger" in kr.text
    _close(kr.fixed.loc["Intercept", "df"], ref["kenward_roger"]["(Intercept)"]["df"], 0.005)


def test_residual_and_asymptotic_ddf():
    _, fit = reference_fit("inf_machines")
    res = fit.coef_table(ddf="residual", level=0.9)
    assert np.all(res.df == fit.nobs - 3)
    z = fit.coef_table(ddf="asymptotic")
    assert np.all(np.isinf(z.df))
    assert np.allclose(z.upper - z.estimate, 1.959963984540054 * z.se)
    assert np.allclose(res.upper - res.estimate, stats.t.ppf(0.95, fit.nobs - 3) * res.se)


def test_glmm_coef_table_is_wald_z():
    _, fit = reference_fit("extra_boot_cbpp")
    table = fit.coef_table()
    summary = fit.summary().fixed
    assert np.allclose(table.statistic, summary["z value"]) and np.allclose(table.p_value, summary["Pr(>|z|)"])
    assert np.all(np.isinf(table.df))
    aov = fit.anova()
    assert aov.loc["period", "num_df"] == 3 and 0 < aov.loc["period", "p_value"] < 1e-3


def test_contrast_matches_coefficients():
    _, fit = reference_fit("inf_machines")
    L = np.array([[0.0, 1.0, -1.0]])
    c = fit.contrast(L, ddf="kenward-roger")
    V = fit._kenward_roger.vcov_adjusted
    _close(c.estimate[0], fit.fixef.iloc[1] - fit.fixef.iloc[2], 1e-12)
    _close(c.se[0], np.sqrt(L[0] @ V @ L[0]), 1e-12)
    _close(c.df[0], 10.0, 1e-6)  # the within-Worker contrast of a balanced design: exactly 10 df


def test_kenward_roger_runs_without_an_n_by_n_matrix():
    """The Kenward-Roger pieces are (q + p)-dimensional: Exam's 4,059 rows never form a 4,059 x 4,059 matrix."""
    _, fit = reference_fit("inf_exam")
    kr = fit._kenward_roger
    assert kr.vcov.shape == (4, 4) and len(kr.P) == 4  # 3 covariance entries + the residual
    assert np.allclose(kr.vcov, fit.vcov.to_numpy(), rtol=1e-10)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"ddf": "kenward"}, "kenward-roger"),
    ({"ddf": "containment"}, "unknown ddf 'containment'"),
    ({"level": 95}, "level must be"),
    ({"vcov": "sandwich"}, "unknown vcov"),
])
def test_coef_table_bad_input(kwargs, match):
    _, fit = reference_fit("inf_sleepstudy")
    if kwargs == {"ddf": "kenward"}:  # an accepted abbreviation
        assert fit.coef_table(**kwargs).df.iloc[0] == pytest.approx(17.0, rel=1e-6)
        return
    with pytest.raises(ValueError, match=match):
        fit.coef_table(**kwargs)


def test_bad_ddf_for_the_fit():
    _, glmm = reference_fit("extra_boot_cbpp")
    with pytest.raises(ValueError, match="Wald z tests only"):
        glmm.coef_table(ddf="satterthwaite")
    with pytest.raises(ValueError, match="linear mixed models"):
        glmm.coef_table(vcov="robust")
    ml = mixjax.lmm("Reaction ~ Days + (Days | Subject)", mixjax.datasets.load("sleepstudy"), reml=False)
    with pytest.raises(ValueError, match="REML fits"):
        ml.anova(ddf="kenward-roger")
    with pytest.raises(ValueError, match="unknown type"):
        ml.anova(type=2)
