"""Self-starting start values against R's getInitial, the Laplace method (against exact quadrature, finite
differences and Lindstrom-Bates), and bad input of the wider nlme interface."""
import numpy as np
import pandas as pd
import pytest
from conftest import load_reference
from scipy import integrate

import mixjax
from mixjax.nonlinear import parse_model
from mixjax.nonlinear.selfstart import SELF_START

GETINITIAL = load_reference("extra_selfstart_getinitial")["cases"]
ORANGE = dict(fixed="Asym + xmid + scal ~ 1", random="Asym ~ 1 | Tree")


def _subset(case) -> pd.DataFrame:
    data = mixjax.datasets.load(case["dataset"])
    column, value = (s.strip() for s in case["subset"].split("=="))
    return data[data[column].astype(str) == value]


def _rss(model, data, values) -> float:
    expr = parse_model(model)
    columns = {c: data[c].to_numpy(float) for c in expr.symbols if c in data.columns}
    r = data[expr.response].to_numpy(float) - np.asarray(expr({**columns, **values}))
    return float(r @ r)


@pytest.mark.parametrize("case", GETINITIAL, ids=[c["model"].split("(")[0].split()[-1] for c in GETINITIAL])
def test_self_start_values_are_the_least_squares_fit(case):
    """R's getInitial is the pooled least squares fit for seven of the eight functions: reproduced to 2e-5. For
    SSfol it stops at its peeling estimates (RSS 4.389 on Theoph subject 1); mixjax's least squares fit has RSS
    4.286, so it is compared by RSS only."""
    data = _subset(case)
    expr = parse_model(case["model"])
    columns = {c: data[c].to_numpy(float) for c in expr.symbols if c in data.columns}
    got = expr.start_values(columns, data[expr.response].to_numpy(float))
    assert set(got) == set(case["start"])
    assert _rss(case["model"], data, got) <= _rss(case["model"], data, case["start"]) * (1 + 1e-9)
    if "SSfol" not in case["model"]:
        for name, value in case["start"].items():
            assert got[name] == pytest.approx(value, rel=2e-5), name


def test_self_start_formulas_are_rs():
    x = np.array([0.5, 1.0, 2.0])
    assert np.allclose(SELF_START["SSfpl"].mean(x, 1.0, 5.0, 1.0, 0.5), 1 + 4 / (1 + np.exp((1 - x) / 0.5)))
    assert np.allclose(SELF_START["SSgompertz"].mean(x, 3.0, 2.0, 0.5), 3 * np.exp(-2 * 0.5**x))
    assert np.allclose(SELF_START["SSweibull"].mean(x, 3.0, 2.0, -1.0, 1.5), 3 - 2 * np.exp(-np.exp(-1.0) * x**1.5))
    assert np.allclose(SELF_START["SSmicmen"].mean(x, 2.0, 0.5), 2 * x / (0.5 + x))
    with pytest.raises(ValueError, match=r"SSlogis\(\) .* takes 4 arguments: SSlogis\(input, Asym, xmid, scal\)"):
        parse_model("y ~ SSlogis(x, A, m)")


def _orange_fit(method):
    return mixjax.nlme("circumference ~ SSlogis(age, Asym, xmid, scal)", mixjax.datasets.load("Orange"),
                       method=method, **ORANGE)


def test_laplace_is_the_exact_likelihood_when_effects_enter_linearly():
    """Orange's random Asym enters the mean linearly, so the integrand is Gaussian and Laplace is exact: its
    log-likelihood equals adaptive quadrature of the marginal likelihood at the Laplace estimates. That maximum
    is higher than Lindstrom-Bates' (-131.5846, whose fixed point is not the likelihood's maximum) by 0.0127."""
    fit, lb = _orange_fit("laplace"), _orange_fit("ML")
    assert fit.converged and fit.method == "laplace"
    A, xmid, scal = fit.fixef
    sd, sigma = fit.varcorr.sdcor
    exact = 0.0
    for _, g in mixjax.datasets.load("Orange").groupby("Tree", observed=True):
        x, y = g.age.to_numpy(float), g.circumference.to_numpy(float)

        def density(b, x=x, y=y):
            r = y - (A + b) / (1 + np.exp((xmid - x) / scal))
            return np.exp(-0.5 * r @ r / sigma**2 - 0.5 * b**2 / sd**2 + 60)

        value, _ = integrate.quad(density, -10 * sd, 10 * sd, epsabs=0, epsrel=1e-12, limit=200)
        exact += np.log(value) - 60 - len(y) * np.log(np.sqrt(2 * np.pi) * sigma) - np.log(np.sqrt(2 * np.pi) * sd)
    assert fit.loglik == pytest.approx(exact, abs=1e-8)
    assert fit.loglik - lb.loglik == pytest.approx(0.0127, abs=1e-3)
    assert fit.optimizer.max_grad < 1e-4 and fit.optimizer.hessian_min_eig > 0
    for name in fit.fixef.index:  # close to Lindstrom-Bates: within half a standard error
        assert abs(fit.fixef[name] - lb.fixef[name]) < 0.5 * lb.fixef_se[name]


