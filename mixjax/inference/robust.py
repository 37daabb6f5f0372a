"""Cluster-robust ("sandwich") covariance of an LMM's fixed effects: clubSandwich's ``vcovCR`` and ``coef_test``
for lme4 ``lmer`` fits.

The working model is the fitted one. Within cluster j its marginal covariance, relative to ``sigma^2``, is
``V_j = Z_j Lambda Lambda' Z_j' + diag(1 / w_j)`` (clubSandwich's ``targetVariance``), its weight matrix
``W_j = V_j^-1``, the bread ``M = (sum_j X_j' W_j X_j)^-1`` (lme4's ``vcov(m) / sigma^2``) and the residuals the
marginal ones, ``r = y - X beta``. The estimate is ``M (sum_j E_j r_j r_j' E_j') M`` with ``E_j = X_j' W_j A_j``:

- ``CR0``: ``A_j = I``;
- ``CR1``: ``A_j = sqrt(J / (J - 1)) I`` (so CR1 is CR0 times ``J / (J - 1)``, J the number of clusters);
  ``CR1p``: ``sqrt(J / (J - p))``; ``CR1S``: ``sqrt(J (N - 1) / ((J - 1) (N - p)))`` (Stata's small-sample factor
  for ``regress, vce(cluster)``);
- ``CR2`` (Bell and McCaffrey, clubSandwich's default): ``A_j = L_j G_j^(-1/2) L_j'`` with ``L_j`` the lower
  Cholesky factor of ``V_j`` and ``G_j = L_j' (V_j - X_j M X_j') L_j``; the inverse square root is taken over the
  eigenvalues above 1e-12 (clubSandwich's ``matrix_power``);
- ``CR3`` (jackknife-like): ``A_j = (I - X_j M X_j' W_j)^-1``.

clubSandwich refuses lmer fits with prior weights; here the weights enter ``V_j`` as in the fit (untested against R).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ROBUST_TESTS", "ROBUST_TYPES", "coef_test_robust", "vcov_robust"]

ROBUST_TYPES = ("CR0", "CR1", "CR1p", "CR1S", "CR2", "CR3")
ROBUST_TESTS = ("Satterthwaite", "naive-t", "naive-tp", "z")


# ------------------------------------------------------------------------------------------ checks


def _check_fit(fit) -> None:
    from ..results.lmm import LmmFit

    if isinstance(fit, LmmFit):
        return
    kind = type(fit).__name__
    what = {"GlmmFit": "a GLMM", "NlmeFit": "a nonlinear mixed model (NLME)"}.get(kind, f"a {kind}")
    raise ValueError(
        f"cluster-robust covariance is supported only for linear mixed models (mixjax.lmm fits); got {what} "
        f"fit ({kind}). clubSandwich's vcovCR for lmer fits is what this matches."
    )


def _check_type(type: str) -> str:
    if type not in ROBUST_TYPES:
        raise ValueError(f"unknown robust covariance type {type!r}; valid types: {', '.join(ROBUST_TYPES)}.")
    return type


def _nested(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Every level of ``inner`` lies within one level of ``outer`` (clubSandwich's ``check_nested``)."""
    n_inner = int(inner.max()) + 1
    first = np.full(n_inner, -1, dtype=np.int64)
    first[inner] = outer  # the outer level of some row of each inner level
    return bool(np.all(first[inner] == outer))


def _cluster_term(fit, cluster: str | None):
    """The grouping factor that defines the clusters: ``cluster`` by name, else clubSandwich's default (the factor
    with the fewest levels); every grouping factor of the model must nest within it."""
    terms = fit.design.terms
    factors = {}
    for t in terms:
        factors.setdefault(t.factor, t)
    if cluster is None:
        chosen = min(factors.values(), key=lambda t: t.n_levels)  # lme4's flist order breaks ties, as which.min
    elif cluster in factors:
        chosen = factors[cluster]
    else:
        raise ValueError(
            f"unknown cluster {cluster!r}: the clusters must be a grouping factor of the model; its grouping "
            f"factors are {', '.join(map(repr, factors))}."
        )
    crossed = [name for name, t in factors.items() if not _nested(t.codes, chosen.codes)]
    if crossed:
        raise ValueError(
            f"the random effects of {', '.join(map(repr, crossed))} are not nested within the clusters "
            f"{chosen.factor!r} (crossed or partially crossed random effects), so the marginal covariance is not "
            "block-diagonal by cluster; cluster-robust covariance needs every grouping factor nested within the "
            "clusters (clubSandwich refuses such models too)."
        )
    return chosen


