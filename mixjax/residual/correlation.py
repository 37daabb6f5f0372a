"""Residual correlation structures within groups, named and parametrized as nlme's ``corStruct`` classes.

Each structure gives, for the rows of one group, a correlation matrix ``C`` in its parameters, on nlme's
unconstrained scale (so ``fit.correlation["unconstrained"]`` compares with ``coef(cs, unconstrained = TRUE)``):

* ``corAR1``: ``phi^|t_i - t_j|`` over integer times (default: the row order), ``phi = tanh(x / 2)``.
* ``corCAR1``: ``phi^|t_i - t_j|`` over real times, ``phi = 1 / (1 + exp(-x))`` in (0, 1).
* ``corExp``: ``exp(-|t_i - t_j| / range)``, ``range = exp(x)``; ``nugget=True`` multiplies the off-diagonal by
  ``1 - nugget``, ``nugget = 1 / (1 + exp(-x2))``.
* ``corCompSymm``: ``rho`` off the diagonal, ``rho = (exp(x) - 1 / (m - 1)) / (exp(x) + 1)`` (``m``: the
  largest group).
* ``corSymm``: one correlation per pair of positions (the row order within groups, or an integer covariate),
  ``C = D^{-1/2} L L' D^{-1/2}`` with ``L`` unit lower triangular, its entries free: always a correlation matrix.
* ``corARMA(p, q)``: the autocorrelation of a stationary, invertible ARMA(p, q) at the integer lags between
  positions; AR and MA coefficients from partial autocorrelations ``tanh(x / 2)`` (Durbin-Levinson).

AR(1), CAR(1) and the exponential without nugget are Markov in time: they whiten in O(n) with the previous row of
the group only (``e*_i = (e_i - a_i e_prev) / sqrt(1 - a_i^2)``, ``a_i`` the correlation of the two rows); the
others factor each group's ``m x m`` matrix, O(sum n_i^3).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["corAR1", "corCAR1", "corExp", "corCompSymm", "corSymm", "corARMA", "CORRELATIONS"]


@dataclass(frozen=True)
class _Correlation:
    value: tuple | float = 0.0
    form: str | None = None
    fixed: bool = False
    markov = False

    def n_params(self, m: int) -> int:
        return 1

    def names(self, m: int) -> list[str]:
        return [self.natural_names[0]]

    natural_names = ("Phi",)

    def start(self, m: int) -> np.ndarray:
        return np.atleast_1d(np.asarray(self.unconstrained(np.atleast_1d(self.value), m), dtype=float))

    def natural(self, x, m: int) -> dict:
        return dict(zip(self.names(m), map(float, np.atleast_1d(self.to_natural(np.asarray(x), m)))))


@dataclass(frozen=True)
class corAR1(_Correlation):
    """AR(1) within groups: ``form="~ 1 | g"`` (row order; the default group is the innermost grouping factor of
    the random effects) or ``"~ t | g"`` with integer times ``t``."""

    markov = True
    integer_time = True

    def unconstrained(self, phi, m):
        return np.log((1 + phi) / (1 - phi))

    def to_natural(self, x, m):
        return jnp.tanh(x / 2)

    def lag(self, x, gap, m):
        """``phi^gap`` for whole gaps up to ``m``, by products (smooth at ``phi = 0``, any sign)."""
        powers = jnp.cumprod(jnp.full(m, jnp.tanh(x[0] / 2)))
        return powers[jnp.clip(gap.astype(jnp.int32) - 1, 0, m - 1)]


@dataclass(frozen=True)
class corCAR1(_Correlation):
    """Continuous-time AR(1): ``phi^|t_i - t_j|`` for real times, ``0 < phi < 1``; ``value`` is nlme's 0.2."""

    value: float = 0.2
    markov = True
    integer_time = False

    def unconstrained(self, phi, m):
        return np.log(phi / (1 - phi))

    def to_natural(self, x, m):
        return jax.nn.sigmoid(x)

    def lag(self, x, gap, m):
        return jnp.exp(gap * jax.nn.log_sigmoid(x[0]))


@dataclass(frozen=True)
class corExp(_Correlation):
    """Exponential correlation in time or a distance, ``exp(-d / range)``; ``nugget=True`` adds nlme's nugget:
    ``value=(range, nugget)``. Without a nugget, Markov in a 1-D time."""

    value: tuple | float = ()
    nugget: bool = False
    integer_time = False

    @property
    def markov(self):
        return not self.nugget

    def n_params(self, m):
        return 1 + self.nugget

    def names(self, m):
        return ["range", "nugget"][: self.n_params(m)]

    def start(self, m):
        value = np.atleast_1d(np.asarray(self.value, dtype=float))
        value = value if value.size else np.array([1.0, 0.1])[: self.n_params(m)]
        if value.size != self.n_params(m):
            raise ValueError(f"corExp: value={self.value!r} needs {self.n_params(m)} number(s): range"
                             f"{' and nugget' if self.nugget else ''}.")
        return np.array([np.log(value[0])] + ([np.log(value[1] / (1 - value[1]))] if self.nugget else []))

    def to_natural(self, x, m):
        return jnp.concatenate([jnp.exp(x[:1]), jax.nn.sigmoid(x[1:])])

    def lag(self, x, gap, m):
        return jnp.exp(-gap / jnp.exp(x[0]))

    def matrix(self, x, t, m):
        d = jnp.abs(t[:, :, None] - t[:, None, :])
        scale = 1.0 - jax.nn.sigmoid(x[1]) if self.nugget else 1.0
        return scale * jnp.exp(-d / jnp.exp(x[0]))


def _cs_rho(x, m):
    low = -1.0 / (m - 1)
    return (jnp.exp(x) + low) / (jnp.exp(x) + 1.0)