def test_laplace_gradient_and_hessian_match_finite_differences():
    """The exact gradient (one Newton step from the stopped mode) against central differences of the deviance,
    away from the optimum; at the optimum, the fit's Hessian (differences of the exact gradient) against second
    differences of the deviance."""
    fit = _orange_fit("laplace")
    objective = mixjax.objectives.nlme_laplace.make_laplace(fit.problem.data, fit.spec, np.zeros((5, 1)))
    psi = fit.solution.x + np.array([0.3, 5.0, -20.0, 15.0])  # away from the optimum: a gradient that is not 0
    _, grad = objective.value_grad(psi)
    step = 1e-5 * np.maximum(1.0, np.abs(psi))
    fd = [(objective.deviance(psi + e) - objective.deviance(psi - e)) / (2 * e[i])
          for i, e in enumerate(np.diag(step))]
    assert np.asarray(grad) == pytest.approx(np.asarray(fd), rel=1e-5, abs=1e-6)
    x, h = fit.solution.x, 1e-3 * np.maximum(1.0, np.abs(fit.solution.x))
    second = np.array([[(objective.deviance(x + a + b) - objective.deviance(x + a - b) - objective.deviance(x - a + b)
                         + objective.deviance(x - a - b)) / (4 * a[i] * b[j])
                        for j, b in enumerate(np.diag(h))] for i, a in enumerate(np.diag(h))])
    assert fit.solution.hessian == pytest.approx(second, rel=2e-3, abs=1e-6)


def test_laplace_differs_from_linearization_where_effects_are_nonlinear():
    """Theoph, random lKe, lKa, lCl (diagonal): Lindstrom-Bates -177.0223 (nlme's), Laplace with the exact Hessian
    -177.8702: the linearization drops the residual-weighted second derivatives from the random effects' Hessian.
    The estimates stay within a third of a standard error."""
    theoph = mixjax.datasets.load("Theoph")
    args = dict(fixed="lKe + lKa + lCl ~ 1", random="lKe + lKa + lCl ~ 1 | Subject", covariance="diagonal")
    model = "conc ~ SSfol(Dose, Time, lKe, lKa, lCl)"
    lb, fit = (mixjax.nlme(model, theoph, method=m, **args) for m in ("ML", "laplace"))
    assert fit.converged
    assert fit.loglik - lb.loglik == pytest.approx(-0.848, abs=0.01)
    assert np.all(np.abs(fit.fixef - lb.fixef) < 0.35 * lb.fixef_se)


