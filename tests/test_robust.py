"""Cluster-robust covariance against clubSandwich 0.5.8 (vcovCR, coef_test) on lme4 REML fits
(tests/reference/extra_robust.json, made by make_robust.R)."""
import dataclasses

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference, r_name

import mixjax
from mixjax.inference.robust import ROBUST_TYPES, coef_test_robust, vcov_robust

REF = load_reference("extra_robust")["models"]
TYPES = ("CR0", "CR1", "CR1p", "CR1S", "CR2", "CR3")
# mixjax's own fits: lme4's optimum to ~1e-9 on sleepstudy and Machines; on Exam the REML surface is flat and the
# two optimizers stop ~1e-5 apart in theta (same criterion to 1e-11), which moves the sandwich by ~2e-6.
TOL = {"sleepstudy": 1e-6, "machines": 1e-6, "machines_unbalanced": 1e-6, "exam": 1e-5}
TESTS = {  # reference table -> (type, test, df column, p column)
    "CR2_Satterthwaite": ("CR2", "Satterthwaite", "df_Satt", "p_Satt"),
    "CR1_naive_t": ("CR1", "naive-t", "df_t", "p_t"),
    "CR0_Satterthwaite": ("CR0", "Satterthwaite", "df_Satt", "p_Satt"),
}


def _data(rid):
    ref = REF[rid]
    data = mixjax.datasets.load(ref["dataset"])
    if ref.get("drop_rows"):
        data = data.drop(index=[i - 1 for i in ref["drop_rows"]]).reset_index(drop=True)
    return data


@pytest.fixture(scope="module")
def fits():
    return {rid: mixjax.lmm(REF[rid]["formula"], _data(rid)) for rid in REF}


@pytest.fixture(scope="module")
def fits_at_r(fits):
    """The same fits moved to lme4's theta (beta and sigma follow, profiled): isolates the sandwich from the fit."""
    out = {}
    for rid, fit in fits.items():
        theta = np.array([REF[rid]["theta"][n.replace("Intercept", "(Intercept)")] for n in fit.theta.index])
        out[rid] = dataclasses.replace(fit, solution=fit.solution._replace(x=theta))
    return out


def _scaled_diff(v: pd.DataFrame, ref: dict) -> float:
    """max |v - R| / sqrt(R_ii R_jj), after checking the names."""
    assert [r_name(n) for n in v.index] == ref["names"] and [r_name(n) for n in v.columns] == ref["names"]
    A = np.array(ref["matrix"])
    return float(np.max(np.abs(v.to_numpy() - A) / np.sqrt(np.outer(np.diag(A), np.diag(A)))))


def test_types_listed():
    assert ROBUST_TYPES == TYPES


@pytest.mark.parametrize("rid", list(REF))
def test_fit_matches_lme4(fits, rid):
    fit = fits[rid]
    fe = np.array([REF[rid]["fixef"][r_name(n)] for n in fit.design.xnames])
    np.testing.assert_allclose(fit.fixef.to_numpy(), fe, rtol=TOL[rid], atol=1e-9)


@pytest.mark.parametrize("type", TYPES)
@pytest.mark.parametrize("rid", list(REF))
def test_vcov_at_r_estimates_is_exact(fits_at_r, rid, type):
    assert _scaled_diff(vcov_robust(fits_at_r[rid], type), REF[rid]["vcovCR"][type]) < 1e-10


@pytest.mark.parametrize("type", TYPES)
@pytest.mark.parametrize("rid", list(REF))
def test_vcov_matches_clubsandwich(fits, rid, type):
    v = vcov_robust(fits[rid], type)
    assert _scaled_diff(v, REF[rid]["vcovCR"][type]) < TOL[rid]
    A = np.array(REF[rid]["vcovCR"][type]["matrix"])
    np.testing.assert_allclose(np.diag(v), np.diag(A), rtol=TOL[rid])


@pytest.mark.parametrize("table", list(TESTS))
@pytest.mark.parametrize("rid", list(REF))
def test_coef_test_matches_clubsandwich(fits, fits_at_r, rid, table):
    type_, test, df_col, p_col = TESTS[table]
    ref = REF[rid]["coef_test"][table]
    for fit, tol in ((fits_at_r[rid], 1e-9), (fits[rid], TOL[rid])):
        tab = coef_test_robust(fit, type_, test=test)
        assert list(tab.columns) == ["estimate", "se", "df", "statistic", "p_value"]
        assert [r_name(n) for n in tab.index] == ref["coef"]
        np.testing.assert_allclose(tab["estimate"], ref["beta"], rtol=tol)
        np.testing.assert_allclose(tab["se"], ref["SE"], rtol=tol)
        np.testing.assert_allclose(tab["statistic"], ref["tstat"], rtol=tol)
        np.testing.assert_allclose(tab["df"], ref[df_col], rtol=tol)
        np.testing.assert_allclose(tab["p_value"], ref[p_col], rtol=10 * tol, atol=1e-300)


