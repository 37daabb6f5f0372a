"""Value and gradient of the profiled LMM deviance where every random-effects term has one column (crossed or
nested random intercepts, e.g. InstEval's ``(1 | s) + (1 | d) + (1 | dept:service)``), in one hand-derived pass.

Each term's factor is a scalar ``tau_t`` (``T_t = [[tau_t]]``, a function of its slice of theta). With the
notation of ``mixjax.objectives.lmm`` (term 1: ``l1`` levels, ``d0_g = D0_g``; the rest ``R = [Z_2 .. Z_m X y]``
with ``nr = qr + p + 1`` columns scaled by ``s = (tau_t on term t's columns, 1 on X and y)``):

    a_g = 1 + tau_1^2 d0_g,   v_g = tau_1^2 / a_g,   W = sum_g v_g c_g c_g'  (c_g: level g's coupling row)
    G = A_rr - W,   S = diag(s) G diag(s) + I_zr = L L',   r^2 = L[-1, -1]^2
    d = sum_g log a_g + logdet S_zz [+ logdet S_aa - logdet S_zz] - log|W| + dof (1 + log(2 pi r^2 / dof))

(the bracket for REML, ``a = (z, x)``, dof ``n - p``; ML: dof ``n``). With ``S_zz^{-1}``, ``P = S_aa^{-1}``
(padded with zeros), ``w = [-S_aa^{-1} s_ay; 1]`` and

    B = (dof / r^2) w w' + S_zz^{-1} (ML, padded)   or   (dof / r^2) w w' + P (REML),

``d d = sum d log a_g + tr(B dS)`` (``B`` is the derivative of the Schur terms in ``S``, as in
``mixjax.linalg.schur_logdet``). All of ``B`` comes from ``Q = S^{-1}`` (one ``potrf`` and one ``potri`` of the
whole block, ``_B``). ``dS = diag(ds) G diag(s) + diag(s) G diag(ds) - diag(s) dW diag(s)`` gives

    dd/dtau_t = 2 sum_{i in term t} sum_j G_ij s_j B_ij                                     (t >= 2)
    dd/dtau_1 = sum_g 2 tau_1 d0_g / a_g - sum_g (2 tau_1 / a_g^2) c~_g' B c~_g,   c~_g = diag(s) c_g

where ``c~_g' B c~_g`` is summed over level g's pairs of coupling entries (the pairs that build ``W``: one gather
of ``B`` at their targets) and its products with X and y. So an evaluation is one scatter of the pairs forward,
one host call (``potrf`` + ``potri``), one gather over the pairs back and a few elementwise passes and
matrix-vector products over the dense block: on InstEval about 25% less time than reverse-mode differentiation
through the general blocked system (``benchmarks/RESULTS.md``). ``B`` is never written out: it is an elementwise
function of ``Q`` read where it is needed (``_B``). The chain rule to theta is the Jacobian of the few ``tau_t``
(forward mode on the covariance structures' ``factor``).

Only the lower triangles of ``A_rr``, ``G``, ``S``, ``P`` and ``B`` are used (their upper ones hold zeros).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..linalg.lapack import cholesky_diag_inverse

__all__ = ["HEAVY_BLOCK_BYTES", "KEEP_G_BELOW", "all_scalar", "value_grad"]

# dense blocks of fewer columns keep G for the gradient (one more nr x nr array, 1.2 GB at 12,000 columns; faster
# where the pairs outnumber the block's entries: InstEval's warm fit 1.02-1.18 s against 1.77-1.82 s from the
# pieces, two more scatters over its pairs); from this size the gradient takes G's part from its pieces (two dense
# arrays instead of three: ml-32m's 84,432 movies take 57 GB each)
KEEP_G_BELOW = 12_000
# the heavy levels' dense coupling rows are built and multiplied this many bytes at a time (blocks of rows, and of
# columns for the products' outputs): ml-32m's 116,734 heavy users x 84,432 movies would be 79 GB at once
HEAVY_BLOCK_BYTES = 1 << 30


def all_scalar(spec) -> bool:
    """Whether every random-effects term of ``spec`` (an ``LmmSpec``) has one column and the dense block has
    random-effects columns (crossed or nested scalar terms)."""
    return spec.qr > 0 and all(k == 1 for k in spec.ks)


def _taus(theta, covs):
    """``tau_t = T_t[0, 0]`` of every term, from its slice of theta."""
    out, start = [], 0
    for cov in covs:
        out.append(jnp.reshape(cov.factor(theta[start : start + cov.n_theta]), ())[()])
        start += cov.n_theta
    return jnp.stack(out)


def _scales(tau, layout, nr):
    """``s`` (nr,): ``tau_t`` on term t's columns of the dense block, 1 on X and y."""
    qr = sum(lt for _, lt, _ in layout)
    return jnp.concatenate([jnp.full(lt, tau[t + 1]) for t, (_, lt, _) in enumerate(layout)]
                           + [jnp.ones(nr - qr, dtype=tau.dtype)])


