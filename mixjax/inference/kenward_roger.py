"""Kenward-Roger: the adjusted covariance of an LMM's fixed effects and the degrees of freedom of tests on them,
exactly as pbkrtest's ``vcovAdj`` and ``Lb_ddf`` / ``KRmodcomp`` define them, without any n x n matrix.

pbkrtest writes the marginal covariance as ``V = sum_i gamma_i G_i`` over the variance parameters ``gamma``: each
entry ``(a, b)`` (lower triangle) of each term's covariance, ``G = Z_t (E_ab + E_ba) Z_t'`` (``E_aa`` on the
diagonal), then the residual variance with ``G = I``; and forms ``n x n`` products of ``V^{-1}``, ``G_i`` and ``X``.
Every such product here is computed in the span of ``W = [Z X]``: with ``Lambda`` the relative covariance factor,
``C = Lambda (Lambda' Z'Z Lambda + I)^{-1} Lambda'`` and ``V^{-1} = (I - Z C Z') / sigma^2``,

- ``G_i V^{-1} X = W U_i``: ``U_i = [S_i Xi; 0]`` for a random-effects parameter (``S_i`` the q x q pattern of its
  entries, ``Xi = Z'V^{-1}X``), ``U_res = [-C Z'X; I] / sigma^2`` for the residual;
- ``Omega = W'V^{-1}W = (W'W - W'Z C Z'W) / sigma^2``, so that ``X'V^{-1} G_i V^{-1} X = Omega[:, X]' U_i`` and
  ``X'V^{-1} G_i V^{-1} G_j V^{-1} X = U_i' Omega U_j``;
- the traces ``tr(V^{-1} G_i V^{-1} G_j)`` from ``Psi = Z'V^{-1}Z``, ``Z'V^{-2}Z`` and ``tr(V^{-2})``.

The cost is that of dense ``(q + p) x (q + p)`` algebra (q random effects), independent of n: pbkrtest's dense
``n x n`` algebra is out of reach for InstEval (73,421 rows), this is not. Prior weights enter as ``W^{1/2}``
scaling of the rows (the residual ``G`` is then ``W^{-1}``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..linalg.crossprod import term_matrix

__all__ = ["KenwardRoger", "contrast_df", "f_test", "kenward_roger"]


class KenwardRoger(NamedTuple):
    """``vcov`` (Phi, unadjusted) and ``vcov_adjusted`` (pbkrtest's ``vcovAdj``) of the fixed effects, ``P`` (the
    list of ``-X'V^{-1} G_i V^{-1} X``) and ``W`` (twice the inverse expected information of the variance
    parameters), which the degrees of freedom use."""

    vcov: np.ndarray
    vcov_adjusted: np.ndarray
    P: list
    W: np.ndarray


def _patterns(design) -> list:
    """Per variance parameter (pbkrtest's order: each term's covariance entries down the columns of its lower
    triangle), the pairs of index arrays ``(ia, ib)`` into the q random effects: ``S = P_a P_b' (+ P_b P_a')``."""
    out, off = [], 0
    for t in design.terms:
        idx = [off + np.arange(t.n_levels) * t.k + a for a in range(t.k)]
        out += [(idx[a], idx[b]) for b in range(t.k) for a in range(b, t.k)]
        off += t.n_levels * t.k
    return out


def _spread(pattern, N: np.ndarray, q: int) -> np.ndarray:
    """``S N`` for the pattern ``(ia, ib)`` of ``S`` (rows of N indexed by the q random effects)."""
    out = np.zeros((q, N.shape[1]))
    for a, b in _pairs(pattern):
        out[a] += N[b]
    return out


def _trace(A: np.ndarray, pi, pj, B: np.ndarray | None = None) -> float:
    """``tr(S_i A S_j B)`` (``B = A`` by default) for patterns ``pi``, ``pj``."""
    B = A if B is None else B
    total = 0.0
    for a, b in _pairs(pi):
        for c, d in _pairs(pj):
            total += np.sum(A[np.ix_(b, c)] * B[np.ix_(d, a)].T)
    return float(total)


def _pairs(pattern) -> list:
    ia, ib = pattern
    return [(ia, ib)] if np.array_equal(ia, ib) else [(ia, ib), (ib, ia)]


def _diag_trace(R: np.ndarray, pattern) -> float:
    """``tr(S R)``."""
    return float(sum(np.sum(R[b, a]) for a, b in _pairs(pattern)))


def kenward_roger(design, T: tuple, sigma: float) -> KenwardRoger:
    """pbkrtest's ``vcovAdj`` (with its ``P`` and ``W``) for an LMM with relative covariance factors ``T`` (per
    term) and residual SD ``sigma`` (a REML fit)."""
    sw = np.sqrt(design.weights)
    Z = sp.hstack([term_matrix(t.codes, t.Z * sw[:, None], t.n_levels) for t in design.terms], format="csc")
    X = design.X * sw[:, None]
    q, p = Z.shape[1], X.shape[1]
    Lam = sp.block_diag([sp.kron(sp.eye(t.n_levels), Tt) for t, Tt in zip(design.terms, T)], format="csc")
    ZZ, ZX, XX = (Z.T @ Z).toarray(), np.asarray(Z.T @ X), X.T @ X
    M = (Lam.T @ sp.csc_matrix(ZZ) @ Lam).toarray() + np.eye(q)
    LamD = Lam.toarray()
    C = LamD @ np.linalg.solve(M, LamD.T)
    s2 = sigma**2
    K = np.block([[ZZ, ZX], [ZX.T, XX]])
    KZ = K[:q]  # Z'W
    Omega = (K - KZ.T @ C @ KZ) / s2
    Psi, Xi = Omega[:q, :q], Omega[:q, q:]
    Phi = np.linalg.inv(Omega[q:, q:])
    B = np.eye(q) - ZZ @ C
    ZV2Z = B @ ZZ @ B.T / s2**2
    CZZ = C @ ZZ
    trace_V2 = (design.n_obs - 2 * np.trace(CZZ) + np.sum(CZZ * CZZ.T)) / s2**2
    patterns = _patterns(design)
    U = [np.vstack([_spread(pat, Xi, q), np.zeros((p, p))]) for pat in patterns]
    U.append(np.vstack([-C @ ZX, np.eye(p)]) / s2)
    P = [-(Omega[:, q:].T @ Ui) for Ui in U]
    P = [(Pi + Pi.T) / 2 for Pi in P]
    Q = [[Ui.T @ Omega @ Uj for Uj in U] for Ui in U]
    g = len(U)
    Ktrace = np.empty((g, g))
    for i in range(g):
        for j in range(i, g):
            if j < g - 1:
                v = _trace(Psi, patterns[i], patterns[j])
            elif i < g - 1:
                v = _diag_trace(ZV2Z, patterns[i])
            else:
                v = trace_V2
            Ktrace[i, j] = Ktrace[j, i] = v
    IE2 = np.array([[Ktrace[i, j] - 2 * np.sum(Phi * Q[i][j]) + np.sum((Phi @ P[i]) * (P[j] @ Phi))
                     for j in range(g)] for i in range(g)])
    cond = np.min(np.abs(np.linalg.eigvalsh(IE2)))
    W = 2 * (np.linalg.inv(IE2) if cond > 1e-10 else np.linalg.pinv(IE2))
    W = (W + W.T) / 2
    Uadj = sum(W[i, j] * (Q[i][j] - P[i] @ Phi @ P[j]) for i in range(g) for j in range(g))
    return KenwardRoger(Phi, Phi + 2 * Phi @ Uadj @ Phi, P, W)


def _moments(kr: KenwardRoger, L: np.ndarray) -> tuple[float, float, int]:
    """pbkrtest's ``A1``, ``A2`` and the rank ``q`` of ``L``."""
    Phi = kr.vcov
    Theta = L.T @ np.linalg.solve(L @ Phi @ L.T, L)
    u = [Theta @ Phi @ Pi @ Phi for Pi in kr.P]
    tr = np.array([np.trace(ui) for ui in u])
    A1 = float(tr @ kr.W @ tr)
    A2 = float(sum(kr.W[i, j] * np.sum(u[i] * u[j].T) for i in range(len(u)) for j in range(len(u))))
    return A1, A2, int(np.linalg.matrix_rank(L))