def test_bad_input_of_the_wider_interface():
    orange = mixjax.datasets.load("Orange")
    before = orange.copy()
    model = "circumference ~ SSlogis(age, Asym, xmid, scal)"
    with pytest.raises(ValueError, match="method must be 'ML', 'REML' or 'laplace'"):
        mixjax.nlme(model, orange, method="SAEM", **ORANGE)
    with pytest.raises(ValueError, match="no grouping.*groups='group'"):
        mixjax.nlme(model, orange, fixed=ORANGE["fixed"], random="Asym ~ 1")
    with pytest.raises(ValueError, match="covariates .'age'. belong in fixed"):
        mixjax.nlme(model, orange, fixed=ORANGE["fixed"], random="Asym ~ age | Tree")
    with pytest.raises(ValueError, match="parameter 'Asym' is given twice"):
        mixjax.nlme(model, orange, fixed=["Asym ~ 1", "Asym + xmid + scal ~ 1"], random=ORANGE["random"])
    with pytest.raises(ValueError, match="column 'Variety'.*not in the data"):
        mixjax.nlme(model, orange, fixed={"Asym": "~ Variety", "xmid": "~ 1", "scal": "~ 1"}, random=ORANGE["random"])
    with pytest.raises(ValueError, match="start has value.*R0, which are not parameters"):
        mixjax.nlme(model, orange, start={"R0": 1.0}, **ORANGE)
    with pytest.raises(ValueError, match=r"start\['Asym'\] must be 1 finite number"):
        mixjax.nlme(model, orange, start={"Asym": [1.0, 2.0]}, **ORANGE)
    with pytest.raises(ValueError, match="self-starting function"):  # no self-start: every start value needed
        mixjax.nlme("circumference ~ Asym/(1+exp((xmid-age)/scal))", orange, **ORANGE)
    with pytest.raises(ValueError, match="needs response='column'"):
        mixjax.nlme(lambda p, d: p["Asym"] * d["age"], orange, fixed="Asym ~ 1", random="Asym ~ 1 | Tree",
                    start={"Asym": 1.0})
    with pytest.raises(ValueError, match="reads data column 'agee', which is not there"):
        mixjax.nlme(lambda p, d: p["Asym"] * d["agee"], orange, response="circumference", fixed="Asym ~ 1",
                    random="Asym ~ 1 | Tree", start={"Asym": 1.0})
    with pytest.raises(ValueError, match="parameter.*xmid.*not used by the model"):
        mixjax.nlme(lambda p, d: p["Asym"] * d["age"], orange, response="circumference", fixed="Asym + xmid ~ 1",
                    random="Asym ~ 1 | Tree", start={"Asym": 1.0, "xmid": 1.0})
    with pytest.raises(ValueError, match="reads column.*Tree, which are not numeric"):
        mixjax.nlme(lambda p, d: p["Asym"] * d["Tree"], orange, response="circumference", fixed="Asym ~ 1",
                    random="Asym ~ 1 | Tree", start={"Asym": 1.0})
    nested = orange.assign(Site=orange.Tree.astype(str).map(lambda t: "a" if t in "12" else "b"))
    with pytest.raises(ValueError, match="method='laplace' needs a single grouping factor"):
        mixjax.nlme(model, nested, fixed=ORANGE["fixed"], random="Asym ~ 1 | Site/Tree", method="laplace")
    with pytest.raises(ValueError, match="'Site' has a single level"):
        mixjax.nlme(model, nested.assign(Site="a"), fixed=ORANGE["fixed"], random="Asym ~ 1 | Site/Tree")
    pd.testing.assert_frame_equal(orange, before)


def test_a_factor_inside_a_model_string_is_refused():
    with pytest.raises(ValueError, match="reads column.*Tree, which are not numeric.*fixed="):
        mixjax.nlme("circumference ~ Asym * Tree", mixjax.datasets.load("Orange"), fixed="Asym ~ 1",
                    random="Asym ~ 1 | Tree", start={"Asym": 1.0})


def test_failed_iterations_say_what_failed_and_return_nothing():
    """A start value far off (scal = 1 day for trees measured over 1,600 days) breaks the linearization: the error
    names the step that failed and what to change, as a ValueError, with no fit returned."""
    with pytest.raises(ValueError, match=r"Lindstrom-Bates iterations failed: stopped: the linearized model of "
                                         r"iteration 1 is not finite .*Try other start values"):
        mixjax.nlme("circumference ~ Asym/(1+exp((xmid-age)/scal))", mixjax.datasets.load("Orange"),
                    fixed="Asym + xmid + scal ~ 1", random="Asym + scal ~ 1 | Tree",
                    start={"Asym": 192, "xmid": 728, "scal": 1.0})


def test_the_pnls_step_compiles_once_per_model_shape():
    """Every PNLS step of a fit takes its step factor as the same type (a float64 array, not first a Python float):
    one compiled program per model shape, not two (Orange on 4 of its 5 trees: shapes no other test uses)."""
    from mixjax.objectives.nlme import pnls_iteration

    def compiled():
        return sum(j._cache_size() for j in pnls_iteration.jitted.values())

    orange = mixjax.datasets.load("Orange")
    four = orange[orange["Tree"].astype(str) != "5"].reset_index(drop=True)
    before = compiled()
    fit = mixjax.nlme("circumference ~ SSlogis(age, Asym, xmid, scal)", four, **ORANGE)
    assert fit.converged and compiled() == before + 1


