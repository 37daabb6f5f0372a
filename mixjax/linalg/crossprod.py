"""The blocked cross-product matrix ``A = [Z X y]' W [Z X y]``, built once per fit on the host.

Block 1 is the first random-effects term (most levels, ``l1`` levels of ``k1`` columns): its diagonal block is
block diagonal, kept as ``D0`` with shape ``(l1, k1, k1)``. Everything else, the "rest" ``R = [Z_2 .. Z_m X y]``
with ``nr = qr + p + 1`` columns, is kept dense as ``A_rr`` (``nr x nr``). The coupling ``C0 = Z_1' W R`` has two
parts. With ``X`` and ``y`` it is dense, ``Cxy`` with shape ``(l1, k1, p + 1)``. With the other terms' columns it
is stored by its nonzeros only: entry ``e`` couples level ``eg[e]`` of term 1 with column ``ej[e]`` of ``Z_2 ..
Z_m`` through the ``k1`` values ``ev[e]``; the Schur complement of block 1 needs, for every level, the products
of pairs of its entries, listed once here (lower triangle, ``j1 >= j2``): ``pg`` (level), ``ptarget`` (flat
index ``j1 * qr + j2``) and ``pval`` (``(npairs, k1, k1)`` outer products). Memory is proportional to the
nonzeros, never to ``l1 * qr`` or levels squared; n enters only here.

The pairs grow with the square of a level's entries: a crossed design such as MovieLens (users x movies, some users
rating thousands of movies) has billions. Where they would exceed ``PAIR_BUDGET``, the levels with the most entries
are "heavy" (``heavy_levels``): their pairs are not listed, and the factorization takes their coupling rows as a
dense ``(n_heavy, qr, k1)`` array built from their entries (``hg``: the heavy levels; ``hrow``: each entry's row of
that array, ``n_heavy`` for the entries of the other levels), so that their part of the Schur complement is one
matrix product (``heavy_rows``) instead of a scatter of their pairs.

A term with a known covariance over its levels (``ReTerm.relfactor``, ``K = L L'``) enters through ``Z (L kron I)``
(pedigreemm's transformed ``Z``), so that its effects ``v`` have the plain per-level covariance; such a term is
never term 1: when the first term has one, ``engine_terms`` puts an empty term 1 (one level, a zero column, no
parameters) before it.

``crossproducts`` builds them on the host (numpy and scipy.sparse: no compilation, the single fit's path), in two
steps: ``row_sums`` sums over the rows (``Sums``: plain sums, and the coupling as sparse matrices whose pattern is
the union over rows), which ``add`` over chunks of rows (``mixjax.streaming``: data that does not fit in memory),
then ``from_sums`` lists the coupling's entries and their pairs.
``device_crossproducts`` computes the same arrays from the rows (``Rows``) as a pure JAX function, so that a fit
can be a function of its response and prior weights (``jax.vmap`` over many responses, ``jax.grad`` in the
weights); ``response_blocks`` computes only the parts that involve the response (the ``y`` column of ``Cxy`` and
the last row of ``A``), all that changes between fits that share a design.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sp

from ..covariance import Known
from ..design import Design, ReTerm

__all__ = ["INT32_INDEX_BELOW", "NO_LEVELS", "PAIR_BUDGET", "CrossProducts", "Rows", "Sums", "add", "crossproducts",
           "device_crossproducts", "engine_terms", "flat_index", "from_sums", "heavy_levels", "heavy_rows",
           "index_dtype", "level_sums",
           "response_blocks", "rest_layout", "row_sums", "rows", "term_matrix", "z_gram"]

PAIR_BUDGET = 1 << 26  # most pairs of coupling entries listed (about 24 bytes each); beyond, heavy levels are dense
INT32_INDEX_BELOW = 1 << 31  # flat indices into an n x n block are int32 where n * n is below this, else int64
NO_LEVELS = np.zeros(0, dtype=np.int32)


class CrossProducts(NamedTuple):
    D0: np.ndarray  # (l1, k1, k1)
    A_low: np.ndarray  # (nr, nr) lower triangle of A_rr, zeros above
    Cxy: np.ndarray  # (l1, k1, p + 1)
    eg: np.ndarray  # (nE,) int32, entries with the columns of Z_2 .. Z_m
    ej: np.ndarray  # (nE,) int32
    ev: np.ndarray  # (nE, k1)
    pg: np.ndarray  # (npairs,) int32
    ptarget: np.ndarray  # (npairs,) int32
    pval: np.ndarray  # (npairs, k1, k1)
    log_det_w: float
    n_obs: int
    cols: np.ndarray  # (n, kr) int32: each row's columns of Z_2 .. Z_m (kr: their columns per row)
    entry: np.ndarray  # (n, kr) int32: the coupling entry of (the row's level of term 1, that column)
    first: np.ndarray  # (npairs,) int32: the pairs' entries (``pval = ev[first] (x) ev[second]``)
    second: np.ndarray
    hg: np.ndarray = NO_LEVELS  # (n_heavy,) int32: the heavy levels of term 1, whose pairs are not listed
    hrow: np.ndarray = NO_LEVELS  # (nE,) int32, or empty without heavy levels: each entry's row among them (n_heavy:
    # not a heavy level's entry)


class Rows(NamedTuple):
    """The rows behind the cross-products: ``y`` (n,), prior ``weights`` (n,), ``X`` (n, p), term 1's ``codes1``
    (n,) and ``Z1`` (n, k1), the other terms' columns ``Zr`` (n, kr) and the structure (``cols``, ``entry``,
    ``first``, ``second`` of ``CrossProducts``)."""

    y: jax.Array
    weights: jax.Array
    X: jax.Array
    codes1: jax.Array
    Z1: jax.Array
    Zr: jax.Array
    cols: jax.Array
    entry: jax.Array
    first: jax.Array
    second: jax.Array


def engine_terms(design: Design) -> tuple[ReTerm, ...]:
    """The terms as the factorization sees them: the design's, after an empty term 1 where the first term has a
    known covariance over its levels (its block is dense, not block diagonal)."""
    if design.terms[0].relfactor is None:
        return design.terms
    n = len(design.weights)
    empty = ReTerm("", "", np.zeros(n, dtype=np.int32), ("",), np.zeros((n, 1)), ("",), structure=Known(((1.0,),)))
    return (empty, *design.terms)


def rest_layout(design: Design) -> list[tuple[int, int, int]]:
    """(offset, n_levels, k) of each rest term's columns in ``R``."""
    out, off = [], 0
    for term in engine_terms(design)[1:]:
        out.append((off, term.n_levels, term.k))
        off += term.n_levels * term.k
    return out