@dataclass(frozen=True)
class corCompSymm(_Correlation):
    """Compound symmetry: the same correlation ``rho`` between any two rows of a group, ``-1/(m-1) < rho < 1``
    (``m`` the largest group)."""

    natural_names = ("Rho",)
    integer_time = False

    def unconstrained(self, rho, m):
        return np.log((rho + 1.0 / (m - 1)) / (1 - rho))

    def to_natural(self, x, m):
        return _cs_rho(x, m)

    def matrix(self, x, t, m):
        return jnp.broadcast_to(_cs_rho(x[0], m), t.shape[:1] + (t.shape[1],) * 2)


def _unit_lower(x, m):
    L = jnp.eye(m)
    rows, cols = np.tril_indices(m, -1)
    return L.at[rows, cols].set(x)


def _symm(x, m):
    L = _unit_lower(x, m)
    C = L @ L.T
    d = jnp.sqrt(jnp.diagonal(C))
    return C / jnp.outer(d, d)


@dataclass(frozen=True)
class corSymm(_Correlation):
    """A general correlation per pair of positions within groups (``form="~ 1 | g"``: the row order; or an
    integer covariate ``"~ t | g"`` with values 1..m or 0..m-1)."""

    value: tuple = ()
    integer_time = True

    def n_params(self, m):
        return m * (m - 1) // 2

    def names(self, m):
        return [f"cor({i + 1},{j + 1})" for i, j in zip(*np.triu_indices(m, 1))]

    def start(self, m):
        if len(self.value):
            raise ValueError("corSymm: starting values are not supported; leave value out.")
        return np.zeros(self.n_params(m))

    def to_natural(self, x, m):
        return _symm(x, m)[np.triu_indices(m, 1)]

    def matrix(self, x, t, m):
        pos = t.astype(jnp.int32)
        return _symm(x, m)[pos[:, :, None], pos[:, None, :]]


def _solve_small(M, b: list) -> list:
    """``M x = b`` for a small static size by elimination without pivoting (the ARMA system's pivots stay positive
    in the stationary region); plain arithmetic, so no LAPACK call inside the compiled optimizer loop."""
    n = len(b)
    A = [[M[i, j] for j in range(n)] for i in range(n)]
    b = list(b)
    for k in range(n):
        for i in range(k + 1, n):
            f = A[i][k] / A[k][k]
            A[i] = [a - f * c for a, c in zip(A[i], A[k])]
            b[i] = b[i] - f * b[k]
    x = [None] * n
    for i in reversed(range(n)):
        x[i] = (b[i] - sum(A[i][j] * x[j] for j in range(i + 1, n))) / A[i][i]
    return x


def _pacf_to_coef(r):
    """Durbin-Levinson: partial autocorrelations (p,) -> AR coefficients (p,)."""
    phi = jnp.zeros(0)
    for k in range(r.shape[0]):
        phi = jnp.concatenate([phi - r[k] * phi[::-1], r[k : k + 1]])
    return phi


@dataclass(frozen=True)
class corARMA(_Correlation):
    """ARMA(p, q) over integer positions (row order or an integer covariate); ``value``: the p AR then q MA
    coefficients (default 0)."""

    value: tuple = ()
    p: int = 0
    q: int = 0
    integer_time = True

    def n_params(self, m):
        return self.p + self.q

    def names(self, m):
        return [f"Phi{i + 1}" for i in range(self.p)] + [f"Theta{i + 1}" for i in range(self.q)]

    def start(self, m):
        if self.p + self.q == 0:
            raise ValueError("corARMA: give p >= 1 or q >= 1, e.g. corARMA(p=1, q=1).")
        if len(self.value):
            raise ValueError("corARMA: starting values are not supported; leave value out.")
        return np.zeros(self.p + self.q)

    def coefficients(self, x):
        r = jnp.tanh(x / 2)
        return _pacf_to_coef(r[: self.p]), -_pacf_to_coef(r[self.p :])

    def to_natural(self, x, m):
        ar, ma = self.coefficients(x)
        return jnp.concatenate([ar, ma])

    def acf(self, x, n_lags):
        """Autocorrelations at lags 0..n_lags-1, exactly: ``gamma(0..p)`` from the (p+1)-equation system, the
        rest by the AR recursion (``c_h = sum_{j>=h} theta_j psi_{j-h}`` carries the MA part)."""
        ar, ma = self.coefficients(x)
        p, q = self.p, self.q
        theta = [jnp.ones(())] + [ma[j] for j in range(q)]
        psi = [jnp.ones(())]
        for j in range(1, q + 1):
            psi.append(theta[j] + sum(ar[i - 1] * psi[j - i] for i in range(1, min(j, p) + 1)))
        c = [sum(theta[j] * psi[j - h] for j in range(h, q + 1)) for h in range(q + 1)]
        c_at = lambda h: c[h] if h <= q else jnp.zeros(())  # noqa: E731
        M = jnp.eye(p + 1)
        for h in range(p + 1):
            for i in range(1, p + 1):
                M = M.at[h, abs(h - i)].add(-ar[i - 1])
        gamma = _solve_small(M, [c_at(h) for h in range(p + 1)])
        for h in range(p + 1, n_lags):
            gamma.append(sum(ar[i - 1] * gamma[h - i] for i in range(1, p + 1)) + c_at(h))
        gamma = jnp.stack(gamma[:n_lags])
        return gamma / gamma[0]

    def matrix(self, x, t, m):
        lags = jnp.abs(t[:, :, None] - t[:, None, :]).astype(jnp.int32)
        return self.acf(x, m)[lags]


CORRELATIONS = (corAR1, corCAR1, corExp, corCompSymm, corSymm, corARMA)
