"""Residual structures bound to the rows of a fit (host side, numpy), and the whitening they define (JAX).

``bind(correlation, variance, frame, default_group, terms)`` checks the structures against the rows used and
returns a ``Bound`` (static, hashable: part of the compiled programs' structure) and ``Arrays`` (the per-row data).
``whiten(x, E, arrays, bound)`` maps the columns ``E`` (n, c) of ``[X y Z]`` to ``Lambda^{-1/2} E`` where the
residual covariance is ``sigma^2 Lambda``, ``Lambda = S C S`` (``S``: the variance function's SDs, ``C``: the
block-diagonal correlation), and returns ``log|Lambda|`` beside them.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.linalg import solve_triangular

from ..linalg.lapack import one_by_one
from .banded import CORRELATIONS  # nlme's and Stata's (banded.py)
from .forms import Form, check_columns, columns_of, covariate, group_codes, parse_form
from .variance import VARIANCES, varComb

__all__ = ["Bound", "Arrays", "bind", "whiten", "log_sd", "form_columns"]

MAX_GROUP = 2000  # largest group a dense correlation matrix is factored for


class Bound(NamedTuple):
    correlation: object | None
    markov: bool
    m: int  # positions (corSymm, corARMA) or the largest group (corCompSymm)
    width: int  # the largest group: padded width of the dense path
    n_corr: int
    variances: tuple  # (varFunc, strata labels) per function
    fitted: bool  # some variance function reads the fitted values

    @property
    def n_var(self) -> int:
        return sum(f.n_params(len(strata)) for f, strata in self.variances)

    @property
    def n_params(self) -> int:
        return self.n_corr + self.n_var

    @property
    def names(self) -> list[str]:
        out = [f"corStruct.{n}" for n in self.correlation.names(self.m)] if self.correlation else []
        return out + [f"varStruct.{n}" for f, strata in self.variances for n in f.names(strata)]


class Arrays(NamedTuple):
    prev: np.ndarray  # (n,) the previous row of the group in time (Markov path; the row itself for the first)
    gap: np.ndarray  # (n,) time since that row (0 for the first)
    index: np.ndarray  # (G, width) rows of each group, padded with n (dense path)
    time: np.ndarray  # (G, width) their times or positions
    covariates: tuple  # (n,) per variance function
    strata: tuple  # (n,) int per variance function
    fitted: np.ndarray  # (n,) the fitted values read by ``fitted(.)`` covariates


def _variances(variance) -> tuple:
    if variance is None:
        return ()
    parts = variance.parts if isinstance(variance, varComb) else (variance,)
    for f in parts:
        if not isinstance(f, VARIANCES):
            raise ValueError(f"weights={f!r}: a variance function is one of {', '.join(c.__name__ for c in VARIANCES)}"
                             " (or varComb of them), e.g. mixjax.varIdent(form='~ 1 | Sex').")
    return parts


def form_columns(correlation, variance, data: pd.DataFrame) -> tuple[str, ...]:
    """The data columns the structures' forms read, each checked to be in ``data`` (before any work)."""
    if correlation is not None and not isinstance(correlation, CORRELATIONS):
        raise ValueError(f"correlation={correlation!r}: a correlation structure is one of "
                         f"{', '.join(c.__name__ for c in CORRELATIONS)}, e.g. mixjax.corAR1(form='~ 1 | Subject').")
    out = set()
    for s in ([correlation] if correlation is not None else []) + list(_variances(variance)):
        if s.form is not None:
            form = parse_form(s.form, type(s).__name__)
            check_columns(form, data, type(s).__name__)
            out |= columns_of(form)
    if hasattr(correlation, "data_columns"):  # corBy: its by= column
        out |= correlation.data_columns(data)
    return tuple(sorted(out))