# ------------------------------------------------------------------------------------------ computation


def _inv_sqrt_psd(G: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """``G^(-1/2)`` over the eigenvalues above ``tol`` (others set to 0), as clubSandwich's ``matrix_power``."""
    values, vectors = np.linalg.eigh(G)
    keep = values > tol
    power = np.zeros_like(values)
    power[keep] = values[keep] ** -0.5
    return (vectors * power) @ vectors.T


def _blocks(fit, cluster_term):
    """Per cluster: rows, ``X_j``, ``V_j`` (relative to sigma^2), ``W_j = V_j^-1`` and ``L_j = chol(V_j)``."""
    d = fit.design
    codes = np.asarray(cluster_term.codes)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    ZT = [np.asarray(t.Z, dtype=float) @ np.asarray(T, dtype=float) for t, T in zip(d.terms, fit._est.T)]
    X = np.asarray(d.X, dtype=float)
    inv_w = 1.0 / np.asarray(d.weights, dtype=float)
    out = []
    for rows in np.split(order, bounds):
        V = np.diag(inv_w[rows])
        for t, zt in zip(d.terms, ZT):
            c = np.asarray(t.codes)[rows]
            V += (zt[rows] @ zt[rows].T) * (c[:, None] == c[None, :])
        L = np.linalg.cholesky(V)
        Linv = np.linalg.solve(L, np.eye(len(rows)))
        out.append((rows, X[rows], V, Linv.T @ Linv, L))
    return out


def _robust(fit, type: str, cluster: str | None) -> dict:
    """Everything vcov_robust and coef_test_robust need, after the input checks."""
    _check_fit(fit)
    _check_type(type)
    term = _cluster_term(fit, cluster)
    blocks = _blocks(fit, term)
    J = len(blocks)
    if J < 2:
        raise ValueError(f"cluster-robust covariance needs at least 2 clusters; {term.factor!r} has {J}.")
    d = fit.design
    X = np.asarray(d.X, dtype=float)
    N, p = X.shape
    resid = np.asarray(d.y, dtype=float) - X @ np.asarray(fit.fixef, dtype=float)
    XW = [x.T @ W for _, x, _, W, _ in blocks]
    M = np.linalg.inv(sum(xw @ x for xw, (_, x, _, _, _) in zip(XW, blocks)))
    M = (M + M.T) / 2
    if type == "CR0":
        E = XW
    elif type in ("CR1", "CR1p", "CR1S"):
        factor = {"CR1": J / (J - 1), "CR1p": J / (J - p), "CR1S": J * (N - 1) / ((J - 1) * (N - p))}[type]
        E = [xw * np.sqrt(factor) for xw in XW]
    elif type == "CR2":
        E = []
        for xw, (_, x, V, _, L) in zip(XW, blocks):
            G = L.T @ (V - x @ M @ x.T) @ L
            E.append(xw @ (L @ _inv_sqrt_psd((G + G.T) / 2) @ L.T))
    else:  # CR3
        E = [xw @ np.linalg.inv(np.eye(len(rows)) - x @ M @ xw) for xw, (rows, x, _, _, _) in zip(XW, blocks)]
    components = np.column_stack([e @ resid[rows] for e, (rows, _, _, _, _) in zip(E, blocks)])  # (p, J)
    vcov = M @ (components @ components.T) @ M
    return {"vcov": (vcov + vcov.T) / 2, "M": M, "E": E, "blocks": blocks, "J": J, "p": p, "cluster": term.factor}


def _satterthwaite_df(r: dict) -> np.ndarray:
    """clubSandwich's Satterthwaite df for each coefficient (``get_GH``, ``get_P_array``, ``Satterthwaite`` with
    ``inverse_var = TRUE``): under the working model, ``2 E^2 / Var`` of the robust variance's diagonal."""
    M, blocks = r["M"], r["blocks"]
    MU_ct = np.linalg.cholesky(M)
    p, J = r["p"], r["J"]
    G_sq = np.empty((p, J))  # per coefficient and cluster: the squared norm of row i of M E_j L_j
    H = np.empty((p, p, J))  # [i, :, j]: row i of M E_j X_j chol(M)
    for j, (e, (_, x, _, _, L)) in enumerate(zip(r["E"], blocks)):
        me = M @ e
        G_sq[:, j] = np.sum((me @ L) ** 2, axis=1)
        H[:, :, j] = me @ x @ MU_ct
    df = np.empty(p)
    for i in range(p):
        P = -H[i].T @ H[i] + np.diag(G_sq[i])
        df[i] = 2 * np.trace(P) ** 2 / (2 * np.sum(P**2))
    return df


# ------------------------------------------------------------------------------------------ public


def vcov_robust(fit, type: str = "CR2", cluster: str | None = None) -> pd.DataFrame:
    """Cluster-robust covariance of the fixed effects of an LMM: clubSandwich's ``vcovCR(m, type = type)`` for an
    lme4 ``lmer`` fit.

    ``type``: ``"CR2"`` (default, Bell-McCaffrey), ``"CR0"``, ``"CR1"`` (CR0 times ``J / (J - 1)``, J clusters),
    ``"CR1p"``, ``"CR1S"`` or ``"CR3"``; ``cluster``: a grouping factor of the model (``"Subject"``; for
    ``(1 | Worker/Machine)`` ``"Worker"``); by default the one with the fewest levels, clubSandwich's default.
    Every grouping factor must nest within the clusters. Returns a p x p DataFrame labelled by fixed-effect names.
    """
    r = _robust(fit, type, cluster)
    names = list(fit.design.xnames)
    return pd.DataFrame(r["vcov"], index=names, columns=names)


def coef_test_robust(fit, type: str = "CR2", cluster: str | None = None, test: str = "Satterthwaite") -> pd.DataFrame:
    """Wald t tests of the fixed effects with cluster-robust standard errors: clubSandwich's
    ``coef_test(m, vcov = type, test = test)`` for an lme4 ``lmer`` fit.

    ``type`` and ``cluster`` as in ``vcov_robust``; ``test``: ``"Satterthwaite"`` (default; clubSandwich's
    ``df_Satt``), ``"naive-t"`` (df J - 1), ``"naive-tp"`` (df J - p) or ``"z"`` (df inf). Returns a DataFrame
    indexed by fixed-effect name with columns ``estimate``, ``se``, ``df``, ``statistic``, ``p_value``
    (two-sided).
    """
    _check_fit(fit)
    if test not in ROBUST_TESTS:
        raise ValueError(f"unknown test {test!r}; valid tests: {', '.join(ROBUST_TESTS)}.")
    r = _robust(fit, type, cluster)
    beta = np.asarray(fit.fixef, dtype=float)
    se = np.sqrt(np.diag(r["vcov"]))
    J, p = r["J"], r["p"]
    df = {
        "Satterthwaite": lambda: _satterthwaite_df(r),
        "naive-t": lambda: np.full(p, J - 1.0),
        "naive-tp": lambda: np.full(p, float(J - p)),
        "z": lambda: np.full(p, np.inf),
    }[test]()
    statistic = beta / se
    p_value = 2 * stats.t.sf(np.abs(statistic), df) if test != "z" else 2 * stats.norm.sf(np.abs(statistic))
    return pd.DataFrame(
        {"estimate": beta, "se": se, "df": df, "statistic": statistic, "p_value": p_value},
        index=pd.Index(list(fit.design.xnames)),
    )
