"""Censored Gaussian (cens(), interval(); metobit, meintreg) and parametric survival families (Surv(); mestreg):
against the numerical-integration references and survreg / direct likelihoods (tests/reference/make_survival.R),
densities that integrate to 1, exact gradients, quadrature, predictions, bad input, the Stata front-end."""
import functools
import json
import re

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE
from scipy import integrate

import mixjax
from mixjax import families
from mixjax.design import build
from mixjax.families.base import Response
from mixjax.families.censoring import EXACT, INTERVAL, LEFT, RIGHT
from mixjax.families.survival import evaluate
from mixjax.objectives.glmm import make_glmm

DATA = REFERENCE / "data"
SURVIVAL = ["exponential", "exponential_aft", "weibull", "weibull_aft", "gompertz", "lognormal", "loglogistic",
            "gamma_aft"]
ANCILLARY = {"exponential": [], "exponential_aft": [], "weibull": [0.2], "weibull_aft": [-0.3], "gompertz": [0.05],
             "lognormal": [0.3], "loglogistic": [-0.4], "gamma_aft": [0.4]}


@functools.cache
def data(name: str) -> pd.DataFrame:
    group = "Subject" if name.startswith("sleepstudy") else "id"
    return pd.read_csv(DATA / f"{name}.csv", dtype={group: str})


def reference(rid: str) -> dict:
    return json.loads((REFERENCE / f"{rid}.json").read_text())


@functools.cache
def reference_fit(rid: str):
    if rid == "cens_sleepstudy_tobit":
        fit = mixjax.glmm("cens(y, upper=400) ~ Days + (1 | Subject)", data("sleepstudy_censored"),
                          family="censored_gaussian", nagq=15)
    else:
        fit = mixjax.glmm("Surv(time, status) ~ age + sex + (1 | id)", data("kidney"), family="weibull", nagq=15)
    return reference(rid), fit


# ------------------------------------------------------------------------------------------------ references


@pytest.mark.parametrize("rid", ["cens_sleepstudy_tobit", "surv_kidney_weibull"])
def test_against_numerical_integration_references(rid):
    ref, fit = reference_fit(rid)
    assert fit.converged
    assert fit.loglik > ref["logLik"] - 1e-3
    se = np.sqrt(np.diag(fit._covariance))
    for name, value in ref["fixef"].items():
        mine = "Intercept" if name == "(Intercept)" else name
        assert abs(fit.fixef[mine] - value) < 0.02 * ref["fixef_se"][name]
        assert fit.fixef_se[mine] == pytest.approx(ref["fixef_se"][name], rel=0.03)
    assert fit.theta.iloc[0] == pytest.approx(ref["sd_u"], rel=0.02)
    assert se[0] == pytest.approx(ref["sd_u_se"], rel=0.03)
    log_anc, log_anc_se = fit.solution.x[-1], se[-1]
    if rid == "cens_sleepstudy_tobit":  # ln_sigma: sd_e and its delta-method SE
        assert fit.dispersion == pytest.approx(ref["sd_e"], rel=0.02)
        assert fit.dispersion * log_anc_se == pytest.approx(ref["sd_e_se"], rel=0.03)
    else:
        assert log_anc == pytest.approx(ref["ln_p"], rel=0.02)
        assert log_anc_se == pytest.approx(ref["ln_p_se"], rel=0.03)


@pytest.mark.parametrize("rid", ["cens_sleepstudy_tobit", "surv_kidney_weibull"])
def test_quadrature_moves_to_the_direct_integral(rid):
    """At the reference's estimates the reference's logLik is R's integrate() value: adaptive quadrature reaches it,
    Laplace is further away."""
    ref, fit = reference_fit(rid)
    beta = [ref["fixef"][n] for n in ref["fixef"]]
    anc = 0.5 * np.log(ref["var_e"]) if "var_e" in ref else ref["ln_p"]
    psi = np.array([np.sqrt(ref["var_u"]), *beta, anc])
    errors = []
    for nagq in (1, 7, 15):
        obj = make_glmm(fit.design, fit.family, fit.objective.response, nagq)
        errors.append(abs(-0.5 * float(obj.deviance(psi)) - ref["quadrature_check"]["logLik_integrate"]))
    assert errors[2] < 1e-6 and errors[2] < errors[1] < errors[0]


# ------------------------------------------------------------------------------------------------ survreg, direct


