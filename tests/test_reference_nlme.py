"""The four nlme_* references (nlme's Lindstrom-Bates, ML) reproduced: log-likelihood not below nlme's by more than
1e-3, fixed effects within 0.02 SE, SEs within 3%, random-effect and residual SDs within 2%. Also the model
parser (restricted, never evaluates code) and bad input."""
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


@pytest.mark.parametrize("rid", list(CASES))
def test_matches_nlme(rid):
    ref, fit = fitted(rid)
    assert fit.converged
    assert fit.nobs == ref["nobs"]
    assert fit.loglik >= ref["logLik"] - 1e-3
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-2)
    for name, value in ref["fixef"].items():
        assert abs(fit.fixef[name] - value) <= 0.02 * ref["fixef_se"][name], name
        assert fit.fixef_se[name] == pytest.approx(ref["fixef_se"][name], rel=0.03), name
    assert fit.sigma == pytest.approx(ref["sigma"], rel=0.02)
    sds = {row.var1 if isinstance(row.var1, str) else "Residual": row.sdcor
           for row in fit.varcorr.itertuples() if not isinstance(row.var2, str)}
    for row in ref["varcorr_table"]:
        if row["stddev"] > 1e-3 * ref["sigma"]:  # nlme's near-zero SDs (1e-5, 2e-4) are at the boundary: 0 here
            assert sds[row["name"]] == pytest.approx(row["stddev"], rel=0.02), row["name"]
        else:
            assert sds[row["name"]] < 1e-3 * ref["sigma"], row["name"]


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
    text = fit.summary()
    assert "Lindstrom-Bates" in text and "Asym" in text and "logLik -131.58" in text


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
    with pytest.raises(ValueError, match="parameter.*R0.*not in the model"):
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



def test_reml_is_refused_for_now():
    """nlme's REML for nonlinear models is not the REML LME step alone (tests/reference/extra_nlme_orange_reml.json
    is nlme's; the plain REML linearization lands 0.9 SE away): refused until it matches."""
    model, fixed, random, _ = CASES["nlme_orange"]
    with pytest.raises(ValueError, match="method='REML' is not supported yet"):
        mixjax.nlme(model, mixjax.datasets.load("Orange"), fixed=fixed, random=random,
                    start={"Asym": 192, "xmid": 728, "scal": 353}, method="REML")
