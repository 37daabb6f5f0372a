"""Every engine's public objective is a pure JAX function: ``objective.fn(params, data)`` and
``objective.deviance(params)`` under ``jax.jit``, ``grad``, ``hessian`` and ``vmap`` (over parameters and over a
batch of responses), and differentiable in its data (the response, the prior weights)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mixjax
from mixjax.linalg.crossprod import crossproducts
from mixjax.objectives.nlme_laplace import make_laplace


@functools.cache
def _case(name):
    """(objective, a point away from the optimum, response, weights, data with a response, weights replaced)."""
    if name in ("lmm_sleepstudy", "lmm_penicillin"):
        formula, data = (("Reaction ~ Days + (Days | Subject)", mixjax.datasets.load("sleepstudy"))
                         if name == "lmm_sleepstudy" else
                         ("diameter ~ 1 + (1 | plate) + (1 | sample)", mixjax.datasets.load("Penicillin")))
        fit = mixjax.lmm(formula, data)
        obj = fit.objective
        return obj, fit.solution.x * 1.2 + 0.05, obj.rows.y, obj.rows.weights, obj.data_with
    if name == "glmm_cbpp":
        fit = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixjax.datasets.load("cbpp"),
                          family="binomial")
        obj = fit.objective
        return obj, fit.solution.x + 0.1, np.asarray(obj.data.y), np.asarray(obj.data.weights), obj.data_with
    fit = mixjax.nlme("circumference ~ SSlogis(age, Asym, xmid, scal)", mixjax.datasets.load("Orange"),
                      fixed="Asym + xmid + scal ~ 1", random="Asym ~ 1 | Tree", method="laplace")
    obj = make_laplace(fit.problem.data, fit.spec, np.zeros((5, 1)))
    data_with = lambda y=None, weights=None: obj.data._replace(y=obj.data.y if y is None else y)  # noqa: E731
    return obj, fit.solution.x + np.array([0.3, 5.0, -20.0, 15.0]), np.asarray(obj.data.y), None, data_with


CASES = ["lmm_sleepstudy", "lmm_penicillin", "glmm_cbpp", "nlme_orange_laplace"]


def _central(f, x, i, h):
    e = np.zeros_like(x)
    e[i] = h
    return (float(f(x + e)) - float(f(x - e))) / (2 * h)


@pytest.mark.parametrize("name", CASES)
def test_jit_equals_eager(name):
    obj, x, *_ = _case(name)
    eager = float(obj.deviance(x))
    assert float(jax.jit(obj.deviance)(x)) == pytest.approx(eager, rel=1e-12)
    assert float(jax.jit(obj.fn)(jnp.asarray(x), obj.data)) == pytest.approx(eager, rel=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_grad_and_hessian_match_finite_differences(name):
    obj, x, *_ = _case(name)
    grad, hess = np.asarray(jax.grad(obj.deviance)(jnp.asarray(x))), np.asarray(jax.hessian(obj.deviance)(jnp.asarray(x)))
    h = 1e-5 * np.maximum(1.0, np.abs(x))
    fd = np.array([_central(obj.deviance, x, i, h[i]) for i in range(len(x))])
    assert grad == pytest.approx(fd, rel=1e-5, abs=1e-5)
    g = lambda z: np.asarray(jax.grad(obj.deviance)(jnp.asarray(z)))  # noqa: E731
    fd2 = np.stack([(g(x + np.eye(len(x))[i] * h[i]) - g(x - np.eye(len(x))[i] * h[i])) / (2 * h[i])
                    for i in range(len(x))])
    assert hess == pytest.approx(fd2, rel=1e-4, abs=1e-4)


@pytest.mark.parametrize("name", CASES)
def test_vmap_over_parameters_and_responses_equals_a_loop(name):
    obj, x, y, _, data_with = _case(name)
    X = np.stack([x, x * 1.01, x * 0.98])
    assert np.asarray(jax.vmap(obj.deviance)(X)) == pytest.approx([float(obj.deviance(r)) for r in X], rel=1e-10)
    rng = np.random.default_rng(0)
    Y = np.stack([y, np.round(y * rng.uniform(0.5, 1.0, len(y))), y + (name.startswith("lmm") or name.startswith("nlme"))])
    batched = jax.vmap(lambda yy: obj.fn(jnp.asarray(x), data_with(y=yy)))(Y)
    loop = [float(obj.fn(jnp.asarray(x), data_with(y=yy))) for yy in Y]
    assert np.asarray(batched) == pytest.approx(loop, rel=1e-10)
    assert loop[0] == pytest.approx(float(obj.deviance(x)), rel=1e-12)


@pytest.mark.parametrize("name", CASES)
def test_derivatives_in_the_response_and_weights_match_finite_differences(name):
    obj, x, y, w, data_with = _case(name)
    x = jnp.asarray(x)
    inside = np.flatnonzero(y > 0)  # binomial: 0 successes is a kink of the log-density in y (a zero count)
    rows = [inside[0], inside[len(inside) // 2], inside[-1]]
    f_y = lambda yy: obj.fn(x, data_with(y=yy))  # noqa: E731
    grad_y = np.asarray(jax.grad(f_y)(jnp.asarray(y, dtype=float)))
    assert grad_y[rows] == pytest.approx([_central(f_y, np.asarray(y, float), i, 1e-4) for i in rows], rel=1e-5, abs=1e-6)
    if w is not None:
        f_w = lambda ww: obj.fn(x, data_with(weights=ww))  # noqa: E731
        grad_w = np.asarray(jax.jacfwd(f_w)(jnp.asarray(w, dtype=float)))
        assert grad_w[rows] == pytest.approx([_central(f_w, np.asarray(w, float), i, 1e-5) for i in rows],
                                             rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", ["lmm_sleepstudy", "lmm_penicillin"])
def test_lmm_data_with_equals_the_host_cross_products(name):
    """``data_with`` (pure JAX) builds what ``crossproducts`` (numpy) builds for another response and weights."""
    obj, *_ = _case(name)
    fit_data = mixjax.datasets.load("sleepstudy" if name == "lmm_sleepstudy" else "Penicillin")
    formula = ("Reaction ~ Days + (Days | Subject)" if name == "lmm_sleepstudy"
               else "diameter ~ 1 + (1 | plate) + (1 | sample)")
    response = formula.split(" ~")[0]
    rng = np.random.default_rng(1)
    y, w = fit_data[response].to_numpy() * 1.5 + 2.0, rng.uniform(0.5, 2.0, len(fit_data))
    host = crossproducts(mixjax.build_design(formula, fit_data.assign(**{response: y}), weights=w))
    device = obj.data_with(y=y, weights=w)
    for leaf in ("D0", "A_low", "Cxy", "ev", "pval"):
        assert np.asarray(getattr(device, leaf)) == pytest.approx(getattr(host, leaf), rel=1e-10, abs=1e-8), leaf
    assert float(device.log_det_w) == pytest.approx(host.log_det_w, rel=1e-12)
    only_y = obj.data_with(y=y)
    host_y = crossproducts(mixjax.build_design(formula, fit_data.assign(**{response: y})))
    assert np.asarray(only_y.A_low) == pytest.approx(host_y.A_low, rel=1e-10, abs=1e-8)
    assert np.asarray(only_y.Cxy) == pytest.approx(host_y.Cxy, rel=1e-10, abs=1e-8)
