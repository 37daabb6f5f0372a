"""Kernels of mixjax.linalg against numpy / scipy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mixjax  # noqa: F401  (float64)
from mixjax.linalg.lapack import cholesky, inverse_from_cholesky
from mixjax.linalg.schur_logdet import schur_logdet, schur_terms
from mixjax.linalg.small import cholesky_small, tril_inverse_small


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_small_kernels_match_numpy(k):
    rng = np.random.default_rng(k)
    A = rng.normal(size=(7, k, k))
    D = A @ A.transpose(0, 2, 1) + np.eye(k)
    L = np.asarray(cholesky_small(jnp.asarray(D)))
    np.testing.assert_allclose(L, np.linalg.cholesky(D), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(tril_inverse_small(jnp.asarray(L))), np.linalg.inv(L), rtol=1e-10, atol=1e-12)


def test_lapack_kernels_match_numpy():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 30))
    S = A @ A.T + np.eye(30)
    L = np.asarray(jax.jit(cholesky)(jnp.asarray(S)))
    np.testing.assert_allclose(L, np.linalg.cholesky(S), rtol=1e-12, atol=1e-12)
    inv = np.tril(np.asarray(jax.jit(inverse_from_cholesky)(jnp.asarray(L))))
    np.testing.assert_allclose(inv, np.tril(np.linalg.inv(S)), rtol=1e-9, atol=1e-15)
    bad = np.asarray(jax.jit(cholesky)(jnp.asarray(-S)))
    assert np.isnan(bad).all()


@pytest.mark.parametrize("qr,p", [(5, 2), (0, 3), (6, 0)])
def test_schur_logdet_rule_equals_autodiff(qr, p):
    rng = np.random.default_rng(qr + p)
    n = qr + p + 1
    A = rng.normal(size=(n, n))
    S = jnp.asarray(A @ A.T + np.eye(n))
    S_lower = jnp.tril(S)  # only the lower triangle is read

    def objective(terms):
        return lambda S: (lambda a, b, c: 0.3 * a + 0.7 * b + 5.0 * jnp.log(c))(*terms(S, qr, p))

    np.testing.assert_allclose(objective(schur_logdet)(S_lower), objective(schur_terms)(S_lower), rtol=1e-12)
    np.testing.assert_allclose(
        jax.grad(objective(schur_logdet))(S_lower), jax.grad(objective(schur_terms))(S_lower), rtol=1e-9, atol=1e-12
    )


def test_hessian_with_many_groups_completes():
    """Forward-over-reverse over >= 10,000 small blocks once hung XLA on the CPU (batched triangular_solve)."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(12_000), 3)
    x = np.tile([0.0, 1.0, 2.0], 12_000)
    b = rng.normal(size=(12_000, 2)) * [1.0, 0.3]
    frame = __import__("pandas").DataFrame(
        {"y": 1 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(size=len(g)), "x": x, "g": g}
    )
    fit = mixjax.lmm("y ~ x + (x | g)", frame)
    assert fit.converged
    assert fit.varcorr["sdcor"].iloc[0] == pytest.approx(1.0, abs=0.1)


def _saddle(scale, xp=np):
    """A saddle on the bound x[1] = 0: no gradient along x[1], whose curvature there is negative."""
    def vgh(x):
        f = 1e-3 * (x[0] - 1.0) ** 2 + scale * (x[1] ** 4 - x[1] ** 2)
        g = xp.stack([2e-3 * (x[0] - 1.0), scale * (4 * x[1] ** 3 - 2 * x[1])])
        return f, g, xp.diag(xp.stack([2e-3 + 0 * x[0], scale * (12 * x[1] ** 2 - 2)]))

    return vgh


