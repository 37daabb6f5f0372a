"""The blocked cross-product matrix ``A = [Z X y]' W [Z X y]``, built once per fit on the host.

Block 1 is the first random-effects term (most levels, ``l1`` levels of ``k1`` columns): its diagonal block is
block diagonal, kept as ``D0`` with shape ``(l1, k1, k1)``. Everything else, the "rest" ``R = [Z_2 .. Z_m X y]``
with ``nr`` columns, is kept dense as ``A_rr`` (``nr x nr``). The coupling ``C0 = Z_1' W R`` is stored by its
nonzeros only: entry ``e`` couples level ``eg[e]`` of term 1 with rest column ``ej[e]`` through the ``k1`` values
``ev[e]``. The Schur complement of block 1 needs, for every level, the products of pairs of its entries; the
pairs (lower triangle, ``j1 >= j2``) are listed once here, ``pg`` (level), ``ptarget`` (flat index
``j1 * nr + j2``) and ``pval`` (``(npairs, k1, k1)`` outer products). Memory is proportional to the nonzeros, never
to ``l1 * nr`` or levels squared; n enters only here.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..design import Design

__all__ = ["CrossProducts", "crossproducts", "rest_layout"]


class CrossProducts(NamedTuple):
    D0: np.ndarray  # (l1, k1, k1)
    A_low: np.ndarray  # (nr, nr) lower triangle of A_rr, zeros above
    eg: np.ndarray  # (nE,) int32
    ej: np.ndarray  # (nE,) int32
    ev: np.ndarray  # (nE, k1)
    pg: np.ndarray  # (npairs,) int32
    ptarget: np.ndarray  # (npairs,) int32
    pval: np.ndarray  # (npairs, k1, k1)
    log_det_w: float
    n_obs: int


def rest_layout(design: Design) -> list[tuple[int, int, int]]:
    """(offset, n_levels, k) of each rest term's columns in ``R``."""
    out, off = [], 0
    for term in design.terms[1:]:
        out.append((off, term.n_levels, term.k))
        off += term.n_levels * term.k
    return out


def _term_matrix(codes: np.ndarray, Z: np.ndarray, n_levels: int) -> sp.csr_matrix:
    """Sparse ``n x (n_levels * k)`` indicator-times-columns matrix of one term."""
    n, k = Z.shape
    rows = np.repeat(np.arange(n), k)
    cols = (codes[:, None] * k + np.arange(k)[None, :]).ravel()
    return sp.csr_matrix((Z.ravel(), (rows, cols)), shape=(n, n_levels * k))


def rest_matrix(design: Design, y: np.ndarray | None = None) -> sp.csr_matrix:
    """``R = [Z_2 .. Z_m X y]`` as a sparse matrix."""
    y = design.y if y is None else y
    blocks = [_term_matrix(t.codes, t.Z, t.n_levels) for t in design.terms[1:]]
    blocks += [sp.csr_matrix(design.X), sp.csr_matrix(y[:, None])]
    return sp.hstack(blocks, format="csr")


def _pairs(eg: np.ndarray, ej: np.ndarray, starts: np.ndarray):
    """All (e1, e2) with the same level and position(e2) <= position(e1), entries sorted by (level, column)."""
    pos = np.arange(len(eg)) - starts[eg]
    first = np.repeat(np.arange(len(eg)), pos + 1)
    offsets = np.arange(len(first)) - np.repeat(np.cumsum(pos + 1) - (pos + 1), pos + 1)
    second = starts[eg[first]] + offsets
    return first, second


def crossproducts(design: Design) -> CrossProducts:
    """Build the blocked cross-products of ``design`` (see the module docstring)."""
    t1 = design.terms[0]
    w = design.weights
    R = rest_matrix(design)
    nr = R.shape[1]
    wR = sp.csr_matrix(R.multiply(w[:, None]))
    A = (R.T @ wR).toarray()
    D0 = np.zeros((t1.n_levels, t1.k, t1.k))
    np.add.at(D0, t1.codes, w[:, None, None] * t1.Z[:, :, None] * t1.Z[:, None, :])
    # structural pattern of the coupling: which rest columns meet each level of term 1
    J1 = sp.csr_matrix((np.ones(len(w)), (np.arange(len(w)), t1.codes)), shape=(len(w), t1.n_levels))
    pattern = sp.csr_matrix(J1.T @ sp.csr_matrix((np.ones(R.nnz), R.indices, R.indptr), shape=R.shape))
    pattern.sort_indices()
    eg = np.repeat(np.arange(t1.n_levels), np.diff(pattern.indptr)).astype(np.int32)
    ej = pattern.indices.astype(np.int32)
    ev = np.empty((len(eg), t1.k))
    for a in range(t1.k):
        Ca = sp.csr_matrix(J1.multiply(t1.Z[:, [a]]).T @ wR)
        ev[:, a] = np.asarray(Ca[eg, ej]).ravel()
    first, second = _pairs(eg, ej, pattern.indptr[:-1].astype(np.int64))
    return CrossProducts(
        D0=D0,
        A_low=np.tril(A),
        eg=eg,
        ej=ej,
        ev=ev,
        pg=eg[first],
        ptarget=(ej[first].astype(np.int64) * nr + ej[second]).astype(np.int32),
        pval=ev[first][:, :, None] * ev[second][:, None, :],
        log_det_w=float(np.sum(np.log(w))),
        n_obs=len(w),
    )
