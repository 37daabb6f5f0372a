"""Stata's banded residual structures as correlation structures within groups, and a wrapper that gives each level
of a factor its own parameters (Stata's ``residuals(..., by(g))``).

* ``corToeplitz(order=k, form="~ t | g")``: Stata's ``toeplitz k``: one correlation ``rho_h`` per lag ``h = 1..k``
  between integer positions ``t`` (within groups), zero beyond lag ``k``. Parametrized by partial autocorrelations
  ``tanh(x_h / 2)`` (the autocorrelations by the Durbin-Levinson recursion), so the ``(k+1) x (k+1)`` Toeplitz
  block is always positive definite; with ``k = m - 1`` (``m`` positions) every stationary correlation is reached and
  the whole matrix is positive definite. For ``k < m - 1`` the zeros beyond lag ``k`` can still make the ``m x m``
  matrix indefinite (``|rho_1| < 1 / (2 cos(pi / (m + 1)))`` for ``k = 1``): there its Cholesky factor, and so the
  deviance, is NaN, which the trust-region optimizer treats as an infinite deviance (the step is refused and the
  region shrinks); the start (``rho = 0``) is always feasible. ``fit.correlation`` reports ``rho1..rhok``, Stata's
  names.
* ``corBanded(order=k, form="~ t | g")``: Stata's ``banded k`` correlation: one correlation per pair of positions
  at most ``k`` apart, zero beyond. ``C = D^{-1/2} L L' D^{-1/2}`` with ``L`` unit lower triangular of bandwidth
  ``k``, its entries free (``corSymm``'s parametrization restricted to the band): ``L L'`` has bandwidth ``k`` and
  every positive-definite banded matrix has such a factor, so ``C`` is always a positive-definite banded
  correlation matrix; ``k = m - 1`` is ``corSymm`` exactly. Stata's own variance per position is
  ``varIdent(form="~ 1 | t")`` beside it (``mixjax.stata`` adds it).
* ``corBy(correlation, by="g")``: ``correlation``'s parameters once per level of the column ``by`` (constant within
  each group of the correlation), named ``name.level``; factored densely per group.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd

from .correlation import CORRELATIONS as NLME_CORRELATIONS
from .correlation import _Correlation
from .forms import Form, group_codes, parse_form

__all__ = ["corToeplitz", "corBanded", "corBy", "CORRELATIONS"]


def _acf_from_pacf(r) -> list:
    """Durbin-Levinson backwards: partial autocorrelations (k,) -> autocorrelations at lags 1..k."""
    phi, rho = [], []
    for a in r:
        v = 1.0 - sum(p * q for p, q in zip(phi, rho))
        rho.append(a * v + sum(p * q for p, q in zip(phi, reversed(rho))))
        phi = [p - a * q for p, q in zip(phi, reversed(phi))] + [a]
    return rho


def _pacf_from_acf(rho: np.ndarray) -> np.ndarray:
    """Durbin-Levinson forwards (numpy): autocorrelations at lags 1..k -> partial autocorrelations."""
    phi, out = np.zeros(0), []
    for n in range(len(rho)):
        v = 1.0 - phi @ rho[:n]
        a = (rho[n] - phi @ rho[:n][::-1]) / v
        out.append(a)
        phi = np.r_[phi - a * phi[::-1], a]
    return np.array(out)


def _check_order(what: str, order, m: int | None = None) -> None:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"{what}: order must be a whole number >= 1 (lags with their own correlation), e.g. "
                         f"{what}(order=1, form='~ t | id'); got {order!r}.")
    if m is not None and order >= m:
        raise ValueError(f"{what}: order {order} needs lags up to {order}, but the time covariate spans {m} "
                         f"positions (lags up to {m - 1}); give order <= {m - 1}.")


@dataclass(frozen=True)
class _Lagged(_Correlation):
    """Structures with an ``order``: lags ``1..order`` have parameters, correlations beyond are zero."""

    value: tuple = ()
    order: int | None = None
    integer_time = True

    def __post_init__(self):
        _check_order(type(self).__name__, self.order)

    def n_params(self, m):
        _check_order(type(self).__name__, self.order, m)
        return self._count(m)


@dataclass(frozen=True)
class corToeplitz(_Lagged):
    """Stata's ``toeplitz k``: a correlation per lag ``1..k`` of integer positions, 0 beyond; ``value``: the k
    correlations to start from (default 0)."""

    def _count(self, m):
        return self.order

    def names(self, m):
        return [f"rho{h}" for h in range(1, self.order + 1)]

    def start(self, m):
        value = np.zeros(self.order) if not len(self.value) else np.asarray(self.value, dtype=float)
        if value.shape != (self.order,):
            raise ValueError(f"corToeplitz: value={self.value!r} needs {self.order} correlation(s), lags 1..order.")
        pacf = _pacf_from_acf(value)
        if not np.all(np.abs(pacf) < 1):
            raise ValueError(f"corToeplitz: value={self.value!r} is not a positive-definite Toeplitz correlation.")
        return np.log((1 + pacf) / (1 - pacf))

    def to_natural(self, x, m):
        return jnp.stack(_acf_from_pacf(list(jnp.tanh(jnp.asarray(x) / 2))))

    def matrix(self, x, t, m):
        acf = jnp.concatenate([jnp.ones(1), self.to_natural(x, m), jnp.zeros(m - 1 - self.order)])
        return acf[jnp.abs(t[:, :, None] - t[:, None, :]).astype(jnp.int32)]


def _band(m: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-major indices ``(i, j)``, ``0 < i - j <= order``, of the band below the diagonal."""
    rows, cols = np.tril_indices(m, -1)
    keep = rows - cols <= order
    return rows[keep], cols[keep]


