"""Covariance structures (mixjax.covariance): the covariance each factor gives, derivatives on the bounds, the
protocol's bookkeeping and ``structure``'s errors. No model is fitted."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mixjax.covariance as cv  # importing mixjax turns on float64

M3 = [[4.0, 1.0, 0.5], [1.0, 3.0, -0.2], [0.5, -0.2, 2.0]]
P4 = [[1, 3, 4, 4], [3, 1, 4, 4], [4, 4, 2, 5], [4, 4, 5, 2]]
ALL = [cv.Unstructured(3), cv.Diagonal(3), cv.HomogeneousDiagonal(3), cv.CompoundSymmetry(3),
       cv.CompoundSymmetry(4, True), cv.AR1(4), cv.Toeplitz(4), cv.Known(M3), cv.Pattern(P4)]


def cov(s, theta):
    T = np.asarray(s.factor(np.asarray(theta, dtype=float)))
    return T @ T.T


def test_diagonal():
    assert np.allclose(cov(cv.Diagonal(3), [1.0, 0.0, 2.5]), np.diag([1.0, 0.0, 6.25]))
    assert np.allclose(cov(cv.HomogeneousDiagonal(3), [1.5]), 2.25 * np.eye(3))
    assert cv.Diagonal(2).natural([1.0, 2.0], ("a", "b")) == {"sd_a": 1.0, "sd_b": 2.0}


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("x", [-30.0, -1.0, 0.3, 2.0, 40.0])
def test_compound_symmetry(k, x):
    s = cv.CompoundSymmetry(k)
    sd = np.arange(1.0, k + 1)
    rho = s.natural(np.r_[sd, x])["rho"]
    assert -1 / (k - 1) <= rho <= 1  # the ends only where rounding reaches them (|x| large)
    R = (1 - rho) * np.eye(k) + rho
    assert np.allclose(cov(s, np.r_[sd, x]), np.outer(sd, sd) * R, atol=1e-12)
    h = cv.CompoundSymmetry(k, homogeneous=True)
    assert np.allclose(cov(h, [2.0, x]), 4 * R, atol=1e-12)
    assert h.natural([2.0, x]) == {"sd": 2.0, "rho": rho}
    assert np.allclose(np.asarray(s.factor(s.start())), np.eye(k), atol=1e-15)  # rho = 0 at the start


@pytest.mark.parametrize("x", [-3.0, -0.4, 0.0, 0.7, 50.0])
def test_ar1(x):
    s, k = cv.AR1(5), 5
    phi = s.natural([1.5, x])["phi"]
    lag = np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    assert np.allclose(cov(s, [1.5, x]), 2.25 * phi**lag, atol=1e-12)
    assert np.allclose(np.asarray(s.factor(s.start())), np.eye(k))


def pacf_of(r):
    """Partial autocorrelations of lag correlations r (r[0] = 1), by Levinson's recursion (numpy)."""
    phi, v, out = np.zeros(0), 1.0, []
    for n in range(1, len(r)):
        p = (r[n] - phi @ r[n - 1 : 0 : -1]) / v
        phi, v = np.r_[phi - p * phi[::-1], p], v * (1 - p * p)
        out.append(p)
    return np.array(out)


@pytest.mark.parametrize("seed", range(5))
def test_toeplitz(seed):
    rng = np.random.default_rng(seed)
    k = 6
    sd, x = rng.uniform(0.5, 2, k), rng.normal(0, 1.5, k - 1)
    s = cv.Toeplitz(k)
    R = cov(s, np.r_[sd, x]) / np.outer(sd, sd)
    r = R[0]
    assert np.allclose(R, r[np.abs(np.subtract.outer(np.arange(k), np.arange(k)))])  # Toeplitz
    assert np.linalg.eigvalsh(R)[0] > 0
    assert np.allclose(pacf_of(r), x / np.sqrt(1 + x * x))  # Durbin-Levinson, inverted
    nat = s.natural(np.r_[sd, x])
    assert np.allclose([nat[f"lag{m}"] for m in range(1, k)], r[1:])
    assert np.allclose(cov(s, np.r_[sd, 0.8, np.zeros(k - 2)]) / np.outer(sd, sd), cv.AR1(k).factor([1.0, 0.8]) @
                       cv.AR1(k).factor([1.0, 0.8]).T)  # one nonzero partial autocorrelation: AR(1)


