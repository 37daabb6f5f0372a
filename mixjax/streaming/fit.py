"""``mixjax.lmm`` on streamed rows: two passes over the data, then the fit on the cross-products alone.

Pass 1 (``levels``) finds every level and category; pass 2 sums each chunk's cross-products
(``template.chunk_sums`` -> ``crossprod.Sums``, added over chunks by ``crossprod.add``); aliased fixed-effect
columns are found from ``X'WX`` (Gram-Schmidt on the Gram matrix: the diagonal of the QR factor that the in-memory
design checks, ``r_jj^2 = x_j'Wx_j - x_j'W X_S (X_S'W X_S)^{-1} X_S'W x_j`` over the kept earlier columns ``S``,
against lme4's tolerance; with prior weights, of ``W^{1/2} X``, which has the same exactly aliased columns) and dropped from the sums; then ``from_sums`` gives the ``CrossProducts`` and the fit
runs as for a DataFrame (``make_lmm(design, reml, cp)``, the LMM engine), its cost free of n. Memory: one chunk's
design arrays plus the cross-products (``l1 k1 (k1 + p + 1)`` numbers per level of the first term, the dense rest
block, the coupling's nonzeros).
"""
from __future__ import annotations

import builtins
import warnings
from functools import partial

import numpy as np

from ..checks import MixjaxWarning, _check_columns, _required, _warn_numbers_as_text
from ..design import _check_response, hold
from ..engines import lmm as lmm_engine
from ..formula import parse
from ..formula.contrasts import apply_contrasts, r_names
from ..linalg.crossprod import Sums, add, from_sums
from ..objectives.lmm import make_lmm
from ..results.streamed import StreamedLmmFit
from ..start import moment_start_from_sums
from . import levels as levels_
from .sources import map_reduce, source
from .template import StreamedDesign, chunk_sums, template

__all__ = ["lmm"]

ALIAS_TOL = 1e-7  # lme4's (and mixjax.design's) tolerance on the QR diagonal, relative to the column's norm


def _refuse(correlation, weights, relmat, devices) -> None:
    """Options that need the rows in memory raise before any reading."""
    if devices is not None:
        raise ValueError("devices= splits rows held in memory over devices; streamed data (Parquet, Arrow, Dask) is "
                         "summed chunk by chunk on the host instead. Leave devices= out.")
    if correlation is not None:
        raise ValueError("correlation= (residual correlation structures) needs the rows in memory; streamed data "
                         "(Parquet, Arrow, Dask) supports independent residuals only. Fit a pandas DataFrame.")
    if relmat:
        raise ValueError("relmat= is not supported with streamed data (Parquet, Arrow, Dask) yet; fit a pandas "
                         "DataFrame.")
    if weights is not None and not isinstance(weights, str):
        raise ValueError("with streamed data, weights= must name a column of the data (prior weights); arrays and "
                         "variance functions need the rows in memory.")


def _kept_columns(sums: Sums, qr: int, keep: np.ndarray) -> Sums:
    """``sums`` with only the fixed-effect columns ``keep`` (bool (p,)) of ``X``."""
    rows = np.concatenate([np.ones(qr, dtype=bool), keep, [True]])
    return sums._replace(A=sums.A[np.ix_(rows, rows)], Cxy=sums.Cxy[:, :, np.append(keep, True)])


def aliased(XtX: np.ndarray) -> np.ndarray:
    """(p,) bool: which columns are in the span of earlier ones, from their Gram matrix ``X'WX`` (p, p)."""
    kept: list[int] = []
    out = np.zeros(len(XtX), dtype=bool)
    for j in range(len(XtX)):
        g = XtX[j, j]
        r2 = g - (XtX[j, kept] @ np.linalg.solve(XtX[np.ix_(kept, kept)], XtX[kept, j]) if kept else 0.0)
        scale = np.sqrt(g) if g > 0 else 1.0
        if np.sqrt(max(r2, 0.0)) > ALIAS_TOL * scale:
            kept.append(j)
        else:
            out[j] = True
    return out