@dataclass(frozen=True)
class corBanded(_Lagged):
    """Stata's ``banded k`` correlation: one correlation per pair of integer positions at most ``k`` apart, 0
    beyond (with ``varIdent(form="~ 1 | t")`` for Stata's variance per position)."""

    def _count(self, m):
        return len(_band(m, self.order)[0])

    def names(self, m):
        rows, cols = _band(m, self.order)
        return [f"cor({j + 1},{i + 1})" for j, i in sorted(zip(cols, rows))]

    def start(self, m):
        if len(self.value):
            raise ValueError("corBanded: starting values are not supported; leave value out.")
        return np.zeros(self.n_params(m))

    def _full(self, x, m):
        L = jnp.eye(m).at[_band(m, self.order)].set(x)
        C = L @ L.T
        d = jnp.sqrt(jnp.diagonal(C))
        return C / jnp.outer(d, d)

    def to_natural(self, x, m):
        rows, cols = _band(m, self.order)
        upper = sorted(zip(cols, rows))
        return self._full(jnp.asarray(x), m)[tuple(np.array(upper).T)]

    def matrix(self, x, t, m):
        pos = t.astype(jnp.int32)
        return self._full(x, m)[pos[:, :, None], pos[:, None, :]]


def _matrix(cor, x, t, m):
    """Any structure's matrix over the padded positions ``t`` (G, width): Markov ones from their lag function (the
    diagonal and the padding are overwritten by ``whiten``)."""
    if hasattr(cor, "matrix"):
        return cor.matrix(x, t, m)
    return cor.lag(x, jnp.abs(t[:, :, None] - t[:, None, :]), m)


@dataclass(frozen=True)
class corBy:
    """``correlation``'s parameters once per level of the column ``by``, which must be constant within each group
    of the correlation (Stata's ``residuals(type, t(t) by(g))``). ``levels`` and ``group_levels`` (the level of
    each group) are set when bound to the rows of a fit."""

    correlation: object
    by: str
    levels: tuple = ()
    group_levels: tuple = ()
    markov = False

    def __post_init__(self):
        if not isinstance(self.correlation, NLME_CORRELATIONS + (corToeplitz, corBanded)):
            raise ValueError(f"corBy: {self.correlation!r} is not a correlation structure (corAR1, corSymm, ...).")
        if not isinstance(self.by, str) or not self.by:
            raise ValueError(f"corBy: by must name a column of the data, got {self.by!r}.")

    @property
    def form(self):
        return self.correlation.form

    @property
    def fixed(self):
        return self.correlation.fixed

    @property
    def integer_time(self):
        return self.correlation.integer_time

    def data_columns(self, data: pd.DataFrame) -> set[str]:
        if self.by not in data.columns:
            raise ValueError(f"corBy: the column {self.by!r} of by= is not in the data; the data has columns "
                             f"{', '.join(map(str, data.columns))}.")
        return {self.by}

    def bound_to(self, frame: pd.DataFrame, default_group: str | None) -> corBy:
        """The structure with the levels of ``by`` and each correlation group's level (groups numbered as
        ``bind`` numbers them: in order of appearance)."""
        self.data_columns(frame)
        form = parse_form(self.form or "~ 1", "corBy")
        form = form if form.group or default_group is None else Form(form.covariate, default_group)
        codes = group_codes(frame, form.group)
        strata, levels = pd.factorize(frame[self.by].astype(str), sort=True)
        per_group = pd.Series(strata).groupby(codes).agg(["min", "max"])
        if (per_group["min"] != per_group["max"]).any():
            raise ValueError(f"corBy: {self.by!r} must be constant within each group of the correlation "
                             f"({form.group}); a group holds several of its levels.")
        return dataclasses.replace(self, levels=tuple(map(str, levels)),
                                   group_levels=tuple(int(v) for v in per_group["min"]))

    def _split(self, x, m):
        k = self.correlation.n_params(m)
        return [x[i * k : (i + 1) * k] for i in range(len(self.levels))]

    def n_params(self, m):
        return len(self.levels) * self.correlation.n_params(m)

    def names(self, m):
        return [f"{n}.{lev}" for lev in self.levels for n in self.correlation.names(m)]

    def start(self, m):
        return np.tile(self.correlation.start(m), len(self.levels))

    def natural(self, x, m) -> dict:
        values = [np.atleast_1d(self.correlation.to_natural(np.asarray(p), m)) for p in self._split(x, m)]
        return dict(zip(self.names(m), map(float, np.concatenate(values))))

    def matrix(self, x, t, m):
        strata = jnp.asarray(self.group_levels)[:, None, None]
        out = jnp.zeros(t.shape + t.shape[-1:])
        for s, part in enumerate(self._split(x, m)):
            out = jnp.where(strata == s, _matrix(self.correlation, part, t, m), out)
        return out


CORRELATIONS = NLME_CORRELATIONS + (corToeplitz, corBanded, corBy)
