"""The hand-derived value and gradient of ``mixjax.objectives.lmm_scalar`` (designs whose random-effects terms all
have one column, e.g. InstEval's crossed intercepts) against reverse-mode differentiation of the general blocked
deviance (``schur_logdet``'s rule) and against plain autodiff."""
from functools import partial

import jax
import numpy as np
import pandas as pd
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


@pytest.mark.parametrize("reml", [True, False])
def test_large_block_gradient_from_the_pieces_equals_keeping_g(reml, monkeypatch):
    """From ``KEEP_G_BELOW`` columns the gradient takes ``G``'s part from ``A_rr`` and the coupling's pairs, heavy
    levels and rows of X and y instead of keeping ``G`` (forced here on small models: crossed with heavy levels,
    nested, no fixed effects): the same value and gradient, and one dense ``nr x nr`` array fewer in the compiled
    program (XLA's buffer assignment)."""
    from mixjax.linalg import crossprod

    rng = np.random.default_rng(5)
    n = 4000
    user, movie = np.minimum(rng.zipf(1.4, n), 200), rng.integers(0, 300, n)
    ratings = pd.DataFrame(dict(y=rng.standard_normal(n), x=rng.standard_normal(n), user=user.astype(str),
                                movie=movie.astype(str))).drop_duplicates(["user", "movie"])
    design = mixjax.build_design("y ~ x + (1 | user) + (1 | movie)", ratings)
    heavy = mixjax.make_lmm(design, reml=reml, cp=crossprod.crossproducts(design, 2000))
    assert len(heavy.data.hg) > 0
    wide = ratings.assign(movie=rng.integers(0, 1500, len(ratings)).astype(str), user=rng.integers(0, 4000, len(
        ratings)).astype(str))  # a dense block of about 1,300 columns, few pairs: its copies dominate the memory
    light = mixjax.make_lmm(mixjax.build_design("y ~ x + (1 | user) + (1 | movie)", wide), reml=reml)
    assert len(light.data.hg) == 0 and light.spec.qr > 1000
    objectives = [heavy, light, _objective("Pastes", "strength ~ 1 + (1 | batch/cask)", None, reml),
                  _objective("Penicillin", "diameter ~ 0 + (1 | plate) + (1 | sample)", None, reml)]
    temp, default = {}, lmm_scalar.KEEP_G_BELOW
    for obj in objectives:
        theta = np.linspace(0.4, 1.1, len(obj.lower))
        out = []
        for keep in (default, 0):
            monkeypatch.setattr(lmm_scalar, "KEEP_G_BELOW", keep)
            fn = partial(lmm_scalar.value_grad, spec=obj.spec)  # a new function: traced anew under ``keep``
            compiled = jax.jit(fn).lower(theta, obj.data).compile()
            out.append(compiled(theta, obj.data))
            temp[id(obj), keep] = compiled.memory_analysis().temp_size_in_bytes
        (f0, g0), (f1, g1) = out
        assert float(f1) == pytest.approx(float(f0), rel=1e-13)
        np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=1e-10, atol=1e-9)
    saved = temp[id(light), default] - temp[id(light), 0]
    assert saved > 0.5 * light.spec.nr**2 * 8, (saved, light.spec.nr)