CASES = {name: ("Surv(time, status) ~ age + sex + (1 | id)", "kidney", name) for name in SURVIVAL}
CASES["weibull_entry"] = ("Surv(entry, time, status) ~ age + sex + (1 | id)", "kidney_entry", "weibull")
CASES["tobit"] = ("cens(y, upper=400) ~ Days + (1 | Subject)", "sleepstudy_censored", "censored_gaussian")
CASES["tobit_two_limits"] = ("cens(y, lower=250, upper=400) ~ Days + (1 | Subject)", "sleepstudy_censored",
                             "censored_gaussian")
CASES["interval"] = ("interval(lo, hi) ~ Days + (1 | Subject)", "sleepstudy_interval", "censored_gaussian")


@pytest.mark.parametrize("case", list(CASES))
def test_without_random_effects_equals_survreg_or_direct_likelihood(case):
    formula, dataset, family = CASES[case]
    ref = reference("survival_families")[case]
    group = "Subject" if dataset.startswith("sleepstudy") else "id"
    fit = mixjax.glmm(formula, data(dataset), family=family, fix={f"{group}.Intercept": 0.0})
    assert fit.nobs == len(data(dataset))  # missing interval bounds do not drop rows
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    mine = dict(zip(fit.objective.names, fit.solution.x))
    for name, value in ref["params"].items():
        assert mine[name] == pytest.approx(value, abs=2e-4 * max(1.0, abs(value)))


# ------------------------------------------------------------------------------------------------ densities


def _logpdf(family, y, eta, params):
    y = np.atleast_2d(np.asarray(y, dtype=float))
    resp = Response(y, np.ones(len(y)), np.ones(len(y)))
    return np.asarray(evaluate(family, "logpdf", resp, np.full(len(y), eta), np.asarray(params, dtype=float)))


@pytest.mark.parametrize("name", SURVIVAL)
def test_survival_density_integrates_to_one_and_censored_rows_are_its_tail(name):
    family, eta, params = families.get(name, survival=True), 0.7, ANCILLARY[name]
    dens = lambda t, t0=0.0: np.exp(_logpdf(family, [t0, t, 1.0], eta, params)[0])  # noqa: E731
    total = integrate.quad(dens, 0, np.inf, limit=400)[0]
    assert total == pytest.approx(1.0, abs=1e-7)
    for t in (0.3, 2.0, 9.0):
        tail = integrate.quad(dens, t, np.inf, limit=400)[0]
        assert np.exp(_logpdf(family, [0.0, t, 0.0], eta, params)[0]) == pytest.approx(tail, rel=1e-7, abs=1e-12)
    # delayed entry at t0: the density given survival to t0 integrates to 1 beyond t0
    assert integrate.quad(lambda t: dens(t, 1.5), 1.5, np.inf, limit=400)[0] == pytest.approx(1.0, abs=1e-7)


def test_censored_gaussian_pieces():
    family, mu, params = families.get("censored_gaussian"), 1.3, [np.log(0.7)]
    dens = lambda y: np.exp(_logpdf(family, [y, y, EXACT], mu, params)[0])  # noqa: E731
    assert integrate.quad(dens, -np.inf, np.inf)[0] == pytest.approx(1.0, abs=1e-10)
    for u in (-3.0, 1.0, 2.5, 9.0):
        left = np.exp(_logpdf(family, [u, u, LEFT], mu, params)[0])
        right = np.exp(_logpdf(family, [u, u, RIGHT], mu, params)[0])
        assert left == pytest.approx(integrate.quad(dens, -np.inf, u)[0], rel=1e-8, abs=1e-14)
        assert left + right == pytest.approx(1.0, abs=1e-12)
        between = np.exp(_logpdf(family, [u - 0.4, u, INTERVAL], mu, params)[0])
        assert between == pytest.approx(integrate.quad(dens, u - 0.4, u)[0], rel=1e-8, abs=1e-14)
    # far tails stay finite in logs
    assert np.all(np.isfinite(_logpdf(family, [[60.0, 60.0, RIGHT], [-60.0, -60.0, LEFT], [40.0, 41.0, INTERVAL]],
                                      mu, params)))


