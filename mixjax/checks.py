"""Input checks before any numerical work: columns named by the formula, missing and non-finite values, weights
and offsets given per row. Each failure is a ``ValueError`` naming the column or argument and what to do."""
from __future__ import annotations

import difflib
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
from formulaic import Formula
from formulaic.parser.types import Factor
from formulaic.transforms import TRANSFORMS
from formulaic.utils.variables import get_required_variables

from .formula import ParsedFormula

__all__ = ["MixjaxWarning"]


class MixjaxWarning(UserWarning):
    """Messages about the data (rows dropped, columns aliased) that do not stop the fit."""



@lru_cache(maxsize=512)
def _formula(text: str) -> Formula:
    """formulaic's parse of a formula string, once per string (parsing is a good part of building a design)."""
    return Formula(text)


def _check_columns(names: set[str], data: pd.DataFrame, formula: str) -> None:
    repeated = data.columns[data.columns.duplicated()].unique()
    used = [str(c) for c in repeated if c in names]
    if used:
        raise ValueError(f"the data has more than one column named {', '.join(map(repr, used))}, which formula "
                         f"{formula!r} reads; rename or drop the duplicates first (e.g. data.loc[:, "
                         "~data.columns.duplicated()]).")
    for name in sorted(names):
        if name not in data.columns:
            near = difflib.get_close_matches(name, [str(c) for c in data.columns], n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
            raise ValueError(
                f"column {name!r} in formula {formula!r} is not in the data.{hint} "
                f"The data has columns: {', '.join(map(str, data.columns))}."
            )


def _warn_numbers_as_text(data: pd.DataFrame, names: set[str]) -> None:
    """Say once per column when a predictor holds numbers stored as text (they become a factor)."""
    for name in sorted(names):
        col = data[name] if name in data.columns and not data.columns.duplicated().any() else None
        if col is None or isinstance(col.dtype, pd.CategoricalDtype) or not (
                pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            continue
        present = col.dropna()
        if len(present) and pd.to_numeric(present, errors="coerce").notna().all():
            warnings.warn(f"column {name!r} holds numbers stored as text, so it is treated as a factor with "
                          f"{present.nunique()} levels; if it is a number, convert it first "
                          f"(data[{name!r}] = pd.to_numeric(data[{name!r}])).", MixjaxWarning, stacklevel=4)


def _formula_variables(text: str) -> set[str]:
    """Data columns a formulaic formula reads. Python factors are read here rather than by formulaic's
    ``required_variables``, which misses the arguments of its stateful transforms (``center(x)``, ``poly(x, 2)``).
    Python builtins (``abs``, ``float``) are included; ``build`` keeps them only where the data has such a column."""
    formula = _formula(text)
    variables: set[str] = set()
    for part in (formula.lhs, formula.rhs) if hasattr(formula, "lhs") else (formula,):
        for factor in (f for term in part for f in term.factors):
            if factor.eval_method == Factor.EvalMethod.LOOKUP:
                variables.add(str(factor.expr))
            elif factor.eval_method == Factor.EvalMethod.PYTHON:
                try:
                    found = get_required_variables(factor.expr, {})
                except Exception:  # malformed Python: formulaic reports it when the matrix is built
                    continue
                variables |= {str(var.root) for var in found if var.root not in TRANSFORMS}
    return variables


def _required(parsed: ParsedFormula) -> tuple[set[str], set[str]]:
    """(numeric-or-factor variables of the model, grouping factors)."""
    pieces = [(f"fixed-effects formula {parsed.fixed!r}", parsed.fixed)]
    pieces += [(f"random-effects term ({t.expr} {'||' if t.split else '|'} {t.group})", t.expr) for t in parsed.random]
    pieces += [(f"offset({e})", f"I({e}) ~ 1") for e in parsed.offsets]
    variables: set[str] = set()
    for what, text in pieces:
        try:
            variables |= _formula_variables(text)
        except Exception as err:  # formulaic's own parse error, re-raised with the piece named
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"cannot parse the {what}: {first_line}") from err
    groups = {f for term in parsed.random for f in term.factors}
    return variables, groups


def _drop_missing(data: pd.DataFrame, columns: list[str], weights, offset=None):
    """(frame, weights, offset, number of rows dropped)."""
    missing = {c: data[c].isna().to_numpy() for c in columns}
    keep = ~np.logical_or.reduce(list(missing.values()))
    if weights is not None:
        keep &= ~np.isnan(weights)
    n_missing = int((~keep).sum())
    if not n_missing:  # nothing to drop: formulaic reads the model's columns from the caller's frame as it is
        return data, weights, offset, 0
    per = {c: int(m.sum()) for c, m in missing.items() if m.any()}
    detail = ", ".join(f"{c}: {k}" for c, k in per.items())
    if weights is not None and np.isnan(weights).any():
        detail += (", " if detail else "") + f"weights: {int(np.isnan(weights).sum())}"
    warnings.warn(
        f"dropped {n_missing} of {len(data)} rows with missing values ({detail}), as lme4's na.omit.",
        MixjaxWarning,
        stacklevel=3,
    )
    frame = data.loc[keep, columns].reset_index(drop=True)
    return frame, (None if weights is None else weights[keep]), (None if offset is None else offset[keep]), n_missing


def _check_finite(data: pd.DataFrame, columns: list[str]) -> None:
    """inf / -inf in a numeric column of the model (checked on the caller's rows, so the index label is theirs)."""
    for col in columns:
        series = data[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            bad = np.isinf(series.to_numpy(dtype=float, na_value=np.nan))
            if bad.any():
                raise ValueError(
                    f"column {col!r} has {int(bad.sum())} non-finite value(s) (inf or -inf), first at index "
                    f"{data.index[np.flatnonzero(bad)[0]]!r}; remove or recode them (missing values may be NaN, "
                    "which are dropped)."
                )


def _per_row(values, data: pd.DataFrame, what: str) -> np.ndarray | None:
    """An argument given as a column name or as one number per row, as floats."""
    if values is None:
        return None
    if isinstance(values, str):
        _check_columns({values}, data, f"{what}={values!r}")
        values = data[values]
    try:
        out = np.array(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be numbers (one value per row of the data): {err}") from err
    if out.shape != (len(data),):
        raise ValueError(f"{what} must have one value per row of the data ({len(data)}), got shape {out.shape}.")
    return out


def _resolve_offset(offset, data: pd.DataFrame) -> np.ndarray | None:
    out = _per_row(offset, data, "offset")
    if out is not None and not np.all(np.isfinite(out)):
        raise ValueError(f"offset has {int((~np.isfinite(out)).sum())} missing or infinite value(s); fix them first.")
    return out


def _resolve_weights(weights, data: pd.DataFrame) -> np.ndarray | None:
    w = _per_row(weights, data, "weights")
    if w is None:
        return None
    bad = ~np.isnan(w) & ~(np.isfinite(w) & (w > 0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"weights must be positive and finite; {int(bad.sum())} of them are zero, negative or infinite "
            f"(first at position {first}: {w[first]!r}). Drop those rows or fix the weights."
        )
    return w