def _coupled(A_low, v, data, qr, s=None):
    """``G = A_rr - W`` (lower triangle), ``W = sum_g v_g c_g c_g'``: the pairs of coupling entries scattered into
    a copy of ``A_rr`` (flat index ``j1 * nr + j2`` from the pair's ``j1 * qr + j2``), then the heavy levels' part
    (``_subtract_heavy``). With the scales ``s``, ``S = diag(s) G diag(s) + I_zz`` instead (no ``G`` written
    out). Also returns ``G``'s rows of X and y, ``(p + 1, nr)`` (small)."""
    nr = A_low.shape[0]
    C = data.Cxy[:, 0, :]  # (l1, p + 1)
    ev = data.ev[:, 0]
    W_xx = (C * v[:, None]).T @ C
    W_zx = jax.ops.segment_sum(C[data.eg] * (v[data.eg] * ev)[:, None], data.ej, num_segments=qr)
    target = data.ptarget + (data.ptarget // qr) * (nr - qr)
    w = data.pval[:, 0, 0] * v[data.pg]
    Gb = A_low[qr:] - jnp.concatenate([W_zx.T, jnp.tril(W_xx)], axis=1)
    out = A_low.at[qr:].set(Gb)
    if s is not None:
        i, j = jnp.arange(nr)[:, None], jnp.arange(nr)[None, :]
        out = out * s[:, None] * s[None, :] + jnp.where((i == j) & (i < qr), 1.0, 0.0)
        w = w * s[data.ptarget // qr] * s[data.ptarget % qr]
    out = out.ravel().at[target].add(-w, mode="promise_in_bounds").reshape(nr, nr)
    if data.hg.shape[0]:
        out = _subtract_heavy(out, v, data, qr, jnp.ones(qr) if s is None else s[:qr])
    return out, Gb


def _heavy_blocks(data, qr: int) -> tuple[int, int, int]:
    """``(rows, columns, blocks)``: the heavy levels' coupling rows are taken ``rows`` at a time in ``blocks``
    blocks, and the products' outputs ``columns`` at a time (``HEAVY_BLOCK_BYTES`` each)."""
    n_heavy = data.hg.shape[0]
    rows = max(1, min(n_heavy, HEAVY_BLOCK_BYTES // (8 * qr)))
    return rows, max(1, min(qr, HEAVY_BLOCK_BYTES // (8 * qr))), -(-n_heavy // rows)


def _heavy_block(data, qr: int, rows: int, b):
    """Block ``b`` of the heavy levels: their dense coupling rows ``(rows, qr)`` (``crossprod.heavy_rows``, built
    from the entries; rows past the last heavy level are zero) and their levels of term 1 (0 past the last)."""
    local = data.hrow - b * rows  # a light level's entries have hrow = n_heavy
    local = jnp.where((local >= 0) & (local < rows) & (data.hrow < data.hg.shape[0]), local, rows)  # else dropped
    Ch = jnp.zeros((rows, qr), dtype=data.ev.dtype).at[local, data.ej].set(data.ev[:, 0], mode="drop")
    blocks = -(-data.hg.shape[0] // rows)
    hg = jnp.pad(data.hg, (0, blocks * rows - data.hg.shape[0]))
    return Ch, jax.lax.dynamic_slice_in_dim(hg, b * rows, rows)


def _subtract_heavy(out, v, data, qr: int, scale):
    """``out[:qr, :qr] -= tril(C~' diag(v_h) C~)``, ``C~`` the heavy levels' coupling rows times ``scale``, by
    blocks of rows and of output columns (no ``qr x qr`` product written out)."""
    rows, cols, blocks = _heavy_blocks(data, qr)

    def row_block(b, out):
        Ch, hg = _heavy_block(data, qr, rows, b)
        Ch = Ch * scale[None, :]
        Cv = Ch * v[hg][:, None]

        def column_block(c, out):
            c0 = jnp.minimum(c * cols, qr - cols)  # the last block ends at qr: its first columns were done before
            col = c0 + jnp.arange(cols)
            product = Cv.T @ jax.lax.dynamic_slice_in_dim(Ch, c0, cols, axis=1)  # (qr, cols)
            keep = (jnp.arange(qr)[:, None] >= col[None, :]) & (col[None, :] >= c * cols)
            current = jax.lax.dynamic_slice(out, (0, c0), (qr, cols))
            return jax.lax.dynamic_update_slice(out, current - jnp.where(keep, product, 0.0), (0, c0))

        return jax.lax.fori_loop(0, -(-qr // cols), column_block, out)

    return jax.lax.fori_loop(0, blocks, row_block, out)


def value_grad(theta, data, spec):
    """``(d(theta), grad d(theta))`` of the profiled deviance (see the module doc); ``spec`` an ``LmmSpec`` with
    ``all_scalar(spec)``, ``data`` its ``LmmData``."""
    tau = _taus(theta, spec.covs)
    jac = jax.jacfwd(lambda t: _taus(t, spec.covs))(theta)  # (m, n_theta)
    f, g_tau = _value_grad_tau(tau, data, spec)
    return f, jac.T @ g_tau


def _value_grad_tau(tau, data, spec):
    """Value and gradient in ``tau`` (m,). ``B`` is never written out: its entries are an elementwise function of
    ``Q`` (``_B``), fused into the reductions and the gather at the pairs' targets. A dense block of fewer than
    ``KEEP_G_BELOW`` columns keeps ``G`` for the gradient (three dense arrays: ``G``, ``S`` and ``Q``); a larger one
    takes ``G``'s part of the gradient from its pieces, ``A_rr`` and the coupling's pairs, heavy levels and rows of
    X and y (two dense arrays: ``S`` where ``G`` was, and ``Q``)."""
    qr, nr = spec.qr, spec.nr
    if spec.reml is None:  # a padded spec (``lmm_buckets``): this pass reads REML or ML from the spec only
        raise ValueError("lmm_scalar.value_grad needs an unpadded spec (its reml set)")
    t1 = tau[0]
    d0 = data.D0[:, 0, 0]
    a = 1.0 + t1**2 * d0
    v = t1**2 / a
    s = _scales(tau, spec.layout, nr)
    i, j = jnp.arange(nr)[:, None], jnp.arange(nr)[None, :]
    keep_g = nr < KEEP_G_BELOW
    if keep_g:
        G, Gb = _coupled(data.A_low, v, data, qr)
        S = G * s[:, None] * s[None, :] + jnp.where((i == j) & (i < qr), 1.0, 0.0)
    else:
        S, Gb = _coupled(data.A_low, v, data, qr, s)
    diag, Q = cholesky_diag_inverse(S)
    log_det = jnp.sum(jnp.log(a)) + 2.0 * jnp.sum(jnp.log(diag[:qr])) - data.log_det_w
    if spec.reml:
        log_det = log_det + 2.0 * jnp.sum(jnp.log(diag[qr:-1]))
        dof = data.n - getattr(data, "p", spec.p)
    else:
        dof = data.n
    r2 = diag[-1] ** 2
    f = log_det + dof * (1.0 + jnp.log(2.0 * jnp.pi * r2 / dof))

    B = _b_of(Q, qr, dof, spec.reml)
    # dd/dtau_t = 2 sum over term t's columns i of sum_j G_ij s_j B_ij (whole symmetric rows: the lower triangles'
    # row and column sums less the diagonal counted twice), G = A_rr - W
    if keep_g:
        M = G * B.dense()
        row = (M @ s + s @ M - jnp.diagonal(M) * s)[:qr]
    else:  # from the pieces: A_rr's z x z block, W's pairs (and heavy levels, below), the rows of X and y
        AB = jnp.where((i < qr) & (j < qr), data.A_low * B.dense(), 0.0)
        row = (AB @ s + s @ AB - jnp.diagonal(AB) * s)[:qr] + (Gb[:, :qr] * B.dense(qr)[:, :qr]).T @ s[qr:]
        j1, j2 = data.ptarget // qr, data.ptarget % qr  # the pairs' targets (j1 >= j2)
        w = data.pval[:, 0, 0] * v[data.pg] * B.dense()[:qr, :qr].ravel()[data.ptarget]
        row = row - (jax.ops.segment_sum(w * s[j2], j1, num_segments=qr)
                     + jax.ops.segment_sum(jnp.where(j1 != j2, w * s[j1], 0.0), j2, num_segments=qr))
    B2 = B.dense() * s[:, None] * s[None, :] * jnp.where(i == j, 1.0, 2.0)  # an expression, gathered at the pairs
    q = _level_quadratic(B2[:qr, :qr].ravel()[data.ptarget], B.dense(qr), s, data, qr)
    if data.hg.shape[0]:  # heavy levels: P = C~ B (C~ = Ch diag(s)), for their quadratic forms (and part of W)
        rows, _, blocks = _heavy_blocks(data, qr)
        low = B.dense()
        B_zz = (low + low.T - jnp.diag(jnp.diagonal(low)))[:qr, :qr]  # symmetric, written out once

        def heavy(b, carry):
            q, row = carry
            Ch, hg = _heavy_block(data, qr, rows, b)
            Cs = Ch * s[None, :qr]
            P = Cs @ B_zz
            q = q.at[hg].add(jnp.sum(Cs * P, axis=1))
            return q, (row if keep_g else row - jnp.sum(v[hg][:, None] * Ch * P, axis=0))

        q, row = jax.lax.fori_loop(0, blocks, heavy, (q, row))
    g_rest = jnp.stack([2.0 * jnp.sum(row[off : off + lt]) for off, lt, _ in spec.layout])
    g1 = jnp.sum(2.0 * t1 * d0 / a) - jnp.sum(2.0 * t1 / a**2 * q)
    return f, jnp.concatenate([g1[None], g_rest])


def _level_quadratic(B2_pairs, Bb, s, data, qr):
    """``c~_g' B c~_g`` per level g of term 1 (l1,) without the heavy levels' own pairs: ``B2_pairs`` the pairs'
    ``B_t s_j1 s_j2 (2 - [j1 = j2])``, ``Bb`` the rows of X and y of ``B`` (lower triangle)."""
    C = data.Cxy[:, 0, :]
    l1 = C.shape[0]
    zz = jax.ops.segment_sum(data.pval[:, 0, 0] * B2_pairs, data.pg, num_segments=l1, indices_are_sorted=True)
    B2_bz = 2.0 * Bb[:, :qr] * s[None, :qr]  # (p + 1, qr)
    zx = jax.ops.segment_sum(data.ev[:, 0] * jnp.sum(C[data.eg] * B2_bz.T[data.ej], axis=1), data.eg,
                             num_segments=l1, indices_are_sorted=True)
    B2_bb = jnp.tril(Bb[:, qr:]) * (2.0 - jnp.eye(Bb.shape[0]))
    xx = jnp.einsum("ga,ab,gb->g", C, B2_bb, C)
    return zz + zx + xx


def _b_of(Q, qr: int, dof, reml: bool) -> "_B":
    """``B``'s pieces from ``Q`` (see ``_B``)."""
    nr = Q.shape[0]
    u = Q[-1]
    Qbz = jnp.where(jnp.arange(nr) < qr, Q[qr:], 0.0)
    Q_bb = jnp.tril(Q[qr:, qr:]) + jnp.tril(Q[qr:, qr:], -1).T
    K = jnp.zeros_like(Qbz) if reml else jnp.linalg.solve(Q_bb, Qbz)
    return _B(Q, qr, reml, ((dof - 1.0) if reml else dof) / u[-1], u, Qbz, K)


class _B(NamedTuple):
    """``B`` (lower triangle), the derivative of the Schur terms in ``S`` (module doc), as an elementwise function of
    ``Q = S^{-1}`` (lower triangle). With ``u = Q[y, :]`` (``S^{-1} = [[S_aa^{-1} + z z' / r^2, -z / r^2], [.,
    1 / r^2]]``, ``z = S_aa^{-1} s_ay``): ``(dof / r^2) w w' = dof u u' / Q_yy``, ``S_aa^{-1}`` (padded) ``= Q - u u'
    / Q_yy`` and ``S_zz^{-1} = Q_zz - Q_zb Q_bb^{-1} Q_bz`` (``b``: X and y), so

        REML: B = Q + c u u',  c = (dof - 1) / Q_yy;   ML: B = [Q_zz - Q_zb K, 0; 0, 0] + c u u',  c = dof / Q_yy

    with ``K = Q_bb^{-1} Q_bz`` (``p + 1`` rows: the correction has rank ``p + 1``)."""

    Q: jax.Array
    qr: int
    reml: bool
    c: jax.Array
    u: jax.Array
    Qbz: jax.Array  # (p + 1, nr), zero beyond the z columns (ML)
    K: jax.Array  # (p + 1, nr) (ML)

    def dense(self, start: int = 0):
        """Rows ``start:`` of ``B`` (lower triangle) as an expression XLA fuses into its consumer (never written
        out): ``start = qr`` gives the rows of X and y, ``(p + 1, nr)``."""
        nr = self.Q.shape[0]
        i, j = jnp.arange(start, nr)[:, None], jnp.arange(nr)[None, :]
        out = self.c * self.u[start:, None] * self.u[None, :]
        if self.reml:
            out = out + self.Q[start:]
        elif start < self.qr:
            corr = sum(self.Qbz[k][start:, None] * self.K[k][None, :] for k in range(self.K.shape[0]))
            out = out + jnp.where((i < self.qr) & (j < self.qr), self.Q[start:] - corr, 0.0)
        return jnp.where(i >= j, out, 0.0)