@pytest.mark.parametrize("link", ["probit", "logit", "cloglog"])
def test_log_interval_derivatives_equal_the_plain_formulas(link):
    """``links.log_interval`` (the censored Gaussian's and the ordinal family's rows) and its own derivative rule
    (what the GLMM's fourth-order Hessian differentiates) equal ``log(F(hi) - F(lo))``, ``log F(hi)`` and ``log(1 -
    F(lo))`` written with the link's distribution function and differentiated by JAX, to the third order, in both
    tails and across the branch that uses the survival functions."""
    import jax
    import jax.numpy as jnp

    from mixjax.families.links import LINKS, log_interval

    F = LINKS[link].inverse

    def plain(lo, hi, has_lo, has_hi):
        if not has_lo:
            return jnp.log(F(hi))
        if not has_hi:
            return jnp.log1p(-F(lo))
        return jnp.log(F(hi) - F(lo))

    def derivatives(f):  # d/dlo, d/dhi, d2/dlo dhi, d3/dhi3, d3/dlo3
        g_lo, g_hi = jax.grad(f, 0), jax.grad(f, 1)
        return [f, g_lo, g_hi, jax.grad(g_lo, 1), jax.grad(jax.grad(g_hi, 1), 1), jax.grad(jax.grad(g_lo, 0), 0)]

    cases = [(-0.3, 0.8, True, True), (1.5, 2.7, True, True), (-4.0, -3.2, True, True), (-1.0, 0.9, True, True),
             (-2.0, -1.0, False, True), (0.7, 1.7, False, True), (-0.5, 0.5, True, False), (2.5, 3.5, True, False)]
    for lo, hi, has_lo, has_hi in cases:
        mine = derivatives(lambda a, b: log_interval(link, a, b, jnp.asarray(has_lo), jnp.asarray(has_hi)))
        ref = derivatives(lambda a, b: plain(a, b, has_lo, has_hi))
        for m, r in zip(mine, ref):
            assert float(m(lo, hi)) == pytest.approx(float(r(lo, hi)), rel=1e-8, abs=1e-12), (lo, hi, has_lo, has_hi)
    # far tails stay finite where the plain formula underflows
    for lo, hi, has_lo, has_hi in [(-40.0, -39.0, False, True), (39.0, 40.0, True, False), (8.0, 9.0, True, True)]:
        for d in derivatives(lambda a, b: log_interval(link, a, b, jnp.asarray(has_lo), jnp.asarray(has_hi))):
            assert np.isfinite(float(d(lo, hi)))


# ------------------------------------------------------------------------------------------------ gradients


@pytest.mark.parametrize("name", ["censored_gaussian", *SURVIVAL])
def test_exact_gradient_against_finite_differences(name):
    if name == "censored_gaussian":
        formula, frame = "interval(lo, hi) ~ Days + (1 | Subject)", data("sleepstudy_interval").iloc[:60]
    else:
        formula, frame = "Surv(entry, time, status) ~ age + (1 | id)", data("kidney_entry")
    fam = families.get(name, survival=name != "censored_gaussian")
    design = build(formula, frame, glmm=True)
    resp = fam.response(design.y, design.weights, (), design.parsed.response)
    obj = make_glmm(design, fam, resp, 1)
    psi = obj.start.copy()
    psi[0] = 0.5 * (np.std(design.y[:, 0]) if name == "censored_gaussian" else 1.0)
    f, g, _ = (np.asarray(a) for a in obj.value_grad_hess(psi))

    def central(i, h):
        up, down = psi.copy(), psi.copy()
        up[i] += h
        down[i] -= h
        return (float(obj.deviance(up)) - float(obj.deviance(down))) / (2 * h)

    h = 1e-4 * np.maximum(1.0, np.abs(psi))  # Richardson: Gompertz's gamma multiplies times up to 562
    fd = np.array([(4 * central(i, h[i] / 2) - central(i, h[i])) / 3 for i in range(len(psi))])
    assert g == pytest.approx(fd, rel=1e-5, abs=1e-5 * (1 + abs(f)) ** 0.5)


# ------------------------------------------------------------------------------------------------ predictions


def test_survival_predictions():
    _, fit = reference_fit("surv_kidney_weibull")
    median = fit.survival(type="median")
    assert fit.survival(type="survival", at_time=median) == pytest.approx(np.full(len(median), 0.5), rel=1e-10)
    eta, ln_p = fit.predict(type="link"), fit.solution.x[-1]
    p, t = np.exp(ln_p), fit.objective.response.y[:, 1]
    assert fit.survival(type="hazard") == pytest.approx(p * t ** (p - 1) * np.exp(eta), rel=1e-10)
    mean = fit.survival(type="mean", include_re=False)
    surv = lambda s, e: np.exp(-np.exp(e) * s**p)  # noqa: E731
    e0 = fit.predict(type="link", include_re=False)[0]
    assert mean[0] == pytest.approx(integrate.quad(surv, 0, np.inf, args=(e0,))[0], rel=1e-8)
    table = fit.eform_table()
    assert table.index.name == "hazard ratio"
    assert table.loc["sex", "estimate"] == pytest.approx(np.exp(fit.fixef["sex"]))
    assert table.loc["p", "estimate"] == pytest.approx(p)
    with pytest.raises(ValueError, match="at_time"):
        fit.survival(data("kidney").head(2), type="hazard")


