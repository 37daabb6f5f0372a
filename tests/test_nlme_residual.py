"""``mixjax.nlme(..., correlation=, weights=)``: nlme's residual structures in nonlinear mixed models, against
nlme's Lindstrom-Bates fits (tests/reference/make_nlme_residual.R): log-likelihood not below nlme's by more than
1e-3, fixed effects within 0.01 SE, SEs within 1%, random-effect and residual SDs within 0.2%, the structures'
parameters within 0.5%. Also: corAR1 held at 0 reproduces the fit without a structure, the summary prints the
structures as nlme does, and bad input is refused before any work."""
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference

import mixjax
from mixjax.engines import nlme as nlme_engine

REF = load_reference("extra_nlme_residual")
SOY = ("weight ~ SSlogis(Time, Asym, xmid, scal)", "Asym + xmid + scal ~ 1")
LOB = ("height ~ SSasymp(age, Asym, R0, lrc)", "Asym + R0 + lrc ~ 1")
CASES = {
    "soybean_varpower": (*SOY, "Asym + xmid + scal ~ 1 | Plot", {"weights": mixjax.varPower()}),
    "indometh_ar1": ("conc ~ SSbiexp(time, A1, lrc1, A2, lrc2)", "A1 + lrc1 + A2 + lrc2 ~ 1",
                     "A1 + lrc1 + A2 ~ 1 | Subject", {"correlation": mixjax.corAR1()}),
    "loblolly_ar1": (*LOB, "Asym ~ 1 | Seed", {"correlation": mixjax.corAR1()}),
    "loblolly_varexp_reml": (*LOB, "Asym ~ 1 | Seed", {"weights": mixjax.varExp(form="~ age"), "method": "REML"}),
    "soybean_varident_reml": (*SOY, "Asym + xmid ~ 1 | Plot",
                              {"weights": mixjax.varIdent(form="~ 1 | Variety"), "method": "REML"}),
    "nested_ar1": ("circumference ~ SSlogis(age, Asym, xmid, scal)", "Asym + xmid + scal ~ 1", "Asym ~ 1 | Site/Tree",
                   {"correlation": mixjax.corAR1()}),
}


def _data(name: str) -> pd.DataFrame:
    if name == "nested_growth":  # simulated (tests/reference/make_nlme_extra.R)
        return pd.read_csv(Path(__file__).parent / "reference" / "data" / "nested_growth.csv",
                           dtype={"Site": str, "Tree": str})
    return mixjax.datasets.load(name)


@pytest.fixture(scope="module")
def fits():
    """One fit per reference, shared (Soybean's varPower fit is singular, as nlme's: scal's SD at 0)."""
    out = {}
    for rid, (model, fixed, random, kwargs) in CASES.items():
        ref = REF[rid]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mixjax.MixjaxWarning)
            out[rid] = mixjax.nlme(model, _data(ref["dataset"]), fixed=fixed, random=random,
                                   start=ref["start"], covariance="diagonal", **kwargs)
    return out


def _sds(fit) -> dict:
    return {(row.group, row.var1): row.sdcor for row in fit.varcorr.itertuples()
            if row.group != "Residual" and not isinstance(row.var2, str)}


@pytest.mark.parametrize("rid", list(CASES))
def test_matches_nlme(fits, rid):
    ref, fit = REF[rid], fits[rid]
    assert fit.converged and fit.method == ref["method"] and fit.nobs == ref["nobs"] and fit.df == ref["df"]
    assert fit.loglik >= ref["logLik"] - 1e-3
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-3)
    for name, value in ref["fixef"].items():
        assert abs(fit.fixef[name] - value) <= 0.01 * ref["fixef_se"][name], name
        assert fit.fixef_se[name] == pytest.approx(ref["fixef_se"][name], rel=0.01), name
    assert fit.sigma == pytest.approx(ref["sigma"], rel=2e-3)
    got = _sds(fit)
    assert len(got) == sum(map(len, ref["sd_levels"].values()))
    for group, sds in ref["sd_levels"].items():
        for name, sd in sds.items():
            if sd > 1e-3 * ref["sigma"]:
                assert got[group, name] == pytest.approx(sd, rel=2e-3), (group, name)
            else:  # nlme's near-zero SD (Soybean's scal, 6e-5) is the boundary: 0 here
                assert got[group, name] < 1e-3 * ref["sigma"], (group, name)


