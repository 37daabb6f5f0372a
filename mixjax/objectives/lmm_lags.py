"""Markov residual correlations (corAR1, corCAR1, corExp without nugget) with no variance function: the whitened
cross-products as fixed combinations of lag statistics, summed over the rows once per fit.

Whitening replaces row ``e_i`` (``[X y Z]`` times ``sqrt(w_i)``) by ``(e_i - a p_i) / sqrt(1 - a^2)``, ``p_i`` the
previous row of its group in time and ``a`` the correlation at their gap; the first row of a group stays. With
``ee' - a (ep' + pe') + a^2 pp' = (1 + a) ee' - a (e + p)(e + p)' + (a + a^2) pp'``, every cross-product the
deviance reads (``D0``, ``A``, ``Cxy`` and the coupling entries ``ev``; ``pval`` are products of ``ev``) is

    F + sum_k [(1 + a_k) Q0_k - a_k Qs_k + (a_k + a_k^2) Q2_k] / (1 - a_k^2)

over the classes ``k`` of distinct gaps (``a_k`` the correlation at gap ``k``), where ``F``, ``Q0_k``, ``Qs_k``,
``Q2_k`` are the cross-products of the first rows and, within class ``k``, of the rows ``e``, ``e + p`` and ``p``
(``device_crossproducts``: the correlation groups lie within every term's levels, so ``p`` has the row's pattern).
They are built once; each evaluation of the deviance and its derivatives is then sized by levels, not rows, as
the identity-residual path's. ``log|Lambda| = sum_k n_k log(1 - a_k^2)``. Used where there are at most
``MAX_CLASSES`` distinct gaps (one for AR(1) over the row order or regular times).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..linalg.crossprod import Rows, device_crossproducts, level_sums
from .lmm import LmmData

__all__ = ["LagStats", "MAX_CLASSES", "host_lag_stats", "lag_classes", "lag_stats", "lag_data"]

MAX_CLASSES = 8  # distinct gaps: the statistics take (3 * classes + 1) copies of the cross-products
_LINEAR = ("D0", "A_low", "Cxy", "ev")


class LagStats(NamedTuple):
    """``first``: the first rows' (D0, A_low, Cxy, ev); ``same``, ``sum``, ``prev``: per class (leading axis) those
    of ``e``, ``e + p`` and ``p``; ``gaps`` (K,), ``counts`` (K,) rows per class; ``log_w``: sum of log prior
    weights; ``first_pair``, ``second_pair``: the coupling pairs (``pval = ev[first] (x) ev[second]``)."""

    first: tuple
    same: tuple
    sum: tuple
    prev: tuple
    gaps: jax.Array
    counts: jax.Array
    log_w: jax.Array
    first_pair: jax.Array
    second_pair: jax.Array


def lag_classes(gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct gaps of the rows after the first of their group, each row's class: -1 for first rows)."""
    later = gap > 0
    gaps, klass = np.unique(gap[later], return_inverse=True)
    out = np.full(len(gap), -1)
    out[later] = klass
    return gaps, out


def _crossproducts(E, mask, rows: Rows, sizes):
    """(D0, A_low, Cxy, ev) of the rows ``E`` (``[X y Z1 Zr]``) where ``mask`` is 1."""
    p, k1 = rows.X.shape[1], rows.Z1.shape[1]
    r = rows._replace(X=E[:, :p], y=E[:, p], Z1=E[:, p + 1 : p + 1 + k1], Zr=E[:, p + 1 + k1 :], weights=mask)
    D0, A_low, Cxy, ev, _, _ = device_crossproducts(r, *sizes)
    return D0, A_low, Cxy, ev


def lag_stats(rows: Rows, prev, klass, gaps, sizes) -> LagStats:
    """The statistics of the module docstring (pure JAX; ``klass`` from ``lag_classes``; ``sizes``: ``(l1, qr,
    n_entries)`` as ``device_crossproducts`` takes them). ``host_lag_stats`` is the same on the host for one
    random-effects term."""
    E = jnp.concatenate([rows.X, rows.y[:, None], rows.Z1, rows.Zr], axis=1) * jnp.sqrt(rows.weights)[:, None]
    P = E[prev]
    masks = (klass[None, :] == jnp.arange(len(gaps))[:, None]).astype(E.dtype)  # (K, n)
    per_class = jax.vmap(lambda U, m: _crossproducts(U, m, rows, sizes), in_axes=(None, 0))
    return LagStats(
        first=_crossproducts(E, (klass < 0).astype(E.dtype), rows, sizes),
        same=per_class(E, masks),
        sum=per_class(E + P, masks),
        prev=per_class(P, masks),
        gaps=jnp.asarray(gaps, dtype=E.dtype),
        counts=jnp.sum(masks, axis=1),
        log_w=jnp.sum(jnp.log(rows.weights)),
        first_pair=rows.first,
        second_pair=rows.second,
    )


def lag_data(a, stats: LagStats, base: LmmData) -> LmmData:
    """The whitened cross-products at the correlations ``a`` (K,) of the gap classes, in ``base``'s index arrays."""
    den = 1.0 - a**2

    def combine(first, same, total, prev):
        w = lambda c: (c / den).reshape((-1,) + (1,) * (same.ndim - 1))  # noqa: E731
        return first + jnp.sum(w(1.0 + a) * same - w(a) * total + w(a + a**2) * prev, axis=0)

    D0, A_low, Cxy, ev = (combine(*parts) for parts in zip(stats.first, stats.same, stats.sum, stats.prev))
    pval = ev[stats.first_pair][:, :, None] * ev[stats.second_pair][:, None, :]
    return base._replace(D0=D0, A_low=A_low, Cxy=Cxy, ev=ev, pval=pval,
                         log_det_w=stats.log_w - jnp.sum(stats.counts * jnp.log(den)))


def _host_crossproducts(E, codes, l1: int, p: int):
    """(D0, A_low, Cxy, ev) of rows ``E`` (``[X y Z1]``) with one random-effects term (numpy)."""
    Xy, Z1 = E[:, : p + 1], E[:, p + 1 :]
    return (level_sums(codes, l1, Z1, Z1), np.tril(Xy.T @ Xy), level_sums(codes, l1, Z1, Xy),
            np.zeros((0, Z1.shape[1])))


def host_lag_stats(rows: Rows, prev, klass, gaps, l1: int) -> LagStats:
    """``lag_stats`` on the host (numpy's ``bincount`` over each class's rows only) for a model with one
    random-effects term (no coupling entries): several times faster than the scatter-adds of the device path."""
    E = np.concatenate([rows.X, rows.y[:, None], rows.Z1], axis=1) * np.sqrt(rows.weights)[:, None]
    p, codes = rows.X.shape[1], np.asarray(rows.codes1)
    first = klass < 0
    parts = {"same": [], "sum": [], "prev": []}
    for k in range(len(gaps)):
        at = np.flatnonzero(klass == k)
        e, q = E[at], E[prev[at]]
        for name, U in (("same", e), ("sum", e + q), ("prev", q)):
            parts[name].append(_host_crossproducts(U, codes[at], l1, p))
    stack = lambda items: tuple(np.stack(a) for a in zip(*items))  # noqa: E731
    return LagStats(_host_crossproducts(E[first], codes[first], l1, p), stack(parts["same"]), stack(parts["sum"]),
                    stack(parts["prev"]), np.asarray(gaps, dtype=float), np.bincount(klass[~first], minlength=len(gaps))
                    .astype(float), np.sum(np.log(rows.weights)), np.asarray(rows.first), np.asarray(rows.second))