@pytest.mark.parametrize("name", ["gompertz", "lognormal", "loglogistic", "gamma_aft", "weibull_aft"])
def test_median_and_mean_of_each_family(name):
    family, eta, params = families.get(name, survival=True), np.array([0.4]), np.array(ANCILLARY[name])
    median = evaluate(family, "median", eta, params)
    assert np.exp(float(evaluate(family, "log_survival", median, eta, params)[0])) == pytest.approx(0.5, rel=1e-9)
    surv = lambda t: float(np.exp(evaluate(family, "log_survival", np.array([t]), eta, params)[0]))  # noqa: E731
    mean = float(evaluate(family, "mean", eta, params)[0])
    assert mean == pytest.approx(integrate.quad(surv, 0, np.inf, limit=400)[0], rel=1e-7)


# ------------------------------------------------------------------------------------------------ bad input


def _kidney(**changes):
    frame = data("kidney").copy()
    for column, (row, value) in changes.items():
        frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize("formula, frame, message", [
    ("Surv(time, status) ~ age + (1 | id)", lambda: _kidney(time=(3, -2.0)),
     r"survival times 'time' must be positive.*1 row\(s\) \(index 3\)"),
    ("Surv(time, status) ~ age + (1 | id)", lambda: _kidney(status=(5, 2.0)),
     r"event column 'status' must be 0 \(censored\) or 1.*index 5"),
    ("Surv(entry, time, status) ~ age + (1 | id)", lambda: _kidney().assign(entry=lambda d: np.where(d.index == 7, d.time + 1.0, 0.0)),
     r"entry 'entry' is not before the time 'time' in 1 row\(s\) \(index 7\)"),
    ("interval(lo, hi) ~ Days + (1 | Subject)",
     lambda: data("sleepstudy_interval").assign(lo=lambda d: np.where(d.index == 4, 999.0, d.lo)),
     r"lower bound 'lo' exceeds the upper bound 'hi' in 1 row\(s\) \(index 4\)"),
    ("Surv(time, nothere) ~ age + (1 | id)", lambda: _kidney(), r"'nothere' is neither a column"),
    ("cens(y) ~ Days + (1 | Subject)", lambda: data("sleepstudy_censored"), "gives no censoring limit"),
])
def test_bad_input(formula, frame, message):
    frame = frame()
    before = frame.copy()
    family = "censored_gaussian" if formula.startswith(("cens", "interval")) else "weibull"
    with pytest.raises(ValueError, match=message):
        mixjax.glmm(formula, frame, family=family)
    pd.testing.assert_frame_equal(frame, before)


def test_family_and_response_must_match():
    with pytest.raises(ValueError, match="needs Surv"):
        mixjax.glmm("y ~ Days + (1 | Subject)", data("sleepstudy_censored"), family="weibull")
    with pytest.raises(ValueError, match="'censored_gaussian' for a Surv.* does not read one.*weibull"):
        mixjax.glmm("Surv(time, status) ~ age + (1 | id)", data("kidney"), family="censored_gaussian")
    with pytest.raises(ValueError, match="need a survival family"):
        reference_fit("cens_sleepstudy_tobit")[1].eform_table()


# ------------------------------------------------------------------------------------------------ Stata


@pytest.mark.parametrize("command, kwargs, formula, family", [
    ("metobit y Days || Subject:, ul(400)", {}, "cens(y, upper=400) ~ Days + (1 | Subject)", "censored_gaussian"),
    ("metobit y x || id:, ll(lim) ul(10)", {}, "cens(y, lower=lim, upper=10) ~ x + (1 | id)", "censored_gaussian"),
    ("meintreg lo hi Days || Subject:", {}, "interval(lo, hi) ~ Days + (1 | Subject)", "censored_gaussian"),
    ("mestreg age sex || id:, distribution(weibull)", {"time": "time", "event": "status"},
     "Surv(time, status) ~ age + sex + (1 | id)", "weibull"),
    ("mestreg age || id:, dist(exp) time", {"time": "t", "event": "d", "entry": "t0"},
     "Surv(t0, t, d) ~ age + (1 | id)", "exponential_aft"),
    ("mestreg || id:, dist(gamma)", {"time": "t", "event": "d"}, "Surv(t, d) ~ 1 + (1 | id)", "gamma_aft"),
    ("mestreg x || id:, dist(logn)", {"time": "t", "event": "d"}, "Surv(t, d) ~ x + (1 | id)", "lognormal"),
])
def test_stata_translation(command, kwargs, formula, family):
    model = mixjax.stata.translate(command, survival=kwargs)
    assert model.formula == formula
    assert model.kwargs["family"] == family and model.kwargs["nagq"] == 7


