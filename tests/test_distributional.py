"""Distributional parameters with their own formulas (``zi=``, ``disp=``; glmmTMB's ``ziformula`` and
``dispformula``): zero-inflated Poisson and NB2, a hurdle NB2, NB2 with a dispersion model, against glmmTMB
(`tests/reference/tmb_salamanders_*.json`, `extra_distributional.json` from `make_distributional.R`)."""
import functools

import numpy as np
import pandas as pd
import pytest
from conftest import check_exact_derivatives, load_reference

import mixjax

FORMULA = "count ~ spp + mined + (1 | site)"
CASES = {
    "tmb_salamanders_zip": dict(family="poisson", zi="~ spp + mined"),
    "tmb_salamanders_zinb2": dict(family="nbinom2", zi="~ spp + mined"),
    "tmb_salamanders_nb2_disp": dict(family="nbinom2", disp="~ mined"),
    "tmb_salamanders_zinb2_disp": dict(family="nbinom2", zi="~ spp + mined", disp="~ mined"),
}
EXTRA = load_reference("extra_distributional")


@functools.cache
def salamanders():
    return mixjax.datasets.load("Salamanders")


@functools.cache
def fitted(rid):
    return mixjax.glmm(FORMULA, salamanders(), **CASES[rid])


def reference(rid):
    return EXTRA[rid] if rid in EXTRA else load_reference(rid)


def _values(d):
    return np.array(list(d.values()), dtype=float)


@pytest.mark.parametrize("rid", list(CASES))
def test_against_glmmtmb(rid):
    """logLik not below glmmTMB's by more than 1e-3; every linear predictor's coefficients within 0.02 SE and SEs
    within 3% (zero-inflation coefficients glmmTMB puts at |beta| > 10, a boundary, excepted), SD within 2%."""
    fit, ref = fitted(rid), reference(rid)
    assert fit.converged
    assert fit.loglik > ref["logLik"] - 1e-3
    for mine, se, key in [(fit.fixef, fit.fixef_se, "fixef"), (fit.zi_fixef, fit.zi_fixef_se, "zi_fixef"),
                          (fit.disp_fixef, fit.disp_fixef_se, "disp_fixef")]:
        if not ref.get(key):
            assert mine is None
            continue
        want, want_se = _values(ref[key]), _values(ref[key + "_se"])
        ok = np.abs(want) < 10
        assert np.all(np.abs(mine.to_numpy() - want)[ok] <= 0.02 * want_se[ok]), key
        np.testing.assert_allclose(se.to_numpy()[ok], want_se[ok], rtol=0.03, err_msg=key)
    sd = ref["sd"] if "sd" in ref else ref["varcorr"][0]["sd"]["(Intercept)"]
    assert fit.varcorr.sdcor.iloc[0] == pytest.approx(sd, rel=0.02)


def test_dispersion_and_fitted_values():
    """NB2's size as glmmTMB's sigma() without disp=; per-row with it (then no single dispersion); the mean
    response includes the zero-inflation, (1 - p) mu, on the fitted rows and on new data alike."""
    zinb = fitted("tmb_salamanders_zinb2")
    assert zinb.dispersion == pytest.approx(reference("tmb_salamanders_zinb2")["dispersion"], rel=0.02)
    assert fitted("tmb_salamanders_nb2_disp").dispersion is None
    both = fitted("tmb_salamanders_zinb2_disp")
    np.testing.assert_allclose(both.fitted()[:6], reference("tmb_salamanders_zinb2_disp")["fitted_head"], rtol=1e-3)
    sal = salamanders()
    np.testing.assert_allclose(both.predict(sal.iloc[:40], type="response"), both.fitted()[:40], rtol=1e-12)
    X = np.column_stack([np.ones(len(sal)), pd.get_dummies(sal.spp, drop_first=True).to_numpy(float),
                         (sal.mined == "no").to_numpy(float)])
    p = 1 / (1 + np.exp(-X @ zinb.zi_fixef.to_numpy()))
    np.testing.assert_allclose(zinb.fitted(), (1 - p) * np.exp(zinb.predict(type="link")), rtol=1e-10)


def test_summary_and_coef_table_show_the_linear_predictors():
    fit = fitted("tmb_salamanders_zinb2_disp")
    text = str(fit.summary())
    assert "Zero-inflation model (~ spp + mined):" in text and "Dispersion model (~ mined):" in text
    table = fit.coef_table()
    assert list(table.index[-2:]) == ["disp.Intercept", "disp.mined[T.no]"]
    assert table.loc["zi.mined[T.no]", "estimate"] == pytest.approx(fit.zi_fixef["mined[T.no]"])
    assert table.loc["zi.mined[T.no]", "se"] == pytest.approx(fit.zi_fixef_se["mined[T.no]"])


def test_zero_inflation_near_zero_is_the_plain_model():
    """At a zero-inflation intercept of -40 (p ~ 4e-18) the objective is the plain Poisson model's, and the
    zero-inflated fit is never worse than it."""
    sal = salamanders()
    plain = mixjax.glmm(FORMULA, sal, family="poisson")
    zip_fit = mixjax.glmm(FORMULA, sal, family="poisson", zi="~ 1")
    at_plain = np.append(plain.solution.x, -40.0)
    assert float(zip_fit.objective.deviance(at_plain)) == pytest.approx(plain.deviance, abs=1e-8)
    assert zip_fit.loglik >= plain.loglik - 1e-6


@pytest.mark.parametrize("kwargs, message", [
    (dict(family="gaussian", zi="~ 1"), "has no zeros to inflate"),
    (dict(family="poisson", disp="~ mined"), "has none"),
    (dict(family="poisson", zi="count ~ mined"), "one-sided formula"),
    (dict(family="poisson", zi="~ mined + (1 | site)"), "random effects in a zi formula"),
    (dict(family="poisson", zi="~ depth"), "depth"),
])
def test_bad_distributional_formulas(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mixjax.glmm(FORMULA, salamanders(), **kwargs)


@pytest.mark.parametrize("rid", ["tmb_salamanders_zip", "tmb_salamanders_zinb2_disp"])
def test_exact_gradient_and_hessian_against_finite_differences(rid):
    """The outer gradient and Hessian of -2 log L with zi= and disp= (through the modes) against differences."""
    obj = fitted(rid).objective
    rng = np.random.default_rng(2)
    psi = np.maximum(fitted(rid).solution.x + 0.05 * rng.standard_normal(len(obj.start)), obj.lower + 0.05)
    check_exact_derivatives(obj, psi)