def _ddf(A1: float, A2: float, q: int) -> float:
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    c1, c2, c3 = (np.array([g, q - g, q + 2 - g]) / (3 * q + 2 * (1 - g)))
    V0, V1, V2 = 1 + c1 * B, 1 - c2 * B, 1 - c3 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    x, y = 1 - A2 / q, V1
    ratio = 1.0 if abs(x) < 1e-14 and abs(y) < 1e-14 else x / y
    rho = ratio**2 * V0 / V2 / q
    return float(4 + (q + 2) / (q * rho - 1))


def contrast_df(kr: KenwardRoger, L: np.ndarray) -> np.ndarray:
    """Degrees of freedom of each row of ``L`` as a single contrast (pbkrtest's ``Lb_ddf``)."""
    return np.array([_ddf(*_moments(kr, row[None, :])) for row in np.atleast_2d(L)])


def f_test(kr: KenwardRoger, L: np.ndarray, beta: np.ndarray) -> tuple[float, float, int, float]:
    """(F, unscaled F, numerator df, denominator df) for ``L beta = 0``, as pbkrtest's ``KRmodcomp``: the Wald
    statistic on the adjusted covariance over q, scaled by ``df2 (1 - A2 / q) / (df2 - 2)``."""
    L = np.atleast_2d(L)
    A1, A2, q = _moments(kr, L)
    df2 = _ddf(A1, A2, q)
    Lb = L @ beta
    F_unscaled = float(Lb @ np.linalg.solve(L @ kr.vcov_adjusted @ L.T, Lb) / q)
    scale = 1.0 if abs(df2 - 2) < 0.01 else df2 * (1 - A2 / q) / (df2 - 2)
    return scale * F_unscaled, F_unscaled, q, df2
