"""The four nlme_* references (nlme's Lindstrom-Bates, ML) reproduced: log-likelihood not below nlme's by more than
1e-3, fixed effects within 0.02 SE, SEs within 3%, random-effect and residual SDs within 2%; the same through the
self-starting functions; and nlme's REML, parameter-specific linear models and nested groups
(tests/reference/make_nlme_extra.R). Also callables as models, the model parser (restricted, never evaluates
code) and bad input."""
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from conftest import load_reference

import mixjax
from mixjax.nonlinear import parse_model

CASES = {
    "nlme_orange": ("circumference ~ Asym/(1+exp((xmid-age)/scal))", "Asym + xmid + scal ~ 1", "Asym ~ 1 | Tree",
                    "unstructured"),
    "nlme_loblolly": ("height ~ Asym+(R0-Asym)*exp(-exp(lrc)*age)", "Asym + R0 + lrc ~ 1", "Asym ~ 1 | Seed",
                      "unstructured"),
    "nlme_soybean": ("weight ~ Asym/(1+exp((xmid-Time)/scal))", "Asym + xmid + scal ~ 1",
                     "Asym + xmid + scal ~ 1 | Plot", "diagonal"),
    "nlme_theoph": ("conc ~ Dose*exp(lKe+lKa-lCl)*(exp(-exp(lKe)*Time)-exp(-exp(lKa)*Time))/(exp(lKa)-exp(lKe))",
                    "lKe + lKa + lCl ~ 1", "lKe + lKa + lCl ~ 1 | Subject", "diagonal"),
}
_FITS: dict = {}


def _start(ref) -> dict:
    return {k: float(v) for k, v in (item.split("=") for item in ref["model"].split("start ")[1].split())}


def fitted(rid):
    if rid not in _FITS:
        ref = load_reference(rid)
        model, fixed, random, covariance = CASES[rid]
        fit = mixjax.nlme(model, mixjax.datasets.load(ref["dataset"]), fixed=fixed, random=random,
                          start=_start(ref), covariance=covariance)
        _FITS[rid] = (ref, fit)
    return _FITS[rid]


SELF_STARTING = {  # the same models through nlme's self-starting functions, with no start values
    "nlme_orange": "circumference ~ SSlogis(age, Asym, xmid, scal)",
    "nlme_loblolly": "height ~ SSasymp(age, Asym, R0, lrc)",
    "nlme_soybean": "weight ~ SSlogis(Time, Asym, xmid, scal)",
    "nlme_theoph": "conc ~ SSfol(Dose, Time, lKe, lKa, lCl)",
}


def check_against(ref, fit, names=None):
    """The issue's criteria: log-likelihood not below the reference's by more than 1e-3, fixed effects within
    0.02 SE, SEs within 3%, random-effect and residual SDs within 2%."""
    names = names or {n: n for n in ref["fixef"]}
    assert fit.converged
    assert fit.nobs == ref["nobs"]
    assert fit.loglik >= ref["logLik"] - 1e-3
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-2)
    for name, value in ref["fixef"].items():
        assert abs(fit.fixef[names[name]] - value) <= 0.02 * ref["fixef_se"][name], name
        assert fit.fixef_se[names[name]] == pytest.approx(ref["fixef_se"][name], rel=0.03), name
    assert fit.sigma == pytest.approx(ref["sigma"], rel=0.02)


def sds(fit) -> dict:
    return {(row.group, row.var1 if isinstance(row.var1, str) else "Residual"): row.sdcor
            for row in fit.varcorr.itertuples() if not isinstance(row.var2, str)}


@pytest.mark.parametrize("rid", list(CASES))
def test_matches_nlme(rid):
    ref, fit = fitted(rid)
    check_against(ref, fit)
    got = {var: sd for (_, var), sd in sds(fit).items()}
    for row in ref["varcorr_table"]:
        if row["stddev"] > 1e-3 * ref["sigma"]:  # nlme's near-zero SDs (1e-5, 2e-4) are at the boundary: 0 here
            assert got[row["name"]] == pytest.approx(row["stddev"], rel=0.02), row["name"]
        else:
            assert got[row["name"]] < 1e-3 * ref["sigma"], row["name"]