def test_known():
    assert np.allclose(cov(cv.Known(M3), []), M3)
    assert cv.Known(np.array(M3)) == cv.Known(M3) and cv.Known(M3).k == 3
    with pytest.raises(ValueError, match="positive definite"):
        cv.Known([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="symmetric"):
        cv.Known([[1.0, 0.5], [0.0, 1.0]])


def test_pattern():
    s = cv.Pattern(P4)
    theta = np.array([1.5, 2.0, 0.4, -0.3, 0.6])  # sd_1, sd_2, cov_3, cov_4, cov_5
    C = cov(s, theta)
    P = np.array(P4)
    for m in np.unique(P):
        assert np.allclose(C[P == m], C[P == m][0])
    assert np.allclose(np.diag(C), [2.25, 2.25, 4.0, 4.0]) and np.isclose(C[0, 2], -0.3)
    assert np.isnan(np.asarray(s.factor([1.0, 1.0, 2.0, 0.0, 0.0]))[1, 1])  # |cov| > sd^2: not PSD, NaN
    assert s.names("g", ()) == ["g.sd_1", "g.sd_2", "g.cov_3", "g.cov_4", "g.cov_5"]
    with pytest.raises(ValueError, match="not both"):
        cv.Pattern([[1, 1], [1, 1]])
    with pytest.raises(ValueError, match="symmetric"):
        cv.Pattern([[1, 2], [3, 1]])


def boundary(s):
    """start() with the first SD (first parameter with lower bound 0) set to 0."""
    theta = s.start().astype(float)
    zero = np.flatnonzero(s.lower() == 0)
    theta[zero[:1]] = 0.0
    return theta


@pytest.mark.parametrize("s", ALL, ids=repr)
def test_hessian_finite(s):
    w = np.random.default_rng(0).normal(size=(s.k, s.k))
    f = lambda th: jnp.sum(w * s.factor(th)) + jnp.sum(s.factor(th) ** 2) ** 2
    hessian = jax.jit(jax.hessian(f))
    for theta in (s.start(), boundary(s), np.asarray(s.start(), dtype=float) + 0.3):
        assert np.all(np.isfinite(np.asarray(s.factor(theta))))
        assert np.all(np.isfinite(hessian(jnp.asarray(theta, dtype=float))))


@pytest.mark.parametrize("s", ALL, ids=repr)
def test_protocol(s):
    cnames = tuple(f"c{i}" for i in range(s.k))
    assert isinstance(s, cv.Covariance)
    assert len(s.names("g", cnames)) == s.n_theta == len(s.lower()) == len(s.start())
    assert np.all(s.start() >= s.lower())
    assert s.reflect_zero_columns(s.start(), np.ones(s.n_theta)) is None or isinstance(s, cv.Unstructured)
    assert hash(s) == hash(type(s)(**vars(s))) and s == type(s)(**vars(s))
    assert np.asarray(s.factor(s.start())).shape == (s.k, s.k)
    assert all(isinstance(v, float) for v in s.natural(s.start()).values())
    assert jax.jit(s.factor)(s.start()).shape == (s.k, s.k)


def test_unstructured_natural():
    s = cv.Unstructured(2)
    nat = s.natural([2.0, 1.0, 1.0], ("a", "b"))
    assert np.isclose(nat["sd_a"], 2.0) and np.isclose(nat["sd_b"], np.sqrt(2)) and np.isclose(nat["rho_b.a"], 2 / np.sqrt(8))
    assert np.isnan(s.natural([0.0, 1.0, 1.0])["rho_1.0"])


def test_structure_names():
    assert cv.structure("US", 2) == cv.Unstructured(2)
    assert cv.structure("independent", 3) == cv.structure("diag", 3) == cv.Diagonal(3)
    assert cv.structure("identity", 2) == cv.HomogeneousDiagonal(2)
    assert cv.structure("exchangeable", 3) == cv.structure("homcs", 3) == cv.CompoundSymmetry(3, homogeneous=True)
    assert cv.structure("cs", 3) == cv.CompoundSymmetry(3)
    assert cv.structure("toeplitz", 3) == cv.Toeplitz(3) and cv.structure("ar1", 2) == cv.AR1(2)
    assert cv.structure("fixed", 3, M3) == cv.Known(M3) and cv.structure("pattern", 4, P4) == cv.Pattern(P4)
    assert cv.structure(cv.AR1(3), 3) == cv.AR1(3)
    assert len({cv.AR1(3), cv.AR1(3), cv.AR1(4)}) == 2


def test_structure_errors():
    with pytest.raises(ValueError, match="unknown covariance structure 'arma'.*ar1"):
        cv.structure("arma", 2)
    for name in ("ar1", "toep", "cs", "homcs"):
        with pytest.raises(ValueError, match=rf"{name}\(\.\.\.\) needs a term with at least 2 columns, such as"):
            cv.structure(name, 1)
    with pytest.raises(ValueError, match=r"M must be 2 x 2"):
        cv.structure("fixed", 2, M3)
    with pytest.raises(ValueError, match=r"needs a 2 x 2 matrix"):
        cv.structure("pattern", 2)
    with pytest.raises(ValueError, match="has 3 columns but the term has 2"):
        cv.structure(cv.AR1(3), 2)
    with pytest.raises(TypeError):
        cv.structure(3, 2)