def term_matrix(codes: np.ndarray, Z: np.ndarray, n_levels: int) -> sp.csr_matrix:
    """Sparse ``n x (n_levels * k)`` indicator-times-columns matrix of one term."""
    n, k = Z.shape
    rows = np.repeat(np.arange(n), k)
    cols = (codes[:, None] * k + np.arange(k)[None, :]).ravel()
    return sp.csr_matrix((Z.ravel(), (rows, cols)), shape=(n, n_levels * k))


def index_dtype(n: int):
    """The integer type of flat indices ``j1 * n' + j2`` into a block of at most ``n x n`` (``n``: the dense
    block's ``nr = qr + p + 1`` columns, which ``lmm_scalar`` indexes): int32 where they fit, else int64 (a
    dense block of more than 46,340 columns, e.g. ml-32m's 84,432 movies on a GPU)."""
    return np.int32 if n * n < INT32_INDEX_BELOW else np.int64


def flat_index(j1: np.ndarray, j2: np.ndarray, qr: int, nr: int) -> np.ndarray:
    """``j1 * qr + j2`` (the pairs' ``ptarget``) as ``index_dtype(nr)``."""
    return (j1.astype(np.int64) * qr + j2).astype(index_dtype(nr))


def _pairs(eg: np.ndarray, starts: np.ndarray):
    """All (e1, e2) with the same level and position(e2) <= position(e1), entries sorted by (level, column)."""
    pos = np.arange(len(eg)) - starts[eg]
    first = np.repeat(np.arange(len(eg)), pos + 1)
    offsets = np.arange(len(first)) - np.repeat(np.cumsum(pos + 1) - (pos + 1), pos + 1)
    second = starts[eg[first]] + offsets
    return first, second


def heavy_levels(counts: np.ndarray, qr: int, budget: int) -> np.ndarray:
    """The levels of term 1 (``counts``: entries per level) whose coupling is kept dense instead of by pairs: none
    where all pairs fit in ``budget``; else the levels with the most entries, as few as leave at most ``budget``
    pairs, and every level with more than ``qr / 8`` entries (a dense row costs ``qr^2`` multiply-adds in a matrix
    product, which runs many times faster per operation than a scatter of its ``count^2 / 2`` pairs)."""
    pairs = counts.astype(np.int64) * (counts + 1) // 2
    if pairs.sum() <= budget:
        return NO_LEVELS
    order = np.argsort(-counts, kind="stable")
    left = pairs.sum() - np.cumsum(pairs[order])  # pairs still listed after taking the first i + 1 levels
    n_heavy = max(int(np.argmax(left <= budget)) + 1, int(np.sum(counts > qr / 8)))
    return np.sort(order[:n_heavy]).astype(np.int32)