def _check_nested(codes: np.ndarray, terms, what: str) -> None:
    """Rows of one correlation group must share the level of every random-effects term (the whitened rows then
    keep the terms' pattern)."""
    first = np.zeros(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
    for t in terms:
        term_codes = np.asarray(t.codes, dtype=np.int64)
        first[codes] = term_codes  # some row's level per group: every row of the group must have it
        if np.any(first[codes] != term_codes):
            raise ValueError(f"{what}: its groups must lie within the levels of every grouping factor of the random "
                             f"effects, but a group spans several levels of {t.factor!r}; group the correlation by "
                             f"{t.factor!r} or a factor nested in it (form='~ ... | {t.factor}').")


def _correlation_arrays(cor, frame: pd.DataFrame, default_group, terms):
    what = type(cor).__name__
    form = parse_form(cor.form or "~ 1", what)
    form = form if form.group or default_group is None else Form(form.covariate, default_group)
    check_columns(form, frame, what)
    codes = group_codes(frame, form.group)
    _check_nested(codes, terms, what)
    t = covariate(frame, form, what)
    order = np.lexsort((t, codes))
    sorted_codes, sorted_t = codes[order], t[order]
    same = np.r_[False, sorted_codes[1:] == sorted_codes[:-1]]
    if np.any(same & (np.diff(sorted_t, prepend=np.nan) == 0)):
        g = sorted_codes[np.flatnonzero(same & (np.diff(sorted_t, prepend=np.nan) == 0))[0]]
        raise ValueError(f"{what}: the time {form.covariate!r} repeats within a group (group {g + 1} in order of "
                         "appearance); times must be distinct within each group of the correlation's form.")
    if cor.integer_time and np.any(t != np.round(t)):
        raise ValueError(f"{what}: its covariate {form.covariate!r} must hold whole numbers (positions); for real "
                         "times use corCAR1 or corExp.")
    n = len(frame)
    prev = np.arange(n)
    prev[order[1:][same[1:]]] = order[:-1][same[1:]]
    gap = np.where(prev != np.arange(n), t - t[prev], 0.0)
    sizes = np.bincount(codes)
    width = int(sizes.max())
    index, time = np.full((len(sizes), width), n), np.zeros((len(sizes), width))
    position = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    index[sorted_codes, position] = order
    if cor.integer_time:
        sorted_t = sorted_t - sorted_t.min()
    time[sorted_codes, position] = sorted_t
    m = int(time.max()) + 1 if cor.integer_time else width
    m = max(m, int(np.max(gap, initial=0)) + 1)
    if width < 2:
        raise ValueError(f"{what}: every group of its form has one row; a correlation needs groups with several.")
    if not cor.markov and width > MAX_GROUP:
        raise ValueError(f"{what}: a group has {width} rows, more than the {MAX_GROUP} a dense correlation is "
                         "factored for; group the correlation by a finer factor.")
    if type(cor).__name__ == "corSymm" and m > width:
        raise ValueError(f"corSymm: its covariate has {m} positions but no group has more than {width} rows; "
                         "give positions 1..m within groups.")
    return (prev, gap, index, time), m, width


def bind(correlation, variance, frame: pd.DataFrame, default_group: str | None, terms) -> tuple[Bound, Arrays]:
    n = len(frame)
    if hasattr(correlation, "bound_to"):  # corBy: the level of each group
        correlation = correlation.bound_to(frame, default_group)
    if correlation is not None:
        (prev, gap, index, time), m, width = _correlation_arrays(correlation, frame, default_group, terms)
        n_corr = correlation.n_params(m)
    else:
        prev, gap, index, time, m, width, n_corr = np.arange(n), np.zeros(n), np.zeros((0, 1), int), \
            np.zeros((0, 1)), 0, 1, 0
    covs, strata, labels, fitted = [], [], [], False
    for f in _variances(variance):
        what = type(f).__name__
        form = parse_form(f.form, what)
        check_columns(form, frame, what)
        if type(f).__name__ != "varIdent":
            fitted |= form.covariate == "fitted(.)"
            covs.append(np.zeros(n) if form.covariate == "fitted(.)" else covariate(frame, form, what))
        else:
            if form.group is None:
                raise ValueError("varIdent: its form needs a grouping factor, e.g. varIdent(form='~ 1 | Sex').")
            covs.append(np.zeros(n))
        codes, uniques = pd.factorize(frame[form.group].astype(str)) if form.group else (np.zeros(n, int), ["all"])
        strata.append(codes.astype(np.int32))
        labels.append(tuple(map(str, uniques)))
    bound = Bound(correlation, bool(correlation is not None and correlation.markov), m, width, n_corr,
                  tuple(zip(_variances(variance), labels)), fitted)
    return bound, Arrays(prev, gap, index, time, tuple(covs), tuple(strata), np.ones(n))


def log_sd(x, arrays: Arrays, bound: Bound):
    """(n,) log of the variance function's SD multipliers at its parameters ``x``."""
    out, start = jnp.zeros(arrays.prev.shape[0]), 0
    for (f, strata), v, s in zip(bound.variances, arrays.covariates, arrays.strata):
        k = f.n_params(len(strata))
        v = arrays.fitted if f.form.replace(" ", "").startswith("~fitted(.)") else v
        out = out + f.log_sd(x[start : start + k], v, s)
        start += k
    return out


def whiten(x, E, arrays: Arrays, bound: Bound):
    """``(Lambda^{-1/2} E, log|Lambda|)`` at the residual parameters ``x`` (correlation first)."""
    ls = log_sd(x[bound.n_corr :], arrays, bound)
    E = E * jnp.exp(-ls)[:, None]
    log_det = 2.0 * jnp.sum(ls)
    cor, xc = bound.correlation, x[: bound.n_corr]
    if cor is None:
        return E, log_det
    if bound.markov:
        a = jnp.where(arrays.gap > 0, cor.lag(xc, arrays.gap, bound.m), 0.0)
        scale = jnp.sqrt(1.0 - a**2)
        return (E - a[:, None] * E[arrays.prev]) / scale[:, None], log_det + 2.0 * jnp.sum(jnp.log(scale))
    n = E.shape[0]
    real = arrays.index < n
    C = cor.matrix(xc, jnp.asarray(arrays.time), bound.m)
    C = jnp.where(real[:, :, None] & real[:, None, :], C, 0.0)
    C = jnp.where(jnp.eye(bound.width, dtype=bool), 1.0, C)
    G = jnp.concatenate([E, jnp.zeros((1, E.shape[1]), E.dtype)])[arrays.index]

    def solve(C, G):  # the groups' whitened rows and the logs of their factors' diagonals
        L = jax.lax.linalg.cholesky(C, symmetrize_input=False)
        return solve_triangular(L, G, lower=True), jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1))

    W, log_diag = one_by_one(solve, C, G)  # no batched LAPACK call on the CPU (``one_by_one``)
    out = jnp.zeros((n + 1, E.shape[1]), E.dtype).at[arrays.index].set(W)[:n]
    return out, log_det + 2.0 * jnp.sum(log_diag)