def _design(formula: str, tpl, sums: Sums, xnames: tuple) -> tuple[StreamedDesign, Sums]:
    """The fit's design (no rows) and the sums without aliased fixed-effect columns (dropped with a warning)."""
    qr = sums.A.shape[0] - len(xnames) - 1
    drop = aliased(sums.A[qr:-1, qr:-1])
    gone = tuple(n for n, d in zip(xnames, drop) if d)
    if gone:
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(gone)} column(s) / "
                      f"coefficient(s): {', '.join(gone)}", MixjaxWarning, stacklevel=4)
        sums = _kept_columns(sums, qr, ~drop)
    lv = tpl.levels
    design = StreamedDesign(formula=formula, parsed=tpl.parsed, y=np.zeros(0), X=np.zeros((0, int((~drop).sum()))),
                            xnames=tuple(n for n, d in zip(xnames, drop) if not d), terms=tpl.terms,
                            weights=np.zeros(0), fixed_spec=tpl.fixed_spec, aliased=gone, n_missing=lv.n_dropped,
                            n_rows=sums.n_obs)
    return design, sums


def _first_pass(src, parsed, model: list, groups: list):
    factor_sets = sorted({t.factors for t in parsed.random if len(t.factors) > 1})
    seen = map_reduce(src, model, partial(levels_.seen, model=model, groups=groups, factor_sets=factor_sets),
                      levels_.merge)
    if seen is None or seen.n_rows == seen.n_dropped:
        read = 0 if seen is None else seen.n_rows
        raise ValueError(f"no rows to fit: the data has {read} rows" + (
            f", each with a missing value in one of {', '.join(model)}." if read else "."))
    if seen.n_dropped:
        detail = ", ".join(f"{c}: {k}" for c, k in seen.missing.items() if k)
        warnings.warn(f"dropped {seen.n_dropped} of {seen.n_rows} rows with missing values ({detail}), as lme4's "
                      "na.omit.", MixjaxWarning, stacklevel=4)
    return levels_.finish(seen, model)


def lmm(formula: str, data, *, reml: bool = True, weights=None, start=None, correlation=None,
        covariance: dict | None = None, fix: dict | None = None, contrasts: dict | None = None,
        relmat: dict | None = None, devices=None, batch_rows: int | None = None) -> StreamedLmmFit:
    """``mixjax.lmm`` for ``data`` a Parquet file or directory, a ``pyarrow.dataset.Dataset``, a Dask DataFrame
    or a ``mixjax.streaming.Source`` (``batch_rows``: rows per chunk). Equal to ``mixjax.lmm(formula, df)`` on the
    same rows in a DataFrame; the fit keeps no rows (``StreamedLmmFit``)."""
    from ..api import _start  # the start values' checks (api imports this module)

    _refuse(correlation, weights, relmat, devices)
    src = source(data, batch_rows)
    parsed = parse(formula)
    if contrasts:
        parsed = parsed._replace(fixed=apply_contrasts(parsed.fixed, contrasts, src.columns))
    if not parsed.random:
        raise ValueError(f"formula {formula!r} has no random-effects term such as (1 | group); a mixed model needs "
                         "at least one.")
    if parsed.offsets:
        raise ValueError("offsets are supported by mixjax.glmm; for a linear mixed model subtract the offset from the "
                         "response instead.")
    variables, group_set = _required(parsed)
    empty = src.empty()
    variables = {v for v in variables if v in empty.columns or not hasattr(builtins, v)}  # abs(x), x.astype(float)
    _check_columns(variables | group_set | ({weights} if weights else set()), empty, formula)
    _check_response(parsed, empty)
    model = sorted(variables | group_set | ({weights} if weights else set()))
    lv = _first_pass(src, parsed, model, sorted(group_set))
    _warn_numbers_as_text(lv.head, variables - group_set)
    tpl = template(parsed, lv, lv.head.dtypes.to_dict(), model, weights, covariance)
    sums = map_reduce(src, model, partial(chunk_sums, tpl), add)
    design, sums = _design(formula, tpl, sums, r_names(tpl.xnames) if contrasts else tpl.xnames)
    design = hold(design, fix)
    cp = from_sums(sums)
    objective = make_lmm(design, reml=reml, cp=cp)._replace(rows=None)  # no rows behind the cross-products
    if start is not None:
        theta0 = _start(start, design.theta_names, design.theta_start, design.theta_lower)
    elif objective.spec.nr > lmm_engine.DENSE_NEWTON_MAX:  # L-BFGS-B's moment start, from the sums
        theta0 = moment_start_from_sums(design, sums)
    else:
        theta0 = design.theta_start
    solution = lmm_engine.solve(objective, design, theta0, True)
    return StreamedLmmFit(design, objective, solution, crossproducts=cp)