@pytest.mark.parametrize("scale", [1.0, 6.4e4])
def test_newton_leaves_a_saddle_on_the_bound(scale):
    """At a bound with no gradient along a direction of negative curvature (a variance at 0 whose deviance is even
    in it), the trust-region step must take the feasible sign. Also when that curvature dwarfs the others, where
    a too small shift of the secular equation once gave 0 / 0 and NaN steps forever."""
    from mixjax.optim.newton import minimize

    sol = minimize(_saddle(scale), np.array([0.0, 0.0]), np.array([-np.inf, 0.0]))
    assert sol.converged
    assert sol.x == pytest.approx([1.0, np.sqrt(0.5)], abs=1e-6)


@pytest.mark.parametrize("scale", [1.0, 6.4e4])
def test_compiled_newton_loop_takes_the_host_drivers_steps(scale):
    """``trust_region.loop`` (one compiled call) and ``newton.minimize`` (the same steps driven from Python) take
    the same iterations to the same point."""
    import jax
    import jax.numpy as jnp

    from mixjax.optim.newton import minimize, solution
    from mixjax.optim.trust_region import loop

    x0, lower = np.array([0.0, 0.0]), np.array([-np.inf, 0.0])
    host = minimize(_saddle(scale), x0, lower)
    vgh = lambda x, aux: (*_saddle(scale, jnp)(x), aux)  # noqa: E731
    compiled = solution(jax.jit(lambda x0: loop(vgh, x0, lower, 1.0)[0])(x0), lower, 300)
    assert compiled.status == host.status and compiled.converged
    assert (compiled.iterations, compiled.evaluations) == (host.iterations, host.evaluations)
    np.testing.assert_allclose(compiled.x, host.x, rtol=1e-12)


def test_compiled_newton_loop_stops_at_max_iter_and_on_a_bad_start():
    import jax
    import jax.numpy as jnp

    from mixjax.optim.newton import solution
    from mixjax.optim.trust_region import loop

    lower = np.array([-np.inf, 0.0])
    vgh = lambda x, aux: (*_saddle(1.0, jnp)(x), aux)  # noqa: E731
    run = jax.jit(lambda x0, n: loop(vgh, x0, lower, 1e-3, max_iter=n)[0])
    stopped = solution(run(np.array([0.0, 0.0]), 2), lower, 2)
    from mixjax.optim.status import Status
    from mixjax.results.status import describe

    assert stopped.status == Status.MAX_ITER and stopped.iterations == 2 and not stopped.converged
    assert describe(stopped.status, stopped.max_iter) == "stopped: 2 iterations without convergence"
    with pytest.raises(ValueError, match="not finite at the start values"):
        solution(run(np.array([np.nan, 0.0]), 300), lower, 300)


def test_cholesky_off_the_cpu_reads_the_lower_triangle(monkeypatch):
    """The jnp branch (GPU) factors the matrix whose lower triangle is given, as LAPACK's potrf does on the CPU."""
    import numpy as np

    from mixjax.linalg import lapack

    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 6))
    S = A @ A.T + 6 * np.eye(6)
    monkeypatch.setattr(lapack, "_on_cpu", lambda: False)
    assert np.asarray(lapack.cholesky(np.tril(S))) == pytest.approx(np.linalg.cholesky(S), rel=1e-12)


def test_host_factor_uses_one_blas_thread_below_all_threads_from(monkeypatch):
    """``_host_potrf_potri`` limits BLAS to one thread for small blocks and leaves all of its threads to a block of
    ``ALL_THREADS_FROM`` columns or more (InstEval's 1,159); the inverse is right either way."""
    import contextlib

    from mixjax.linalg import lapack

    entered = []

    def recording():
        entered.append(True)
        return contextlib.nullcontext()

    monkeypatch.setattr(lapack, "one_thread", recording)
    rng = np.random.default_rng(0)
    for n in (10, lapack.ALL_THREADS_FROM):
        B = rng.standard_normal((n, n))
        S = B @ B.T + n * np.eye(n)
        entered.clear()
        d, inv = lapack._host_potrf_potri(np.tril(S))
        assert entered == ([True] if n < lapack.ALL_THREADS_FROM else [])
        np.testing.assert_allclose(np.tril(inv), np.tril(np.linalg.inv(S)), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(d, np.diagonal(np.linalg.cholesky(S)), rtol=1e-12)