def test_the_laplace_fit_runs_no_operation_outside_its_compiled_programs(caplog):
    """After the optimization, the mode and sigma come from the compiled ``value_grad``: no operation of the fit runs
    on the host one JAX primitive at a time (each would compile a program of its own: about 1 s of Theoph's first
    fit). Orange on 3 of its 5 trees, by Laplace: shapes no other test uses."""
    import logging

    import jax

    orange = mixjax.datasets.load("Orange")
    three = orange[orange["Tree"].astype(str).isin(["1", "2", "3"])].reset_index(drop=True)
    jax.config.update("jax_log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING, logger="jax"):
            fit = mixjax.nlme("circumference ~ SSlogis(age, Asym, xmid, scal)", three, fixed="Asym + xmid + scal ~ 1",
                              random="Asym ~ 1 | Tree", method="laplace")
    finally:
        jax.config.update("jax_log_compiles", False)
    names = {m.split("jit(")[1].split(")")[0] for m in caplog.messages if m.startswith("Finished XLA compilation")}
    assert fit.converged and "value_grad" in names
    assert not names & {"add", "multiply", "subtract", "true_divide", "exp", "broadcast_in_dim", "dot_general",
                        "matmul", "scatter-add", "gather", "select_n"}, names


@pytest.mark.parametrize("case", ["orange", "theoph", "indometh"])
def test_laplace_from_the_start_values_reaches_the_lindstrom_bates_start_maximum(case):
    """The Laplace fit starts from the start values (as lme4's nlmer), not from a Lindstrom-Bates fit: the same
    maximum either way (log-likelihood to 1e-7, estimates to 1e-3 of their SE)."""
    from mixjax.engines import nlme as nlme_engine
    from mixjax.nonlinear.setup import setup

    data = mixjax.datasets.load({"orange": "Orange", "theoph": "Theoph", "indometh": "Indometh"}[case])
    model, kw = {
        "orange": ("circumference ~ SSlogis(age, Asym, xmid, scal)",
                   dict(fixed="Asym + xmid + scal ~ 1", random="Asym + xmid ~ 1 | Tree", covariance="diagonal")),
        "theoph": ("conc ~ SSfol(Dose, Time, lKe, lKa, lCl)",
                   dict(fixed="lKe + lKa + lCl ~ 1", random="lKa + lCl ~ 1 | Subject")),
        "indometh": ("conc ~ SSbiexp(time, A1, lrc1, A2, lrc2)",
                     dict(fixed="A1 + lrc1 + A2 + lrc2 ~ 1", random="A1 + lrc1 + A2 ~ 1 | Subject",
                          covariance="diagonal")),
    }[case]
    problem = setup(model, data, **kw)
    state = nlme_engine.lindstrom_bates(problem.spec, problem.data, problem.beta0, problem.names, problem.groups,
                                        problem.levels)
    _, direct = nlme_engine.laplace(problem)
    _, from_lb = nlme_engine.laplace(problem, state)
    assert direct.converged and from_lb.converged
    assert direct.fun == pytest.approx(from_lb.fun, abs=2e-7)
    se = np.sqrt(np.diag(np.linalg.inv(0.5 * from_lb.hessian)))
    assert np.all(np.abs(direct.x - from_lb.x) < 1e-3 * se)
    fit = mixjax.nlme(model, data, method="laplace", **kw)
    assert fit.loglik == pytest.approx(-0.5 * direct.fun, abs=1e-9)


def test_laplace_falls_back_to_the_lindstrom_bates_start(monkeypatch):
    """Where the fit from the start values does not converge, the Laplace fit starts from the Lindstrom-Bates fit."""
    from mixjax import api
    from mixjax.optim.status import Status

    calls = []
    laplace = api.nlme_engine.laplace

    def failing_first(problem, state=None):
        objective, solution = laplace(problem, state)
        calls.append(state is None)
        return objective, (solution._replace(status=Status.QUASI_NEWTON_STOPPED) if state is None else solution)

    monkeypatch.setattr(api.nlme_engine, "laplace", failing_first)
    fit = mixjax.nlme("circumference ~ SSlogis(age, Asym, xmid, scal)", mixjax.datasets.load("Orange"),
                      fixed="Asym + xmid + scal ~ 1", random="Asym ~ 1 | Tree", method="laplace")
    assert calls == [True, False] and fit.converged
    assert fit.loglik == pytest.approx(-131.5719, abs=1e-4)
