"""What the LMM result reports beyond the estimates (``mixjax.objectives.lmm_estimates``), on the host (numpy):
the estimates as numpy values, covariance parts, and lme4's conditional variances."""
from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._exported import DiskCached
from ..design import Design
from ..linalg.crossprod import term_matrix
from ..objectives.lmm import LmmObjective
from ..objectives.lmm_buckets import unpad_estimates
from ..objectives.lmm_estimates import Estimates
from ..objectives.lmm_estimates import estimates as device_estimates

__all__ = ["Estimates", "conditional_variances", "covariance_parts", "estimates", "varcorr_frame"]

_ESTIMATES = DiskCached(device_estimates)  # a new process loads the program instead of tracing it


def estimates(obj: LmmObjective, design: Design, theta: np.ndarray) -> Estimates:
    """The estimates at ``theta`` as numpy arrays (``sigma`` and ``pwrss`` as floats), one ``b`` and ``T`` per
    term of the design (effects ``b = L v`` of a term with a known covariance ``K = L L'`` over its levels)."""
    data, spec = obj.bucketed()
    est = jax.device_get(_ESTIMATES(np.asarray(theta, dtype=np.float64), data, spec=spec))
    if spec is not obj.spec:  # padded to size buckets
        est = unpad_estimates(est, obj.spec, obj.data.D0.shape[0])
    skip = len(est.b) - len(design.terms)  # the empty term 1 of ``engine_terms``
    b = tuple(v if t.relfactor is None else t.relfactor @ v for t, v in zip(design.terms, est.b[skip:]))
    return est._replace(b=b, T=est.T[skip:], sigma=float(est.sigma), pwrss=float(est.pwrss))


def _z_matrix(design: Design, T: tuple) -> sp.csr_matrix:
    """``Z Lambda`` as a sparse matrix (n x q); ``Lambda``'s block of a term with a known covariance over its levels
    is ``L kron T``."""
    blocks = []
    for t, Tt in zip(design.terms, T):
        Z = term_matrix(t.codes, t.Z @ Tt, t.n_levels)
        blocks.append(Z if t.relfactor is None else Z @ sp.kron(sp.csr_matrix(t.relfactor), sp.identity(t.k)))
    return sp.hstack(blocks, format="csr")


def covariance_parts(sigma: float, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A term's random-effects covariance ``sigma^2 T T'``, its SDs and its correlations (NaN where an SD is 0)."""
    cov = sigma**2 * T @ T.T
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(np.outer(sd, sd) > 0, cov / np.outer(sd, sd), np.nan)
    return cov, sd, corr


def varcorr_frame(rows: list) -> pd.DataFrame:
    """R's ``as.data.frame(VarCorr(m))`` from ``(group, var1, var2, vcov, sdcor)`` rows: text columns with one
    missing marker (NaN, R's NA) wherever a name does not apply."""
    frame = pd.DataFrame(rows, columns=["group", "var1", "var2", "vcov", "sdcor"])
    text = pd.StringDtype(na_value=np.nan)
    return frame.astype({"group": text, "var1": text, "var2": text, "vcov": float, "sdcor": float})


def conditional_variances(design: Design, est: Estimates, max_dense: int = 6000, gram=None) -> tuple:
    """lme4's ``condVar``: per term ``(n_levels, k, k)`` blocks of ``sigma^2 Lambda (Lambda'Z'WZ Lambda + I)^{-1}
    Lambda'`` (conditional on the fixed effects). ``gram``: ``Z'WZ`` (q, q) sparse, given where the rows are not
    kept (streamed fits: ``crossprod.z_gram``; terms without a known covariance over their levels)."""
    q = sum(t.n_levels * t.k for t in design.terms)
    dense = len(design.terms) > 1 or design.terms[0].relfactor is not None
    if dense and q > max_dense:
        raise ValueError(
            f"conditional variances for {q} crossed or nested random effects need a dense {q} x {q} inverse; "
            f"only up to {max_dense} are computed."
        )
    if gram is None:
        ZL = _z_matrix(design, est.T)
        M = (ZL.T @ sp.csr_matrix(ZL.multiply(design.weights[:, None]))).toarray() + np.eye(q)
    else:
        lam = sp.block_diag([sp.kron(sp.identity(t.n_levels), Tt) for t, Tt in zip(design.terms, est.T)], format="csr")
        M = (lam.T @ gram @ lam).toarray() + np.eye(q)
    Minv = np.linalg.inv(M) if dense else None
    out, off = [], 0
    for term, Tt in zip(design.terms, est.T):
        l, k = term.n_levels, term.k
        if Minv is None:  # one term: the blocks of M are its diagonal blocks
            blocks = np.linalg.inv(M.reshape(l, k, l, k)[np.arange(l), :, np.arange(l), :])
        else:
            block = Minv[off : off + l * k, off : off + l * k].reshape(l, k, l, k)
            if term.relfactor is None:
                blocks = block[np.arange(l), :, np.arange(l), :]
            else:  # the diagonal blocks of (L kron I) M^{-1} (L kron I)'
                blocks = np.einsum("gm,makb,gk->gab", term.relfactor, block, term.relfactor, optimize=True)
        out.append(est.sigma**2 * np.einsum("ij,gjk,lk->gil", Tt, blocks, Tt))
        off += l * k
    return tuple(out)
