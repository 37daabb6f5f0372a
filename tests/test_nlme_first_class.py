"""NLME fits as first-class results, against nlme (tests/reference/make_nlme_lb.R, nlme_orange.json): the
``Summary`` that LMMs and GLMMs return, printed as nlme's ``summary.nlme``; ``singular`` and the boundary warning;
``fitted`` / ``residuals`` by grouping level; and the log-likelihood nlme reports, which is where its
Lindstrom-Bates iterations stop (its PNLS tolerance, ``pnlsTol = 1e-3``), not their fixed point."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, load_reference
from test_reference_nlme import fitted

import mixjax
from mixjax.design import MixjaxWarning
from mixjax.engines.nlme import BlockDeviance, block_index, linearized_design
from mixjax.objectives.lmm import make_lmm
from mixjax.objectives.nlme import host_factors, linearize, pnls
from mixjax.results.summary import Summary

LB = load_reference("extra_nlme_lb")
THEOPH = {"fixed": "lKe + lKa + lCl ~ 1", "random": "lKe + lKa + lCl ~ 1 | Subject"}
INDOMETH = {"fixed": "A1 + lrc1 + A2 + lrc2 ~ 1", "random": "A1 + lrc1 + A2 ~ 1", "groups": "Subject",
            "covariance": "diagonal"}


def _indometh(start=None):
    return mixjax.nlme("conc ~ SSbiexp(time, A1, lrc1, A2, lrc2)", mixjax.datasets.load("Indometh"), start=start,
                       **INDOMETH)


def test_summary_is_the_lmms_summary_printed_as_nlmes():
    """Orange: nlme's t-table (standard errors times sqrt(35 / 32), nlme's adjustSigma; 28 df), the SD table, the
    correlation of the fixed effects, the standardized residuals' quantiles and AIC / BIC / logLik, as printed."""
    ref, fit = fitted("nlme_orange")
    nlme = LB["summary_orange"]
    s = fit.summary()
    assert isinstance(s, Summary) and str(s) == s.text and repr(fit) == s.text and "<b>Fixed effects</b>" in s._repr_html_()
    assert "p-value" in s and "DF" in s  # reads as the text
    table = pd.DataFrame(nlme["tTable"], index=nlme["rows"])
    assert list(s.fixed.columns) == list(table.columns) and list(s.fixed.index) == nlme["rows"]
    assert s.fixed["Value"].to_numpy() == pytest.approx(table["Value"].to_numpy(), rel=1e-6)
    assert s.fixed["Std.Error"].to_numpy() == pytest.approx(table["Std.Error"].to_numpy(), rel=1e-5)
    assert s.fixed["Std.Error"].to_numpy() == pytest.approx(fit.fixef_se.to_numpy() * np.sqrt(35 / 32), rel=1e-12)
    assert np.all(s.fixed["DF"] == table["DF"])
    assert s.fixed["t-value"].to_numpy() == pytest.approx(table["t-value"].to_numpy(), rel=1e-5)
    assert s.fixed["p-value"].to_numpy() == pytest.approx(table["p-value"].to_numpy(), rel=1e-3)
    assert s.correlation.to_numpy()[np.tril_indices(3, -1)] == pytest.approx(nlme["corFixed"], abs=1e-5)
    assert s.random.StdDev.to_numpy() == pytest.approx([r["stddev"] for r in ref["varcorr_table"]], rel=1e-5)
    lines = s.text.splitlines()
    assert lines[2].split() == ["AIC", "BIC", "logLik"]
    assert lines[3].split() == [f"{nlme['AIC']:.7g}", f"{nlme['BIC']:.7g}", f"{nlme['logLik']:.7g}"]  # nlme's print
    assert ["Asym", "191.0500", "16.15411", "28", "11.82671", "0.0000"] in [line.split() for line in lines]
    assert "Residual 7.846256" in s.text and "Number of Observations: 35\nNumber of Groups: 5" in s.text
    at = lines.index("Standardized Within-Group Residuals:")
    assert np.array(lines[at + 2].split(), dtype=float) == pytest.approx(list(nlme["residuals"].values()), rel=1e-5)
    assert not fit.singular and "singular" not in s.footer


