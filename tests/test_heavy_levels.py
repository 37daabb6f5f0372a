"""Heavy levels (``crossprod.heavy_levels``): where listing every pair of coupling entries would exceed the pair
budget, the levels of term 1 with the most entries are kept as dense coupling rows. The deviance, its derivatives,
the estimates and the cross-products for new weights must be those of the listed pairs."""
import numpy as np
import pandas as pd
import pytest

from mixjax.design import build
from mixjax.linalg.crossprod import crossproducts, heavy_levels
from mixjax.objectives.lmm import make_lmm, value_grad, value_grad_hess
from mixjax.objectives.lmm_estimates import estimates


@pytest.fixture(scope="module")
def ratings():
    """Users x movies with a few users rating far more movies than the rest."""
    rng = np.random.default_rng(1)
    n = 3000
    user = np.where(rng.random(n) < 0.3, rng.integers(0, 5, n), rng.integers(0, 120, n))
    movie = rng.integers(0, 400, n)
    x = rng.standard_normal(n)
    y = 0.5 * x + 0.3 * np.sin(user) + 0.2 * np.cos(movie) + rng.standard_normal(n)
    return pd.DataFrame(dict(y=y, x=x, user=user.astype(str), movie=movie.astype(str)))


def _pair(df, formula):
    """(objective with every pair listed, objective whose budget leaves a third of them)."""
    design = build(formula, df)
    full = make_lmm(design, reml=True)
    counts = np.bincount(np.asarray(full.data.eg), minlength=full.data.D0.shape[0])
    budget = int(np.sum(counts * (counts + 1) // 2) // 3)
    return full, make_lmm(design, reml=True, cp=crossproducts(design, budget))


def test_heavy_levels_rule():
    counts = np.array([3, 40, 5, 12, 40, 1])
    pairs = counts * (counts + 1) // 2
    assert len(heavy_levels(counts, qr=1000, budget=int(pairs.sum()))) == 0  # all fit: nothing heavy
    # the most-rated levels first, as few as leave at most the budget (ties: the first)
    np.testing.assert_array_equal(heavy_levels(counts, qr=1000, budget=int(pairs.sum()) - 1), [1])
    np.testing.assert_array_equal(heavy_levels(counts, qr=1000, budget=100), [1, 4])  # 6 + 15 + 78 + 1 pairs left
    np.testing.assert_array_equal(heavy_levels(counts, qr=1000, budget=99), [1, 3, 4])
    # over budget, every level with more than qr / 8 entries is dense too
    np.testing.assert_array_equal(heavy_levels(counts, qr=40, budget=int(pairs.sum()) - 1), [1, 3, 4])


@pytest.mark.parametrize("formula", ["y ~ x + (1 | user) + (1 | movie)", "y ~ x + (1 + x | user) + (1 | movie)"])
def test_heavy_levels_change_no_value_derivative_or_estimate(ratings, formula):
    full, heavy = _pair(ratings, formula)
    assert 0 < len(heavy.data.hg) < full.data.D0.shape[0] and len(heavy.data.pg) < len(full.data.pg) / 3
    theta = np.asarray(full.start) + 0.1
    f0, g0 = value_grad(theta, full.data, full.spec)  # all-scalar terms: the hand-derived pass
    f1, g1 = value_grad(theta, heavy.data, heavy.spec)
    assert float(f1) == pytest.approx(float(f0), rel=1e-13)
    np.testing.assert_allclose(g1, g0, rtol=1e-10, atol=1e-9)
    vgh0, vgh1 = value_grad_hess(theta, full.data, full.spec), value_grad_hess(theta, heavy.data, heavy.spec)
    for a, b in zip(vgh0, vgh1):  # autodiff through the blocked system
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-9)
    e0, e1 = estimates(theta, full.data, full.spec), estimates(theta, heavy.data, heavy.spec)
    np.testing.assert_allclose(e1.beta, e0.beta, rtol=1e-11)
    np.testing.assert_allclose(e1.vcov, e0.vcov, rtol=1e-10)
    for b0, b1 in zip(e0.b, e1.b):
        np.testing.assert_allclose(b1, b0, rtol=1e-9, atol=1e-12)


def test_new_weights_keep_the_heavy_levels_dense(ratings):
    full, heavy = _pair(ratings, "y ~ x + (1 | user) + (1 | movie)")
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(ratings))
    theta = np.asarray(full.start) + 0.1
    f0 = full.fn(theta, full.data_with(weights=w))
    f1 = heavy.fn(theta, heavy.data_with(weights=w))
    assert float(f1) == pytest.approx(float(f0), rel=1e-13) and float(f0) != pytest.approx(float(full.deviance(theta)))


