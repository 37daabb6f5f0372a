"""Everything the LMM result reports, computed once from the factorization at the optimum (host, numpy).

With the Cholesky factor ``L`` of the rest's Schur complement (see ``mixjax.objectives.lmm``), the last row holds
the right-hand side: ``L_aa' [u_r; beta] = L[-1, :-1]`` gives the fixed effects and the spherical random effects
of terms 2..m; those of term 1 follow per level, ``u_1g = -D_g^{-1} T1' C0_g [b_r; beta; -1]``; ``b = Lambda u``.
``vcov(beta) = sigma^2 (L_X L_X')^{-1}``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solve_triangular

from ..design import Design
from ..linalg.crossprod import term_matrix
from ..objectives.lmm import LmmObjective

__all__ = ["Estimates", "estimates", "conditional_variances", "covariance_parts"]


class Estimates(NamedTuple):
    beta: np.ndarray  # (p,)
    b: tuple  # per term (n_levels, k) conditional modes
    sigma: float
    vcov: np.ndarray  # (p, p)
    T: tuple  # per term (k, k) relative covariance factor
    pwrss: float


def estimates(obj: LmmObjective, design: Design, theta: np.ndarray) -> Estimates:
    f = obj.factor(theta)
    L, Ld, T1 = np.asarray(f.L), np.asarray(f.Ld), np.asarray(f.T1)
    Tr = [np.asarray(T) for T in f.Tr]
    p = design.p
    qr = sum(lt * kt for _, lt, kt in obj.layout)
    z = solve_triangular(L[:-1, :-1].T, L[-1, :-1], lower=False)
    beta, ur = z[qr:], z[:qr]
    br = [ur[off : off + lt * kt].reshape(lt, kt) @ T.T for (off, lt, kt), T in zip(obj.layout, Tr)]
    cp = obj.cp
    s = cp.Cxy @ np.append(beta, -1.0)  # s_g = C0_g [b_r; beta; -1], (l1, k1)
    if qr:
        np.add.at(s, cp.eg, cp.ev * np.concatenate([b.ravel() for b in br])[cp.ej][:, None])
    rhs = -np.einsum("ji,gj->gi", T1, s)  # -T1' s_g
    u1 = np.linalg.solve(np.einsum("gij,gkj->gik", Ld, Ld), rhs[:, :, None])[:, :, 0]
    b1 = u1 @ T1.T
    pwrss = float(L[-1, -1] ** 2)
    sigma2 = pwrss / (design.n_obs - p if obj.reml else design.n_obs)
    Linv = solve_triangular(L[qr : qr + p, qr : qr + p], np.eye(p), lower=True)
    return Estimates(beta, (b1, *br), float(np.sqrt(sigma2)), sigma2 * Linv.T @ Linv, (T1, *Tr), pwrss)


def _z_matrix(design: Design, T: tuple) -> sp.csr_matrix:
    """``Z Lambda`` as a sparse matrix (n x q)."""
    return sp.hstack([term_matrix(t.codes, t.Z @ Tt, t.n_levels) for t, Tt in zip(design.terms, T)], format="csr")


def covariance_parts(sigma: float, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A term's random-effects covariance ``sigma^2 T T'``, its SDs and its correlations (NaN where an SD is 0)."""
    cov = sigma**2 * T @ T.T
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(np.outer(sd, sd) > 0, cov / np.outer(sd, sd), np.nan)
    return cov, sd, corr


def conditional_variances(design: Design, est: Estimates, max_dense: int = 6000) -> tuple:
    """lme4's ``condVar``: per term ``(n_levels, k, k)`` blocks of ``sigma^2 Lambda (Lambda'Z'WZ Lambda + I)^{-1}
    Lambda'`` (conditional on the fixed effects)."""
    ZL = _z_matrix(design, est.T)
    q = ZL.shape[1]
    if len(design.terms) > 1 and q > max_dense:
        raise ValueError(
            f"conditional variances for {q} crossed or nested random effects need a dense {q} x {q} inverse; "
            f"only up to {max_dense} are computed."
        )
    M = (ZL.T @ sp.csr_matrix(ZL.multiply(design.weights[:, None]))).toarray() + np.eye(q)
    Minv = np.linalg.inv(M) if len(design.terms) > 1 else None
    out, off = [], 0
    for term, Tt in zip(design.terms, est.T):
        l, k = term.n_levels, term.k
        if Minv is None:  # one term: the blocks of M are its diagonal blocks
            blocks = np.linalg.inv(M.reshape(l, k, l, k)[np.arange(l), :, np.arange(l), :])
        else:
            blocks = Minv[off : off + l * k, off : off + l * k].reshape(l, k, l, k)[np.arange(l), :, np.arange(l), :]
        out.append(est.sigma**2 * np.einsum("ij,gjk,lk->gil", Tt, blocks, Tt))
        off += l * k
    return tuple(out)