@pytest.mark.parametrize("rid", list(SELF_STARTING))
def test_self_starting_models_need_no_start(rid):
    """Written with SSlogis / SSasymp / SSfol and no start values, the fits land where nlme does from the same
    (self-start) values (tests/reference/make_nlme_lb.R), and on the same Lindstrom-Bates fixed point as from the
    reference's start values. nlme's own stopping point depends on the start (its PNLS stops at pnlsTol = 1e-3; the
    two starts end up to 2.3e-3 apart in the log-likelihood here, Theoph); the fixed point does not."""
    ref, fit = fitted(rid)
    _, fixed, random, covariance = CASES[rid]
    auto = mixjax.nlme(SELF_STARTING[rid], mixjax.datasets.load(ref["dataset"]), fixed=fixed, random=random,
                       covariance=covariance)
    check_against(ref, auto)
    nlme_same_start = load_reference("extra_nlme_lb")["self_start"][rid]
    assert auto.loglik == pytest.approx(nlme_same_start["logLik"], abs=1e-5)
    assert auto.iterations == nlme_same_start["numIter"]
    assert np.allclose(auto.fixef, list(nlme_same_start["fixef"].values()), rtol=1e-5)
    a, b = auto.fixed_point(), fit.fixed_point()
    assert a.loglik == pytest.approx(b.loglik, abs=1e-6)
    assert np.allclose(a.fixef, b.fixef, rtol=1e-5)


def test_reml_matches_nlme():
    """nlme's REML for nonlinear models: its PNLS step re-estimates the relative covariance by ML, so the fixed
    effects and relative covariance are the ML fit's; sigma, the SEs and the log-likelihood are REML's."""
    ref = load_reference("extra_nlme_orange_reml")
    model, fixed, random, _ = CASES["nlme_orange"]
    fit = mixjax.nlme(model, mixjax.datasets.load("Orange"), fixed=fixed, random=random,
                      start={"Asym": 192, "xmid": 728, "scal": 353}, method="REML")
    check_against({**ref, "nobs": 35}, fit)
    assert sds(fit)[("Tree", "Asym")] == pytest.approx(ref["sd_Asym"], rel=0.02)
    _, ml = fitted("nlme_orange")
    assert np.allclose(fit.fixef, ml.fixef, rtol=1e-10)
    assert fit.sigma == pytest.approx(ml.sigma * np.sqrt(35 / 32), rel=1e-8)  # n / (n - p)
    lines = str(fit.summary()).splitlines()  # nlme's summary: REML log-likelihood, AIC, BIC with log(n - p)
    assert "fit by REML" in lines[0] and lines[2].split() == ["AIC", "BIC", "logLik"]
    assert lines[3].split() == ["249.5148", "256.8435", "-119.7574"]


SOYBEAN_NAMES = {"Asym.(Intercept)": "Asym.Intercept", "Asym.Year1989": "Asym.Year[T.1989]",
                 "Asym.Year1990": "Asym.Year[T.1990]", "Asym.VarietyP": "Asym.Variety[T.P]",
                 "xmid.(Intercept)": "xmid.Intercept", "xmid.Year1989": "xmid.Year[T.1989]",
                 "xmid.Year1990": "xmid.Year[T.1990]", "scal": "scal"}


def test_parameter_specific_linear_models_match_nlme():
    """Soybean (Pinheiro & Bates 6.3): Asym ~ Year + Variety, xmid ~ Year, scal ~ 1, pdDiag(Asym + xmid) | Plot."""
    ref = load_reference("extra_nlme_soybean_covariates")
    soy = mixjax.datasets.load("Soybean")
    fit = mixjax.nlme("weight ~ SSlogis(Time, Asym, xmid, scal)", soy,
                      fixed={"Asym": "~ Year + Variety", "xmid": "~ Year", "scal": "~ 1"},
                      random="Asym + xmid ~ 1", groups="Plot", covariance="diagonal",
                      start={"Asym": 17, "xmid": 52, "scal": 7.5})
    check_against(ref, fit, SOYBEAN_NAMES)
    assert [sds(fit)[("Plot", p)] for p in ("Asym", "xmid")] == pytest.approx(ref["sd"]["Plot"], rel=0.02)
    new = soy.iloc[[0, 200]]  # predictions rebuild each parameter's columns from newdata
    assert fit.predict(new) == pytest.approx(fit.predict()[[0, 200]], rel=1e-12)
    assert fit.predict(new, level=0) == pytest.approx(fit.predict(level=0)[[0, 200]], rel=1e-12)