def test_residual_structures_refuse_heavy_levels(ratings):
    from mixjax.objectives.lmm_residual import make_residual

    _, heavy = _pair(ratings, "y ~ x + (1 | user) + (1 | movie)")
    with pytest.raises(ValueError, match="residual structures are not available.*default residuals"):
        make_residual(heavy, None, None)


def test_int64_flat_indices_give_the_same_fit(ratings, monkeypatch):
    """A dense block of more than 46,340 columns indexes its pairs' targets in int64 (``crossprod.index_dtype``):
    forced here on a small model, the deviance, gradient and Hessian (hand-derived and autodiff passes) and the
    cross-products built on the device are those of the int32 indices."""
    from mixjax.linalg import crossprod

    design = build("y ~ x + (1 | user) + (1 | movie)", ratings)
    small = make_lmm(design, reml=True)
    monkeypatch.setattr(crossprod, "INT32_INDEX_BELOW", 0)
    wide = make_lmm(design, reml=True)
    assert small.data.ptarget.dtype == np.int32 and wide.data.ptarget.dtype == np.int64
    np.testing.assert_array_equal(np.asarray(wide.data.ptarget), np.asarray(small.data.ptarget))
    theta = np.asarray(small.start) + 0.1
    for fn in (value_grad, value_grad_hess):
        for a, b in zip(fn(theta, small.data, small.spec), fn(theta, wide.data, wide.spec)):
            np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    cp = crossproducts(design)
    r = crossprod.rows(design, cp)
    qr = cp.A_low.shape[0] - design.X.shape[1] - 1
    device = crossprod.device_crossproducts(r, cp.D0.shape[0], qr, len(cp.eg))
    np.testing.assert_allclose(np.asarray(device[1]), cp.A_low, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("keep_g", [True, False])
def test_heavy_levels_in_blocks_give_the_same_value_and_gradient(ratings, monkeypatch, keep_g):
    """The heavy levels' dense rows are built and multiplied ``HEAVY_BLOCK_BYTES`` at a time (blocks of rows and of
    output columns; ml-32m's would be 79 GB at once): forced to a few rows and columns per block (the last block of
    each partial), the scalar pass gives the one-block value and gradient, keeping ``G`` or not."""
    from functools import partial

    import jax

    from mixjax.objectives import lmm_scalar

    full, heavy = _pair(ratings, "y ~ x + (1 | user) + (1 | movie)")
    theta = np.asarray(full.start) + 0.1
    n_heavy, qr = len(heavy.data.hg), heavy.spec.qr
    if not keep_g:
        monkeypatch.setattr(lmm_scalar, "KEEP_G_BELOW", 0)
    f0, g0 = jax.jit(partial(lmm_scalar.value_grad, spec=heavy.spec))(theta, heavy.data)
    rows = max(1, n_heavy // 3 - 1)
    monkeypatch.setattr(lmm_scalar, "HEAVY_BLOCK_BYTES", 8 * qr * rows)
    assert lmm_scalar._heavy_blocks(heavy.data, qr) == (rows, rows, -(-n_heavy // rows)) and n_heavy % rows
    f1, g1 = jax.jit(partial(lmm_scalar.value_grad, spec=heavy.spec))(theta, heavy.data)
    assert float(f1) == pytest.approx(float(f0), rel=1e-13)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g0), rtol=1e-11, atol=1e-10)
    f2, g2 = value_grad(theta, full.data, full.spec)  # every pair listed
    assert float(f1) == pytest.approx(float(f2), rel=1e-13)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(g2), rtol=1e-10, atol=1e-9)