def test_unbalanced_cr2_differs_from_cr1(fits):
    """On balanced designs CR2 is CR1 and the Satterthwaite df are J - 1; Exam shows the adjustment at work."""
    fit = fits["exam"]
    assert not np.allclose(vcov_robust(fit, "CR2"), vcov_robust(fit, "CR1"), rtol=1e-3)
    df = coef_test_robust(fit)["df"]
    assert (df < REF["exam"]["n_clusters"] - 1).all()


def test_default_and_named_cluster(fits):
    fit = fits["machines"]
    assert [t.factor for t in fit.design.terms] == ["Machine:Worker", "Worker"]
    pd.testing.assert_frame_equal(vcov_robust(fit, "CR2"), vcov_robust(fit, "CR2", cluster="Worker"))
    pd.testing.assert_frame_equal(vcov_robust(fits["sleepstudy"]), vcov_robust(fits["sleepstudy"], "CR2", "Subject"))


def test_naive_tp_and_z(fits):
    fit = fits["sleepstudy"]
    tp, z = coef_test_robust(fit, "CR2", test="naive-tp"), coef_test_robust(fit, "CR2", test="z")
    assert (tp["df"] == 18 - 2).all() and np.isinf(z["df"]).all()
    assert (z["p_value"] < tp["p_value"]).all()


def test_weights_scale_free():
    """Prior weights enter V_j as in the fit: multiplying them all by a constant changes nothing (clubSandwich
    refuses weighted lmer fits, so there is no R reference)."""
    data = mixjax.datasets.load("sleepstudy")
    w = 1.0 + data["Days"].to_numpy() % 3
    a = mixjax.lmm("Reaction ~ Days + (Days | Subject)", data, weights=w)
    b = mixjax.lmm("Reaction ~ Days + (Days | Subject)", data, weights=2.5 * w)
    for type_ in ("CR0", "CR2"):
        np.testing.assert_allclose(vcov_robust(a, type_), vcov_robust(b, type_), rtol=1e-6)
    assert not np.allclose(vcov_robust(a), vcov_robust(mixjax.lmm("Reaction ~ Days + (Days | Subject)", data)))


# ------------------------------------------------------------------------------------------ bad input


def test_unknown_type(fits):
    with pytest.raises(ValueError, match=r"unknown robust covariance type 'HC3'.*CR0, CR1, CR1p, CR1S, CR2, CR3"):
        vcov_robust(fits["sleepstudy"], "HC3")
    with pytest.raises(ValueError, match=r"unknown robust covariance type 'cr2'"):
        coef_test_robust(fits["sleepstudy"], "cr2")


def test_unknown_test(fits):
    with pytest.raises(ValueError, match=r"unknown test 'KR'.*Satterthwaite, naive-t"):
        coef_test_robust(fits["sleepstudy"], test="KR")


def test_unknown_cluster(fits):
    with pytest.raises(ValueError, match=r"unknown cluster 'Machine'.*'Machine:Worker', 'Worker'"):
        vcov_robust(fits["machines"], cluster="Machine")
    with pytest.raises(ValueError, match=r"unknown cluster 'Days'.*'Subject'"):
        coef_test_robust(fits["sleepstudy"], cluster="Days")


def test_inner_cluster_refused(fits):
    with pytest.raises(ValueError, match=r"'Worker' are not nested within the clusters 'Machine:Worker'"):
        vcov_robust(fits["machines"], cluster="Machine:Worker")


def test_crossed_refused():
    fit = mixjax.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", mixjax.datasets.load("Penicillin"))
    with pytest.raises(ValueError, match=r"'plate' are not nested within the clusters 'sample'.*block-diagonal"):
        vcov_robust(fit)
    with pytest.raises(ValueError, match=r"'sample' are not nested within the clusters 'plate'"):
        coef_test_robust(fit, cluster="plate")


def test_glmm_and_nlme_refused():
    glmm = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixjax.datasets.load("cbpp"),
                       family="binomial")
    with pytest.raises(ValueError, match=r"only for linear mixed models.*GLMM"):
        vcov_robust(glmm)
    nlme = mixjax.nlme("circumference ~ Asym / (1 + exp((xmid - age) / scal))", mixjax.datasets.load("Orange"),
                       fixed="Asym + xmid + scal ~ 1", random="Asym ~ 1 | Tree",
                       start={"Asym": 192, "xmid": 728, "scal": 353})
    with pytest.raises(ValueError, match=r"only for linear mixed models.*NLME"):
        coef_test_robust(nlme)