def test_nested_groups_match_nlme():
    """Trees within sites (simulated; tests/reference/make_nlme_extra.R): Asym ~ 1 | Site/Tree."""
    ref = load_reference("extra_nlme_nested")
    data = pd.read_csv(Path(__file__).parent / "reference" / "data" / "nested_growth.csv",
                       dtype={"Site": str, "Tree": str})
    fit = mixjax.nlme("circumference ~ SSlogis(age, Asym, xmid, scal)", data, fixed="Asym + xmid + scal ~ 1",
                      random="Asym ~ 1 | Site/Tree")
    check_against(ref, fit)
    assert sds(fit)[("Site", "Asym")] == pytest.approx(ref["sd"]["Site"], rel=0.02)
    assert sds(fit)[("Tree", "Asym")] == pytest.approx(ref["sd"]["Tree"], rel=0.02)
    assert fit.ngroups == {"Site": 8, "Tree": 48}  # tree labels repeat across sites: 6 labels, 48 trees
    for level, column in enumerate(["fixed", "Site", "Tree"]):
        assert fit.predict(level=level)[:5] == pytest.approx(ref["fitted_head"][column], rel=1e-4)
    assert fit.predict(data.iloc[:5], level=2) == pytest.approx(fit.predict()[:5], rel=1e-12)
    assert set(fit.ranef) == {"Site", "Tree"} and fit.ranef["Tree"].index[0] == "A/1"
    with pytest.raises(ValueError, match="level must be one of"):
        fit.predict(level=3)


def test_callable_model_equals_the_string_model():
    def logistic(p, d):
        return p["Asym"] / (1 + jnp.exp((p["xmid"] - d["age"]) / p["scal"]))

    _, fit = fitted("nlme_orange")
    _, fixed, random, _ = CASES["nlme_orange"]
    other = mixjax.nlme(logistic, mixjax.datasets.load("Orange"), response="circumference", fixed=fixed,
                        random=random, start={"Asym": 192, "xmid": 728, "scal": 353})
    assert other.loglik == pytest.approx(fit.loglik, abs=1e-8)
    assert np.allclose(other.fixef, fit.fixef, rtol=1e-8)
    assert other.problem.data.columns.keys() == {"age"}  # it read only age


def test_predictions_and_summary():
    _, fit = fitted("nlme_orange")
    assert fit.residuals(1) @ fit.residuals(1) < fit.residuals(0) @ fit.residuals(0)  # group curves fit better
    assert np.allclose(fit.predict(level=1) + fit.residuals(1), fit.y)
    orange = mixjax.datasets.load("Orange")
    assert fit.predict(orange.iloc[:7], level=1) == pytest.approx(fit.predict(level=1)[:7], rel=1e-12)
    grid = pd.DataFrame({"age": [0.0, 1e6]})  # the population curve runs from near 0 to Asym
    assert fit.predict(grid, level=0) == pytest.approx([fit.fixef["Asym"] / (1 + np.exp(fit.fixef["xmid"] / fit.fixef["scal"])), fit.fixef["Asym"]], rel=1e-9)
    with pytest.raises(ValueError, match="not in the fit"):
        fit.predict(pd.DataFrame({"age": [100.0], "Tree": ["9"]}))
    assert list(fit.ranef.columns) == ["Asym"] and len(fit.ranef) == 5
    assert abs(fit.ranef["Asym"].mean()) < 1.0
    text = str(fit.summary())
    assert "Lindstrom-Bates" in text and "Asym" in text
    assert text.splitlines()[2].split() == ["AIC", "BIC", "logLik"] and text.splitlines()[3].split()[2] == "-131.5846"