@pytest.mark.parametrize("rid", list(CASES))
def test_structure_parameters(fits, rid):
    ref, fit = REF[rid], fits[rid]
    for key, got in (("correlation", fit.correlation), ("variance", fit.variance_function)):
        if not ref[key]:
            assert got == {}
            continue
        assert got["class"] == ref[key]["class"]
        for name, value in ref[key]["natural"].items():
            assert got[name] == pytest.approx(value, rel=5e-3), name
    unconstrained = [v for key in ("correlation", "variance") if ref[key] for v in ref[key]["unconstrained"].values()]
    assert fit.residual.rho == pytest.approx(unconstrained, rel=5e-3, abs=1e-5)


def test_summary_prints_the_structures(fits):
    text = str(fits["indometh_ar1"].summary())
    assert "Correlation Structure: AR(1)" in text and "Formula: ~1 | Subject" in text and "Phi" in text
    text = str(fits["soybean_varpower"].summary())
    assert "Variance function:" in text and "Power of variance covariate" in text and "power" in text
    assert "Different standard deviations per stratum" in str(fits["soybean_varident_reml"].summary())
    assert "Formula: ~1 | Site/Tree" in str(fits["nested_ar1"].summary())  # the default group: Tree within Site


def test_fixed_point(fits):
    """``fixed_point()`` iterates on with the structure: PNLS to its minimum at the covariance and correlation that
    maximize the likelihood of the model linearized there; nlme's pnlsTol stop is close to it."""
    fit = fits["loblolly_ar1"]
    point = fit.fixed_point()
    assert point.converged and point.pnls_tol == 0.0
    assert point.loglik == pytest.approx(fit.loglik, abs=1e-2)
    assert point.correlation["Phi"] == pytest.approx(fit.correlation["Phi"], abs=1e-2)


def test_ar1_held_at_zero_is_the_identity_fit():
    """corAR1(0, fixed=True): the whitening is the identity, so the fit is the one without a structure (same
    log-likelihood, estimates and parameter count)."""
    lob = mixjax.datasets.load("Loblolly")
    plain = mixjax.nlme(*LOB[:1], lob, fixed=LOB[1], random="Asym ~ 1 | Seed")
    held = mixjax.nlme(*LOB[:1], lob, fixed=LOB[1], random="Asym ~ 1 | Seed",
                       correlation=mixjax.corAR1(0, fixed=True))
    assert held.loglik == pytest.approx(plain.loglik, abs=1e-8)
    assert np.allclose(held.fixef, plain.fixef, rtol=1e-8)
    assert np.allclose(held.fixef_se, plain.fixef_se, rtol=1e-7)
    assert held.sigma == pytest.approx(plain.sigma, rel=1e-8)
    assert held.df == plain.df and held.correlation == {"class": "corAR1", "Phi": 0.0}


def _forbidden(*args, **kwargs):
    raise AssertionError("numerical work ran on bad input")


def test_bad_input(monkeypatch):
    monkeypatch.setattr(nlme_engine, "lindstrom_bates_residual", _forbidden)
    monkeypatch.setattr(nlme_engine, "lindstrom_bates", _forbidden)
    soy = mixjax.datasets.load("Soybean")
    before = soy.copy()
    args = dict(fixed=SOY[1], random="Asym ~ 1 | Plot", start={"Asym": 17, "xmid": 52, "scal": 7.5})
    with pytest.raises(ValueError, match="column 'Day' in its form is not in the data"):
        mixjax.nlme(SOY[0], soy, correlation=mixjax.corAR1(form="~ Day | Plot"), **args)
    with pytest.raises(ValueError, match="column 'Varety' in its form"):
        mixjax.nlme(SOY[0], soy, weights=mixjax.varIdent(form="~ 1 | Varety"), **args)
    with pytest.raises(ValueError, match="a correlation structure is one of"):
        mixjax.nlme(SOY[0], soy, correlation="AR1", **args)
    with pytest.raises(ValueError, match="weights= takes a variance function"):
        mixjax.nlme(SOY[0], soy, weights=np.ones(len(soy)), **args)
    with pytest.raises(ValueError, match="method='laplace' does not take residual structures"):
        mixjax.nlme(SOY[0], soy, correlation=mixjax.corAR1(), method="laplace", **args)
    with pytest.raises(ValueError, match="must lie within the levels of every grouping factor"):
        mixjax.nlme(SOY[0], soy, correlation=mixjax.corAR1(form="~ 1 | Variety"), **args)
    with pytest.raises(ValueError, match="the time 'Year' repeats within a group"):
        mixjax.nlme(SOY[0], soy.assign(Year=1.0), correlation=mixjax.corCAR1(form="~ Year | Plot"), **args)
    pd.testing.assert_frame_equal(soy, before)
