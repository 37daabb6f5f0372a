"""All eleven lmm_* fits of lme4 reproduced: deviance at lme4's theta, optimum, estimates, SEs, SDs."""
import numpy as np
import pandas as pd
import pytest
from conftest import load_reference, r_name

import mixjax

IDS = [
    "lmm_dyestuff",
    "lmm_exam_crosslevel",
    "lmm_exam_slope",
    "lmm_insteval_crossed_ml",
    "lmm_machines_nested",
    "lmm_orthodont",
    "lmm_pastes_nested",
    "lmm_penicillin_crossed",
    "lmm_sleepstudy_ml",
    "lmm_sleepstudy_reml",
    "lmm_sleepstudy_uncorr",
]

_FITS: dict = {}


def fitted(rid):
    if rid not in _FITS:
        ref = load_reference(rid)
        data = mixjax.datasets.load(ref["dataset"])
        _FITS[rid] = (ref, mixjax.lmm(ref["formula"], data, reml=ref["method"] == "REML"))
    return _FITS[rid]


@pytest.mark.parametrize("rid", IDS)
def test_deviance_at_lme4_theta(rid):
    ref = load_reference(rid)
    design = mixjax.build_design(ref["formula"], mixjax.datasets.load(ref["dataset"]))
    objective = mixjax.make_lmm(design, reml=ref["method"] == "REML")
    theta = np.array(list(ref["theta"].values()))
    assert design.n_theta == len(theta)
    value = float(objective.deviance(theta))
    assert value == pytest.approx(ref["deviance_or_REMLcrit"], rel=1e-8)


@pytest.mark.parametrize("rid", IDS)
def test_optimum_matches_lme4(rid):
    ref, fit = fitted(rid)
    assert fit.converged, fit.optimizer
    assert fit.nobs == ref["nobs"]
    assert fit.ngroups == ref["ngroups"]
    assert fit.loglik >= ref["logLik"] - 1e-4
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-3)
    assert fit.aic == pytest.approx(ref["AIC"], abs=2e-3)
    assert fit.bic == pytest.approx(ref["BIC"], abs=2e-3)
    assert fit.deviance == pytest.approx(ref["deviance_or_REMLcrit"], abs=2e-3)
    est = {r_name(k): v for k, v in fit.fixef.items()}
    se = {r_name(k): v for k, v in fit.fixef_se.items()}
    assert set(est) == set(ref["fixef"])
    for name, value in ref["fixef"].items():
        assert abs(est[name] - value) <= 0.01 * ref["fixef_se"][name], name
        assert se[name] == pytest.approx(ref["fixef_se"][name], rel=0.01), name
    assert fit.sigma == pytest.approx(ref["sigma"], rel=2e-3)


@pytest.mark.parametrize("rid", IDS)
def test_variance_components_match_lme4(rid):
    ref, fit = fitted(rid)
    ours = {
        (row.group, None if pd.isna(row.var1) else r_name(row.var1), None if pd.isna(row.var2) else r_name(row.var2)): row
        for row in fit.varcorr.itertuples()
    }
    assert len(ours) == len(ref["varcorr"])
    for row in ref["varcorr"]:
        mine = ours[(row["group"], row["var1"], row["var2"])]
        if row["var2"] is None:  # a standard deviation: within 0.2%
            assert mine.sdcor == pytest.approx(row["sdcor"], rel=2e-3), row
        else:  # a correlation
            assert mine.sdcor == pytest.approx(row["sdcor"], abs=5e-3), row


@pytest.mark.parametrize("rid", [r for r in IDS if "ranef" in load_reference(r)])
def test_conditional_modes_match_lme4(rid):
    ref, fit = fitted(rid)
    for group, rows in ref["ranef"].items():
        # lme4's ranef() joins the terms of one grouping factor, e.g. (Days || Subject)
        ours = pd.concat([fit.ranef[t.group] for t in fit.design.terms if t.factor == group], axis=1)
        for column in [c for c in rows[0] if c not in ("level", "_row")]:
            mine = ours[[c for c in ours.columns if r_name(c) == column][0]]
            expected = np.array([row[column] for row in rows])
            got = mine.loc[[row["level"] for row in rows]].to_numpy()
            np.testing.assert_allclose(got, expected, atol=2e-3 * max(np.std(expected), 1e-8), err_msg=column)


def test_insteval_finds_at_least_lme4s_optimum():
    """lme4 stops early on InstEval (its reference README says so); mixjax's Newton optimum is no worse."""
    ref, fit = fitted("lmm_insteval_crossed_ml")
    assert fit.loglik - ref["logLik"] >= 0.0
    assert fit.optimizer.max_grad < 1e-2


@pytest.mark.parametrize("rid", ["extra_sleepstudy_weighted_reml", "extra_sleepstudy_weighted_ml"])
def test_weighted_fit_matches_lme4(rid):
    """Prior weights (tests/reference/make_extra.R): Var(e_i) = sigma^2 / w_i, w = 1 + Days %% 3."""
    ref = load_reference(rid)
    data = mixjax.datasets.load(ref["dataset"])
    weights = 1.0 + data["Days"].to_numpy() % 3
    fit = mixjax.lmm(ref["formula"], data, reml=ref["method"] == "REML", weights=weights)
    theta = np.array(list(ref["theta"].values()))
    assert float(fit.objective.deviance(theta)) == pytest.approx(ref["deviance_or_REMLcrit"], rel=1e-8)
    assert fit.loglik >= ref["logLik"] - 1e-4
    assert fit.sigma == pytest.approx(ref["sigma"], rel=2e-3)
    for name, value in ref["fixef"].items():
        ours = {r_name(k): v for k, v in fit.fixef.items()}[name]
        assert abs(ours - value) <= 0.01 * ref["fixef_se"][name]
        assert {r_name(k): v for k, v in fit.fixef_se.items()}[name] == pytest.approx(ref["fixef_se"][name], rel=0.01)


def test_crossed_model_with_a_vector_second_term_matches_lme4():
    """(1 | s) + (1 + service | dept) on InstEval's first 5,000 rows (tests/reference/make_extra.R): the second
    term has two columns, so the dense block is scaled by 2 x 2 blocks of Lambda. lme4 reports a singular fit."""
    ref = load_reference("extra_insteval5000_slope_reml")
    data = mixjax.datasets.load("InstEval").iloc[:5000]
    design = mixjax.build_design(ref["formula"], data)
    assert [t.group for t in design.terms] == ["s", "dept"] and design.terms[1].k == 2
    objective = mixjax.make_lmm(design, reml=True)
    theta = np.array(list(ref["theta"].values()))
    assert float(objective.deviance(theta)) == pytest.approx(ref["deviance_or_REMLcrit"], rel=1e-8)
    with pytest.warns(mixjax.MixjaxWarning, match="singular"):  # as lme4's
        fit = mixjax.lmm(ref["formula"], data)
    assert fit.singular and fit.converged
    assert fit.loglik >= ref["logLik"] - 1e-4
    for name, value in ref["fixef"].items():
        ours = {r_name(k): v for k, v in fit.fixef.items()}[name]
        assert abs(ours - value) <= 0.01 * ref["fixef_se"][name]