@pytest.mark.parametrize("command, kwargs, message", [
    ("mestreg x || id:", {"time": "t", "event": "d"}, "needs distribution"),
    ("mestreg x || id:, dist(weibull)", {}, "time='t', event='died'"),
    ("mestreg x || id:, dist(gompertz) time", {"time": "t", "event": "d"}, "does not suit distribution"),
    ("melogit y x || id:, ll(0)", {}, "ll\\(\\) is an option of metobit"),
    ("metobit y x || id:", {}, "needs ll\\(\\) and/or ul\\(\\)"),
    ("metobit y x || id:, ll", {}, "without a value"),
    ("meintreg lo || id:", {}, "two dependent variables"),
    ("metobit y x || id:, ll(0)", {"time": "t"}, "belong\\(s\\) to mestreg"),
])
def test_stata_errors(command, kwargs, message):
    with pytest.raises(ValueError, match=message):
        mixjax.stata.translate(command, survival=kwargs)


def test_stata_fit_equals_glmm():
    _, direct = reference_fit("surv_kidney_weibull")
    fit = mixjax.stata("mestreg age sex || id:, distribution(weibull) intpoints(15)", data("kidney"), time="time",
                       event="status")
    assert fit.loglik == pytest.approx(direct.loglik, abs=1e-8)
    assert re.search(r"weibull", str(fit.family))


def test_summary_with_hazard_ratios():
    """summary(eform=True): the fixed effects as hazard ratios (Stata's mestreg default), exp of the log-hazard
    coefficients."""
    fit = mixjax.glmm("Surv(time, status) ~ age + sex + (1 | id)", data("kidney"), family="weibull")
    s = fit.summary(eform=True)
    assert "Exponentiated coefficients (hazard ratios):" in str(s)
    np.testing.assert_allclose(s.fixed.loc[list(fit.fixef.index), "estimate"], np.exp(fit.fixef), rtol=1e-12)
    with pytest.raises(ValueError, match="survival family"):
        mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixjax.datasets.load("cbpp"),
                    family="binomial").summary(eform=True)


def test_parameterization_and_predict_types():
    """parameterization="aft" is the weibull_aft family (same likelihood as PH, coefficients -beta_PH / p);
    predict(type="median" | "survival") equals fit.survival(...)."""
    kidney = data("kidney")
    ph = mixjax.glmm("Surv(time, status) ~ age + sex + (1 | id)", kidney, family="weibull")
    aft = mixjax.glmm("Surv(time, status) ~ age + sex + (1 | id)", kidney, family="weibull", parameterization="aft")
    assert aft.family.name == "weibull_aft" and aft.loglik == pytest.approx(ph.loglik, abs=1e-6)
    p = np.exp(ph.solution.x[ph.objective.names.index("ln_p")])
    np.testing.assert_allclose(aft.fixef["sex"], -ph.fixef["sex"] / p, rtol=1e-4)
    np.testing.assert_allclose(ph.predict(type="median"), ph.survival(type="median"), rtol=1e-12)
    np.testing.assert_allclose(ph.predict(type="survival", at_time=100.0), ph.survival(type="survival", at_time=100.0))
    with pytest.raises(ValueError, match="parameterization='aft'"):
        mixjax.glmm("Surv(time, status) ~ age + (1 | id)", kidney, family="gompertz", parameterization="aft")


def test_clear_errors_and_stata_labels_for_censored_and_survival_responses():
    sleep = data("sleepstudy_censored")
    with pytest.raises(ValueError, match="needs family='censored_gaussian'"):
        mixjax.glmm("cens(y, upper=400) ~ Days + (1 | Subject)", sleep, family="gaussian")
    fit = mixjax.glmm("Surv(time, status) ~ age + sex + (1 | id)", data("kidney"), family="weibull")
    assert "          _t | Coefficient" in str(fit.summary(style="stata"))
