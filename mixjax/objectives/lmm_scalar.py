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
whole block, ``_cotangent``). ``dS = diag(ds) G diag(s) + diag(s) G diag(ds) - diag(s) dW diag(s)`` gives

    dd/dtau_t = 2 sum_{i in term t} sum_j G_ij s_j B_ij                                     (t >= 2)
    dd/dtau_1 = sum_g 2 tau_1 d0_g / a_g - sum_g (2 tau_1 / a_g^2) c~_g' B c~_g,   c~_g = diag(s) c_g

where ``c~_g' B c~_g`` is summed over level g's pairs of coupling entries (the pairs that build ``W``: one gather
of ``B`` at their targets) and its products with X and y. So an evaluation is one scatter of the pairs forward,
one host call (``potrf`` + ``potri``), one gather over the pairs back and a few elementwise passes and
matrix-vector products over the dense block: on InstEval about 25% less time than reverse-mode differentiation
through the general blocked system (``benchmarks/RESULTS.md``). The chain rule to theta is the Jacobian of the few
``tau_t`` (forward mode on the covariance structures' ``factor``).

Only the lower triangles of ``A_rr``, ``G``, ``S``, ``P`` and ``B`` are used (their upper ones hold zeros).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..linalg.crossprod import heavy_rows
from ..linalg.lapack import cholesky_diag_inverse

__all__ = ["all_scalar", "value_grad"]


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


def _coupled(A_low, v, data, qr, Ch):
    """``G = A_rr - W`` (lower triangle), ``W = sum_g v_g c_g c_g'``: the pairs of coupling entries scattered into
    a copy of ``A_rr`` (flat index ``j1 * nr + j2`` from the pair's ``j1 * qr + j2``), then the rows of X and y;
    ``Ch`` (n_heavy, qr): the heavy levels' coupling rows, or None."""
    nr = A_low.shape[0]
    C = data.Cxy[:, 0, :]  # (l1, p + 1)
    ev = data.ev[:, 0]
    W_xx = (C * v[:, None]).T @ C
    W_zx = jax.ops.segment_sum(C[data.eg] * (v[data.eg] * ev)[:, None], data.ej, num_segments=qr)
    target = data.ptarget + (data.ptarget // qr) * (nr - qr)
    G = A_low.ravel().at[target].add(-data.pval[:, 0, 0] * v[data.pg], mode="promise_in_bounds").reshape(nr, nr)
    if Ch is not None:  # heavy levels (no pairs listed): their dense coupling rows, one matrix product
        G = G.at[:qr, :qr].add(-jnp.tril((Ch * v[data.hg][:, None]).T @ Ch))
    return G.at[qr:].add(-jnp.concatenate([W_zx.T, jnp.tril(W_xx)], axis=1))


def _level_quadratic(B2, data, qr, Ch):
    """``c~_g' B c~_g`` per level g of term 1 (l1,), from ``B2 = B ∘ ss' ∘ (2 - I)`` (lower triangle);
    ``Ch`` as in ``_coupled``."""
    C = data.Cxy[:, 0, :]
    l1 = C.shape[0]
    zz = jax.ops.segment_sum(data.pval[:, 0, 0] * B2[:qr, :qr].ravel()[data.ptarget], data.pg, num_segments=l1,
                             indices_are_sorted=True)
    zx = jax.ops.segment_sum(data.ev[:, 0] * jnp.sum(C[data.eg] * B2[qr:, :qr].T[data.ej], axis=1), data.eg,
                             num_segments=l1, indices_are_sorted=True)
    xx = jnp.einsum("ga,ab,gb->g", C, jnp.tril(B2[qr:, qr:]), C)
    if Ch is not None:  # heavy levels: c' tril(B2) c from their dense coupling rows
        zz = zz.at[data.hg].add(jnp.sum((Ch @ B2[:qr, :qr]) * Ch, axis=1))  # B2: lower triangle
    return zz + zx + xx


def value_grad(theta, data, spec):
    """``(d(theta), grad d(theta))`` of the profiled deviance (see the module doc); ``spec`` an ``LmmSpec`` with
    ``all_scalar(spec)``, ``data`` its ``LmmData``."""
    tau = _taus(theta, spec.covs)
    jac = jax.jacfwd(lambda t: _taus(t, spec.covs))(theta)  # (m, n_theta)
    f, g_tau = _value_grad_tau(tau, data, spec)
    return f, jac.T @ g_tau


def _value_grad_tau(tau, data, spec):
    """Value and gradient in ``tau`` (m,). The dense expressions are broadcasts of vectors, so that XLA fuses each
    into one loop (no outer product or padded matrix is written out); row sums are matrix-vector products."""
    qr, nr = spec.qr, spec.nr
    if spec.reml is None:  # a padded spec (``lmm_buckets``): this pass reads REML or ML from the spec only
        raise ValueError("lmm_scalar.value_grad needs an unpadded spec (its reml set)")
    t1 = tau[0]
    d0 = data.D0[:, 0, 0]
    a = 1.0 + t1**2 * d0
    v = t1**2 / a
    s = _scales(tau, spec.layout, nr)
    # the heavy levels' dense coupling rows (``crossprod.heavy_rows``), built once for both passes
    Ch = heavy_rows(data.ev, data.ej, data.hg, data.hrow, qr)[:, :, 0] if data.hg.shape[0] else None
    G = _coupled(data.A_low, v, data, qr, Ch)
    i, j = jnp.arange(nr)[:, None], jnp.arange(nr)[None, :]
    diag, Q = cholesky_diag_inverse(G * s[:, None] * s[None, :] + jnp.where((i == j) & (i < qr), 1.0, 0.0))
    log_det = jnp.sum(jnp.log(a)) + 2.0 * jnp.sum(jnp.log(diag[:qr])) - data.log_det_w
    if spec.reml:
        log_det = log_det + 2.0 * jnp.sum(jnp.log(diag[qr:-1]))
        dof = data.n - getattr(data, "p", spec.p)
    else:
        dof = data.n
    r2 = diag[-1] ** 2
    f = log_det + dof * (1.0 + jnp.log(2.0 * jnp.pi * r2 / dof))

    B = _cotangent(Q, qr, dof, spec.reml)
    # sum_j G_ij s_j B_ij over the whole symmetric row i: the lower triangle's row and column sums (G's upper
    # triangle holds zeros), less the diagonal counted twice
    M = G * B
    row = M @ s + s @ M - jnp.diagonal(M) * s
    g_rest = jnp.stack([2.0 * jnp.sum(row[off : off + lt]) for off, lt, _ in spec.layout])
    q = _level_quadratic(B * s[:, None] * s[None, :] * jnp.where(i == j, 1.0, 2.0), data, qr, Ch)
    g1 = jnp.sum(2.0 * t1 * d0 / a) - jnp.sum(2.0 * t1 / a**2 * q)
    return f, jnp.concatenate([g1[None], g_rest])


def _cotangent(Q, qr, dof, reml):
    """``B`` (lower triangle) from ``Q = S^{-1}`` (lower triangle). With ``u = Q[y, :]`` (``S^{-1} = [[S_aa^{-1} +
    z z' / r^2, -z / r^2], [., 1 / r^2]]``, ``z = S_aa^{-1} s_ay``): ``(dof / r^2) w w' = dof u u' / Q_yy``,
    ``S_aa^{-1}`` (padded) ``= Q - u u' / Q_yy`` and ``S_zz^{-1} = Q_zz - Q_zb Q_bb^{-1} Q_bz`` (``b``: X and y)."""
    nr = Q.shape[0]
    i, j = jnp.arange(nr)[:, None], jnp.arange(nr)[None, :]
    u = Q[-1]
    if reml:
        return jnp.where(i >= j, Q + ((dof - 1.0) / u[-1]) * u[:, None] * u[None, :], 0.0)
    Q_bz = jnp.where(jnp.arange(nr) < qr, Q[qr:], 0.0)  # (p + 1, nr), zero beyond the z columns
    Q_bb = jnp.tril(Q[qr:, qr:]) + jnp.tril(Q[qr:, qr:], -1).T
    K = jnp.linalg.solve(Q_bb, Q_bz)
    corr = sum(Q_bz[k][:, None] * K[k][None, :] for k in range(nr - qr))  # rank p + 1, zero outside z x z
    return jnp.where(i >= j, jnp.where((i < qr) & (j < qr), Q - corr, 0.0) + (dof / u[-1]) * u[:, None] * u[None, :],
                     0.0)
