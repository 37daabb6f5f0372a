"""The hand-derived value and gradient of ``mixjax.objectives.lmm_scalar`` (designs whose random-effects terms all
have one column, e.g. InstEval's crossed intercepts) against reverse-mode differentiation of the general blocked
deviance (``schur_logdet``'s rule) and against plain autodiff."""
from functools import partial

import jax
import numpy as np
import pytest

import mixjax
from mixjax.linalg.schur_logdet import schur_logdet
from mixjax.objectives import lmm as lmm_objective
from mixjax.objectives import lmm_scalar

CASES = [
    ("InstEval", "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)", 5000),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", None),
    ("Penicillin", "diameter ~ 0 + (1 | plate) + (1 | sample)", None),  # no fixed effects: p = 0
    ("Pastes", "strength ~ 1 + (1 | batch/cask)", None),  # nested
]


def _objective(name, formula, rows, reml):
    data = mixjax.datasets.load(name)
    data = data.iloc[:rows] if rows else data
    return mixjax.make_lmm(mixjax.build_design(formula, data), reml=reml)


def _general(theta, obj):
    """Value and gradient through the general blocked system (the rule used before the scalar path)."""
    return jax.value_and_grad(partial(lmm_objective._deviance, terms=schur_logdet))(theta, obj.data, obj.spec)


@pytest.mark.parametrize("name,formula,rows", CASES)
@pytest.mark.parametrize("reml", [True, False])
def test_scalar_path_equals_general_gradient(name, formula, rows, reml):
    obj = _objective(name, formula, rows, reml)
    assert lmm_scalar.all_scalar(obj.spec)
    n = len(obj.lower)
    for theta in (np.linspace(0.3, 1.2, n), np.where(np.arange(n) == 1, 0.0, 0.8)):  # the second on a boundary
        f, g = jax.jit(lmm_scalar.value_grad, static_argnames="spec")(theta, obj.data, obj.spec)
        f0, g0 = _general(theta, obj)
        assert float(f) == pytest.approx(float(f0), rel=1e-12)
        np.testing.assert_allclose(np.asarray(g), np.asarray(g0), rtol=1e-8, atol=1e-7)
        f1, g1 = obj.value_grad(theta)  # the objective dispatches to the scalar path (compiled with other options)
        assert float(f1) == pytest.approx(float(f), rel=1e-14)
        np.testing.assert_allclose(np.asarray(g1), np.asarray(g), rtol=1e-12, atol=1e-12)


def test_scalar_path_with_prior_weights_equals_autodiff():
    data = mixjax.datasets.load("Penicillin")
    weights = 1.0 + np.arange(len(data)) % 3
    obj = mixjax.make_lmm(mixjax.build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", data, weights=weights))
    theta = np.array([0.9, 2.1])
    f, g = obj.value_grad(theta)
    f2, g2, _ = obj.value_grad_hess(theta)
    assert float(f) == pytest.approx(float(f2), rel=1e-12)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g2), rtol=1e-8, atol=1e-9)


def test_vector_terms_keep_the_general_path():
    obj = _objective("sleepstudy", "Reaction ~ Days + (Days | Subject)", None, True)
    assert not lmm_scalar.all_scalar(obj.spec)
    data = mixjax.datasets.load("InstEval").iloc[:5000]
    obj = mixjax.make_lmm(mixjax.build_design("y ~ service + (1 | s) + (1 + service | dept)", data))
    assert not lmm_scalar.all_scalar(obj.spec)


def test_host_lapack_runs_on_one_blas_thread_and_restores_the_count():
    from threadpoolctl import threadpool_info

    from mixjax.linalg.blas_threads import one_thread

    before = [m["num_threads"] for m in threadpool_info() if m["user_api"] == "blas"]
    assert before  # numpy's and scipy's BLAS
    with one_thread():
        assert all(m["num_threads"] == 1 for m in threadpool_info() if m["user_api"] == "blas")
    assert [m["num_threads"] for m in threadpool_info() if m["user_api"] == "blas"] == before


def test_batched_lapack_calls_run_one_matrix_at_a_time_on_the_cpu():
    """``one_by_one``: jaxlib 0.10.2's batched LAPACK kernels can deadlock XLA's CPU pool (README, "Tests"), so the
    residual structures' whitening calls them on one matrix at a time, with the batched call's results."""
    import jax
    from jax.scipy.linalg import solve_triangular

    from mixjax.linalg.lapack import one_by_one

    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 5, 5))
    C, G = A @ A.transpose(0, 2, 1) + 5 * np.eye(5), rng.standard_normal((6, 5, 3))

    def fn(C, G):
        return solve_triangular(jax.lax.linalg.cholesky(C, symmetrize_input=False), G, lower=True)

    np.testing.assert_allclose(one_by_one(fn, C, G), fn(C, G), rtol=1e-12)
    calls = [line for line in jax.jit(lambda C, G: one_by_one(fn, C, G)).lower(C, G).as_text().splitlines()
             if "custom_call @lapack" in line]
    assert len(calls) == 2 and not any("6x5x5" in line for line in calls), calls  # potrf and trsm, on 5 x 5 only
    batched = [line for line in jax.jit(fn).lower(C, G).as_text().splitlines() if "custom_call @lapack" in line]
    assert all("6x5x5" in line for line in batched)  # (what the plain call would do)