def heavy_rows(ev, ej, hg, hrow, qr: int):
    """The heavy levels' coupling rows, ``(n_heavy, qr, k1)``, from the entries (pure JAX)."""
    out = jnp.zeros((hg.shape[0], qr, ev.shape[1]), dtype=ev.dtype)
    return out.at[hrow, ej].set(ev, mode="drop")  # entries of other levels (row n_heavy) are dropped


def level_sums(codes: np.ndarray, n_levels: int, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """``out[g] = sum over rows of level g of outer(U_row, V_row)``, shape ``(n_levels, U.shape[1], V.shape[1])``."""
    out = np.empty((n_levels, U.shape[1], V.shape[1]))
    for a in range(U.shape[1]):
        for b in range(V.shape[1]):
            out[:, a, b] = np.bincount(codes, weights=U[:, a] * V[:, b], minlength=n_levels)
    return out


def _rest_matrix(term: ReTerm) -> sp.csr_matrix:
    """A rest term's columns: ``Z (L kron I_k)`` with a known covariance over the levels, else ``Z``."""
    Z = term_matrix(term.codes, term.Z, term.n_levels)
    if term.relfactor is None:
        return Z
    return sp.csr_matrix(Z @ sp.kron(sp.csr_matrix(term.relfactor), sp.identity(term.k), format="csr"))


class Sums(NamedTuple):
    """The sums over rows behind ``CrossProducts``, which add over any split of the rows into chunks (``add``):
    ``D0`` (l1, k1, k1) and ``Cxy`` (l1, k1, p + 1) per level of term 1; ``A = R' W R`` (nr, nr), dense and
    symmetric; the coupling of term 1 with the rest's columns as sparse (l1, qr) matrices, ``pattern`` (how many
    rows with a nonzero term-1 column meet each rest column: the structure, summed counts never cancel) and
    ``coupling[a] = (J1 * Z1[:, a])' W Zr`` for each of term 1's ``k1`` columns; ``log|W|``, ``n`` and
    ``sum(w)``."""

    D0: np.ndarray
    Cxy: np.ndarray
    A: np.ndarray
    pattern: sp.csr_matrix | None  # None with one term (no rest columns)
    coupling: tuple
    log_det_w: float
    n_obs: int
    sum_w: float


def row_sums(terms: tuple[ReTerm, ...], X: np.ndarray, y: np.ndarray, w: np.ndarray) -> Sums:
    """``Sums`` of the rows ``X`` (n, p), ``y`` (n,), prior weights ``w`` (n,) and ``terms`` (``engine_terms``: each
    term's ``codes`` and ``Z`` for these rows, its ``n_levels`` over all rows)."""
    t1, n = terms[0], len(w)
    l1 = t1.n_levels
    Xy = np.column_stack([X, y])
    wXy = Xy * w[:, None]
    wZ1 = t1.Z * w[:, None]
    D0 = level_sums(t1.codes, l1, wZ1, t1.Z)
    Cxy = level_sums(t1.codes, l1, wZ1, Xy)
    common = dict(log_det_w=float(np.sum(np.log(w))), n_obs=n, sum_w=float(np.sum(w)))
    if len(terms) == 1:  # one term: no sparse coupling at all
        return Sums(D0, Cxy, Xy.T @ wXy, None, (), **common)
    Zr = sp.hstack([_rest_matrix(t) for t in terms[1:]], format="csr")
    wZr = sp.csr_matrix(Zr.multiply(w[:, None]))
    qr = Zr.shape[1]
    A = np.zeros((qr + Xy.shape[1],) * 2)
    A[:qr, :qr] = (Zr.T @ wZr).toarray()
    A[qr:, :qr] = (wZr.T @ Xy).T
    A[:qr, qr:] = A[qr:, :qr].T
    A[qr:, qr:] = Xy.T @ wXy
    # structural pattern of the coupling with Z_2 .. Z_m: which of their columns meet each level of term 1
    J1 = sp.csr_matrix(((t1.Z != 0).any(axis=1).astype(float), (np.arange(n), t1.codes)), shape=(n, l1))
    J1.eliminate_zeros()
    pattern = sp.csr_matrix(J1.T @ sp.csr_matrix((np.ones(Zr.nnz), Zr.indices, Zr.indptr), shape=Zr.shape))
    coupling = tuple(sp.csr_matrix(J1.multiply(t1.Z[:, [a]]).T @ wZr) for a in range(t1.k))
    return Sums(D0, Cxy, A, pattern, coupling, **common)


def add(a: Sums, b: Sums) -> Sums:
    """The ``Sums`` of two disjoint sets of rows of one model."""
    both = a.pattern is not None
    return Sums(a.D0 + b.D0, a.Cxy + b.Cxy, a.A + b.A, a.pattern + b.pattern if both else None,
                tuple(sp.csr_matrix(u + v) for u, v in zip(a.coupling, b.coupling)), a.log_det_w + b.log_det_w,
                a.n_obs + b.n_obs, a.sum_w + b.sum_w)


def from_sums(s: Sums, cols: np.ndarray | None = None, codes1: np.ndarray | None = None,
              pair_budget: int = PAIR_BUDGET) -> CrossProducts:
    """``CrossProducts`` from the ``Sums`` of all rows: the coupling's entries ``(eg, ej, ev)`` at the nonzeros of
    its pattern (sorted by level, then column), their pairs, and ``A``'s lower triangle. ``cols`` (n, kr) and
    ``codes1`` (n,): the rows' rest columns and term-1 levels, for the per-row ``entry``; None (streamed rows, not
    in memory): ``cols`` and ``entry`` are empty. ``pair_budget``: the most pairs listed (``heavy_levels``)."""
    l1, k1 = s.D0.shape[0], s.D0.shape[1]
    kr = 0 if cols is None else cols.shape[1]
    n_rows = 0 if cols is None else cols.shape[0]
    hg = hrow = NO_LEVELS
    if s.pattern is None:
        eg = ej = pg = ptarget = first = second = np.zeros(0, dtype=np.int32)
        entry = np.zeros((n_rows, 0), dtype=np.int32)
        ev, pval = np.zeros((0, k1)), np.zeros((0, k1, k1))
    else:
        qr = s.pattern.shape[1]
        pattern = sp.csr_matrix(s.pattern)
        pattern.sort_indices()
        eg = np.repeat(np.arange(l1), np.diff(pattern.indptr)).astype(np.int32)
        ej = pattern.indices.astype(np.int32)
        ev = np.empty((len(eg), k1))
        for a in range(k1):
            ev[:, a] = np.asarray(s.coupling[a][eg, ej]).ravel()
        hg = heavy_levels(np.diff(pattern.indptr), qr, pair_budget)
        is_heavy = np.zeros(l1, dtype=bool)
        is_heavy[hg] = True
        hrow = np.where(is_heavy[eg], np.searchsorted(hg, eg), len(hg)).astype(np.int32) if len(hg) else NO_LEVELS
        light = np.flatnonzero(~is_heavy[eg])  # the entries whose pairs are listed
        first, second = _pairs(eg[light], np.searchsorted(eg[light], np.arange(l1)))
        first, second = light[first], light[second]
        pg, pval = eg[first], ev[first][:, :, None] * ev[second][:, None, :]
        ptarget = flat_index(ej[first], ej[second], qr, s.A.shape[0])
        keys = eg.astype(np.int64) * qr + ej  # ascending: the pattern is sorted by level, then column
        entry = (np.zeros((0, kr), dtype=np.int32) if cols is None else
                 np.searchsorted(keys, codes1[:, None].astype(np.int64) * qr + cols).astype(np.int32))
    return CrossProducts(
        D0=s.D0,
        A_low=np.tril(s.A),
        Cxy=s.Cxy,
        eg=eg,
        ej=ej,
        ev=ev,
        pg=pg,
        ptarget=ptarget,
        pval=pval,
        log_det_w=s.log_det_w,
        n_obs=s.n_obs,
        cols=np.zeros((0, kr), dtype=np.int32) if cols is None else cols,
        entry=entry,
        first=np.asarray(first, dtype=np.int32),
        second=np.asarray(second, dtype=np.int32),
        hg=hg,
        hrow=hrow,
    )


def crossproducts(design: Design, pair_budget: int = PAIR_BUDGET) -> CrossProducts:
    """Build the blocked cross-products of ``design`` (see the module docstring)."""
    terms = engine_terms(design)
    sums = row_sums(terms, design.X, design.y, design.weights)
    return from_sums(sums, _rest_columns(design), terms[0].codes, pair_budget)


def z_gram(cp: CrossProducts, qr: int) -> sp.csr_matrix:
    """``Z'WZ`` (q, q), ``q = l1 k1 + qr``, from the cross-products alone: ``D0``'s blocks, the coupling's entries
    (``(g k1 + a, l1 k1 + j) = ev[e, a]``) and the rest's dense block ``A_rr[:qr, :qr]``."""
    l1, k1 = cp.D0.shape[:2]
    g, a, b = np.meshgrid(np.arange(l1), np.arange(k1), np.arange(k1), indexing="ij")
    D = sp.csr_matrix((cp.D0.ravel(), ((g * k1 + a).ravel(), (g * k1 + b).ravel())), shape=(l1 * k1,) * 2)
    rows = (cp.eg[:, None].astype(np.int64) * k1 + np.arange(k1)).ravel()
    C = sp.csr_matrix((cp.ev.ravel(), (rows, np.repeat(cp.ej, k1))), shape=(l1 * k1, qr))
    R = cp.A_low[:qr, :qr]
    return sp.bmat([[D, C], [C.T, sp.csr_matrix(R + np.tril(R, -1).T)]], format="csr")


def _rest_columns(design: Design) -> np.ndarray:
    """(n, kr) each row's column of ``R`` for every column of terms 2..m (``off_t + level * k_t + c``)."""
    out, off = [], 0
    for t in engine_terms(design)[1:]:
        out.append(off + t.codes[:, None].astype(np.int64) * t.k + np.arange(t.k))
        off += t.n_levels * t.k
    return (np.concatenate(out, axis=1) if out else np.zeros((len(design.weights), 0))).astype(np.int32)


def rows(design: Design, cp: CrossProducts) -> Rows:
    """The ``Rows`` of ``design`` (numpy; ``cp`` its cross-products, for the structure)."""
    t1, *rest = engine_terms(design)
    Zr = np.concatenate([t.Z for t in rest], axis=1) if rest else np.zeros((len(design.y), 0))
    return Rows(design.y, design.weights, design.X, t1.codes, t1.Z, Zr, cp.cols, cp.entry, cp.first, cp.second)


def response_blocks(r: Rows, l1: int, qr: int):
    """The response's parts of the cross-products: ``Z1' W y`` per level (l1, k1) and the last row of ``A``,
    ``[Zr' W y, X' W y, y' W y]`` (nr,). ``l1``, ``qr``: sizes (static)."""
    wy = r.weights * r.y
    z1y = jax.ops.segment_sum(r.Z1 * wy[:, None], r.codes1, num_segments=l1)
    zy = jax.ops.segment_sum((r.Zr * wy[:, None]).ravel(), r.cols.ravel(), num_segments=qr)
    return z1y, jnp.concatenate([zy, r.X.T @ wy, jnp.sum(wy * r.y)[None]])


def device_crossproducts(r: Rows, l1: int, qr: int, n_entries: int):
    """``(D0, A_low, Cxy, ev, pval, log_det_w)`` as ``crossproducts`` builds them, from the rows, in JAX (pure,
    differentiable in ``r.y`` and ``r.weights``). ``l1``, ``qr``, ``n_entries``: the sizes (static)."""
    w, Z1 = r.weights, r.Z1
    Xy = jnp.column_stack([r.X, r.y])
    wZ1 = Z1 * w[:, None]
    level_sum = lambda v: jax.ops.segment_sum(v, r.codes1, num_segments=l1)  # noqa: E731
    D0 = level_sum(wZ1[:, :, None] * Z1[:, None, :])
    Cxy = level_sum(wZ1[:, :, None] * Xy[:, None, :])
    xx = Xy.T @ (Xy * w[:, None])
    k1, m = Z1.shape[1], Xy.shape[1]
    if qr:
        wZr = r.Zr * w[:, None]
        cols = r.cols.astype(index_dtype(qr + m))
        zz = jax.ops.segment_sum((wZr[:, :, None] * r.Zr[:, None, :]).ravel(),
                                 (cols[:, :, None] * qr + cols[:, None, :]).ravel(), num_segments=qr * qr)
        zx = jax.ops.segment_sum((wZr[:, :, None] * Xy[:, None, :]).reshape(-1, m), r.cols.ravel(), num_segments=qr)
        A = jnp.block([[zz.reshape(qr, qr), zx], [zx.T, xx]])
        ev = jax.ops.segment_sum((wZ1[:, None, :] * r.Zr[:, :, None]).reshape(-1, k1), r.entry.ravel(),
                                 num_segments=n_entries)
    else:
        A, ev = xx, jnp.zeros((0, k1), dtype=xx.dtype)
    pval = ev[r.first][:, :, None] * ev[r.second][:, None, :]
    return D0, jnp.tril(A), Cxy, ev, pval, jnp.sum(jnp.log(w))