@pytest.mark.parametrize("text", ['y ~ __import__("os").system("ls")', "y ~ a.b", "y ~ x[0]", "y ~ foo(x)",
                                  "y ~ (lambda: 1)()", "y ~ x > 1", "y ~ exp(x, 2)", "y ~ 'a'"])
def test_parser_refuses_everything_but_arithmetic(text):
    with pytest.raises(ValueError, match="not allowed|not a number|one argument"):
        parse_model(text)


def test_parser_reads_r_powers_and_functions():
    m = parse_model("y ~ A * exp(-k * t^2) + sqrt(c)")
    assert set(m.symbols) == {"A", "k", "t", "c"}
    assert float(m.evaluate({"A": 2.0, "k": 0.5, "t": 2.0, "c": 9.0})) == pytest.approx(2 * np.exp(-2.0) + 3)


def test_bad_input():
    orange = mixjax.datasets.load("Orange")
    model = "circumference ~ Asym/(1+exp((xmid-age)/scal))"
    args = dict(fixed="Asym + xmid + scal ~ 1", random="Asym ~ 1 | Tree", start=dict(Asym=192, xmid=728, scal=353))
    before = orange.copy()
    with pytest.raises(ValueError, match="parameter.*R0.*not used by the model"):
        mixjax.nlme(model, orange, **{**args, "fixed": "Asym + xmid + scal + R0 ~ 1"})
    with pytest.raises(ValueError, match="column 'aeg'.*Did you mean 'age'"):
        mixjax.nlme(model.replace("age", "aeg"), orange, **args)
    with pytest.raises(ValueError, match="start has no value for scal"):
        mixjax.nlme(model, orange, **{**args, "start": dict(Asym=192, xmid=728)})
    with pytest.raises(ValueError, match="not finite at the start values"):
        mixjax.nlme(model, orange, **{**args, "start": dict(Asym=192, xmid=728, scal=0.0)})
    with pytest.raises(ValueError, match="random parameter.*must also be in fixed"):
        mixjax.nlme(model, orange, **{**args, "fixed": "Asym + xmid ~ 1", "random": "Asym + scal ~ 1 | Tree"})
    pd.testing.assert_frame_equal(orange, before)




def test_poor_start_reaches_the_better_optimum():
    """ChickWeight, pdDiag(Asym + xmid), from getInitial's start for chick 1 (Asym 937): nlme stops after 3
    iterations at -2484.84 with sd(xmid) near 0. mixjax goes on to -2259.467, 225 higher; nlme restarted near there
    agrees (-2259.461: the two Lindstrom-Bates fixed points differ by 0.006 in the log-likelihood and by less than
    0.02 SE in the estimates). This start used to stop at -2630 (a Gauss-Newton step onto non-finite values was
    accepted) or fail (an indefinite LME Hessian with no gradient along its negative curvature)."""
    ref = load_reference("extra_nlme_chickweight_diag")
    fit = mixjax.nlme("weight ~ SSlogis(Time, Asym, xmid, scal)", mixjax.datasets.load("ChickWeight"),
                      fixed="Asym + xmid + scal ~ 1", random="Asym + xmid ~ 1", groups="Chick",
                      covariance="diagonal", start={"Asym": 937, "xmid": 35, "scal": 11})
    assert fit.converged
    assert fit.loglik > ref["from_getinitial"]["logLik"] + 200
    best = ref["restarted"]
    assert fit.loglik == pytest.approx(best["logLik"], abs=0.01)
    for name, value in best["fixef"].items():
        assert abs(fit.fixef[name] - value) <= 0.02 * best["fixef_se"][name], name
        assert fit.fixef_se[name] == pytest.approx(best["fixef_se"][name], rel=0.03), name
    assert [sds(fit)[("Chick", p)] for p in ("Asym", "xmid")] == pytest.approx(best["sd"]["Chick"], rel=0.02)