def test_theoph_diagonal_is_singular_and_warns():
    """sd(lKe) ends at 0 (nlme: 1.9e-5, relative 2.7e-5 < 1e-4): lme4's isSingular rule on the relative factor."""
    with pytest.warns(MixjaxWarning, match=r"boundary \(singular\) fit: see fit.theta and fit.varcorr"):
        fit = mixjax.nlme("conc ~ SSfol(Dose, Time, lKe, lKa, lCl)", mixjax.datasets.load("Theoph"),
                          covariance="diagonal", **THEOPH)
    assert fit.singular and fit.theta["Subject.lKe"] < 1e-4 and fit.theta.drop("Subject.lKe").min() > 0.2
    assert "boundary (singular) fit" in fit.summary().footer


def test_theoph_unstructured_prints_nlmes_corr_and_is_singular():
    """corr(lKe, lCl) 0.995: the 3 x 3 relative covariance has rank 2 (a zero on the diagonal of its Cholesky
    factor). Printed as nlme's lower-triangular Corr (0.012, 0.995, -0.089), with nlme's SDs."""
    nlme = LB["theoph_unstructured"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = mixjax.nlme("conc ~ SSfol(Dose, Time, lKe, lKa, lCl)", mixjax.datasets.load("Theoph"),
                          start={"lKe": -2.4, "lKa": 0.45, "lCl": -3.2}, **THEOPH)
    assert [str(w.message) for w in caught if issubclass(w.category, MixjaxWarning)] == [
        "boundary (singular) fit: see fit.theta and fit.varcorr"]
    assert fit.singular and fit.theta["Subject.lCl"] < 1e-4
    # at this boundary nlme's LME steps do not converge (nlminb's warning); it ends at -173.3208 (-173.3202 with
    # msMaxIter = 200), mixjax at -173.3193
    assert fit.loglik == pytest.approx(nlme["logLik"], abs=2e-3)
    s = fit.summary()
    assert s.random.StdDev.to_numpy() == pytest.approx(nlme["stddev"], rel=2e-3)
    lower = [s.random.loc[1, "lKe"], s.random.loc[2, "lKe"], s.random.loc[2, "lKa"]]
    assert lower == pytest.approx(nlme["corr"], abs=1e-3)
    assert np.isnan(s.random.loc[0, "lKe"]) and np.isnan(s.random.loc[1, "lKa"])
    text = s.text.splitlines()
    at = text.index(" Structure: General positive-definite")
    assert [line.split() for line in text[at + 1 : at + 6]] == [
        ["StdDev", "Corr"], ["lKe", f"{s.random.StdDev[0]:.7f}", "lKe", "lKa"],
        ["lKa", f"{s.random.StdDev[1]:.7f}", "0.012"], ["lCl", f"{s.random.StdDev[2]:.7f}", "0.995", "-0.089"],
        ["Residual", f"{fit.sigma:.7f}"]]


def test_fitted_and_residuals_by_level():
    """As nlme's fitted(m, level=) and resid(m, level=): default the innermost level; y = fitted + residuals at every
    level; level 0 is the model at the fixed effects, level 1 adds each tree's Asym effect. Methods, as the LMM's."""
    _, fit = fitted("nlme_orange")
    orange = mixjax.datasets.load("Orange")
    age, tree = orange.age.to_numpy(float), orange.Tree.astype(str).to_numpy()
    Asym, xmid, scal = fit.fixef
    assert fit.fitted(level=0) == pytest.approx(Asym / (1 + np.exp((xmid - age) / scal)), rel=1e-12)
    b = fit.ranef["Asym"].reindex(tree).to_numpy()
    assert fit.fitted(level=1) == pytest.approx((Asym + b) / (1 + np.exp((xmid - age) / scal)), rel=1e-12)
    assert np.array_equal(fit.fitted(), fit.fitted(level=1)) and np.array_equal(fit.residuals(), fit.residuals(1))
    for level in (0, 1):
        assert np.allclose(fit.fitted(level) + fit.residuals(level), orange.circumference, rtol=0, atol=1e-10)
    assert fit.residuals() @ fit.residuals() < fit.residuals(0) @ fit.residuals(0)
    with pytest.raises(ValueError, match="level must be one of"):
        fit.fitted(level=2)


def test_indometh_loglik_is_nlmes():
    """nlme(conc ~ SSbiexp(time, A1, lrc1, A2, lrc2), Indometh, pdDiag(A1 + lrc1 + A2), groups ~ Subject), ML.

    nlme reports the maximum over the covariance of the log-likelihood of the model linearized at the point where its
    PNLS step stopped, which is as soon as its convergence criterion (a relative offset) is below pnlsTol = 1e-3:
    short of the PNLS minimum, so not a fixed point of the Lindstrom-Bates iterations, and not the maximum of any
    one function; where it stops depends on the start. From getInitial's pooled values (mixjax's self-start) nlme
    reports 54.59452, from the medians of per-subject fits (nlme's own default, via nlsList) 54.59236; the fixed
    point, where both go with pnlsTol -> 0, is 54.58815. mixjax runs nlme's iterations and matches each within 1e-4;
    ``fixed_point()`` gives the fixed point."""
    ind = LB["indometh"]
    fit = _indometh()  # self-start: getInitial's values
    assert fit.problem.beta0 == pytest.approx(list(ind["getinitial"]["start"].values()), rel=1e-6)
    nlme = ind["getinitial"]
    assert fit.loglik == pytest.approx(nlme["logLik"], abs=1e-4)
    assert fit.iterations == nlme["numIter"] and fit.converged and not fit.singular
    assert fit.fixef.to_numpy() == pytest.approx(list(nlme["fixef"].values()), rel=1e-4)
    assert fit.fixef_se.to_numpy() == pytest.approx(list(nlme["fixef_se"].values()), rel=1e-3)
    assert fit.sigma == pytest.approx(nlme["sigma"], rel=1e-4)

    # the log-likelihood of the LMM linearized where the PNLS stopped, maximized over the covariance
    p = fit.problem
    f, J = (np.asarray(a) for a in linearize(fit.beta, fit.bs, p.data, p.spec))
    design = linearized_design(p.data, f, J, fit.beta, fit.bs, p.names, p.groups, p.levels, p.spec)
    lme = BlockDeviance(make_lmm(design, reml=False), block_index(p.spec), ()).minimize(np.ones(3))
    assert lme.converged and -0.5 * lme.fun == pytest.approx(fit.loglik, abs=1e-8)
    assert lme.x == pytest.approx(fit.theta_values, rel=1e-5)
    # ... which is not a fixed point: the PNLS minimum at that covariance lies elsewhere
    us = [np.linalg.lstsq(T, b.T, rcond=None)[0].T for b, T in zip(fit.bs, host_factors(fit.theta_values, p.spec))]
    beta_min = np.asarray(pnls(fit.beta, us, fit.theta_values, p.data, p.spec)[0])
    assert np.max(np.abs(beta_min / fit.beta - 1)) > 1e-4

    fixed = fit.fixed_point()
    assert fixed.loglik == pytest.approx(ind["fixed_point"]["logLik"], abs=1e-4)
    assert fixed.fixef.to_numpy() == pytest.approx(list(ind["fixed_point"]["fixef"].values()), rel=1e-4)
    assert fit.loglik - fixed.loglik == pytest.approx(0.0064, abs=2e-4)  # the discrepancy, reproduced
    assert "fixed point" in fixed.summary().footer and fixed.pnls_tol == 0.0

    other = _indometh(ind["nlslist"]["start"])  # nlme's default path: its start, another stopping point
    assert other.loglik == pytest.approx(ind["nlslist"]["logLik"], abs=1e-4)
    structures = REFERENCE / "extra_structures.json"  # the same fit, by another script, where it is there
    held = json.loads(structures.read_text()).get("nlme_indometh_biexp_diag3") if structures.exists() else None
    if held is not None:
        assert list(held["start"].values()) == pytest.approx(list(ind["nlslist"]["start"].values()), rel=1e-12)
        assert other.loglik == pytest.approx(held["logLik"], abs=1e-4)
    assert other.iterations == ind["nlslist"]["numIter"]
    assert other.loglik - fit.loglik == pytest.approx(ind["nlslist"]["logLik"] - nlme["logLik"], abs=1e-4)
    assert other.fixed_point().loglik == pytest.approx(fixed.loglik, abs=1e-6)
