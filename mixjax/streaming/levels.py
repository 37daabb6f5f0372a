"""The first pass over streamed rows: the levels of every grouping factor and of every categorical column the
model reads, so that each chunk's design has the same columns and level codes as the design of all rows at once.

Levels are those a pandas DataFrame of all rows would give (``mixjax.design``): a categorical column keeps its
declared order (categories no row uses dropped), any other column sorts its distinct values (floats that are all
whole numbers read as integers); an interaction ``a:b`` (nested terms ``(1 | a/b)``) has one level per observed
combination, ordered by the codes of ``a``, then ``b``. Rows with a missing value in a model column do not count
(they are dropped from the fit, as lme4's ``na.omit``); a grouping column with missing values is an error.

``seen(chunk)`` collects one chunk's values (``Seen``), ``merge`` adds two, ``finish`` gives the ``Levels`` and
``codes(levels, chunk, factors)`` a chunk's codes of a grouping factor.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["HEAD_ROWS", "MAX_NUMERIC_VALUES", "Levels", "Seen", "codes", "finish", "merge", "seen"]

HEAD_ROWS = 1_000  # rows kept from the start of the data: the template's numbers
MAX_NUMERIC_VALUES = 10_000  # distinct values kept of a numeric column (beyond: continuous, never categorical)


class Seen(NamedTuple):
    """What a pass has seen: ``values`` column -> distinct values of the kept rows (None: a numeric column with more
    than ``MAX_NUMERIC_VALUES``), ``declared`` column -> a categorical's categories, ``combos`` factors (tuple) ->
    distinct combinations, ``head`` the first kept rows, ``n_rows`` rows read, ``missing`` column -> rows with a
    missing value there, ``n_dropped`` rows with any."""

    values: dict
    declared: dict
    combos: dict
    head: pd.DataFrame
    n_rows: int
    missing: dict
    n_dropped: int
    groups: tuple  # the grouping columns (all their values are kept)


class Levels(NamedTuple):
    """The outcome of the first pass: ``columns`` column -> ``pd.Index`` of its levels in order (categorical and
    grouping columns, and numeric columns with few values), ``combos`` factors -> sorted flat codes of the observed
    combinations (interactions), ``head``, ``n_rows``, ``missing``, ``n_dropped`` as in ``Seen``."""

    columns: dict
    combos: dict
    head: pd.DataFrame
    n_rows: int
    missing: dict
    n_dropped: int


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _distinct(col: pd.Series) -> np.ndarray:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return np.asarray(col.cat.remove_unused_categories().cat.categories, dtype=object)
    return pd.unique(col.to_numpy())


def seen(chunk: pd.DataFrame, model: list[str], groups: list[str], factor_sets: list[tuple]) -> Seen:
    """One chunk: ``model`` the columns whose missing values drop a row, ``groups`` the grouping columns (a missing
    value there: ValueError), ``factor_sets`` the factors of interaction terms."""
    for g in groups:
        bad = int(chunk[g].isna().sum())
        if bad:
            raise ValueError(f"grouping column {g!r} has missing values ({bad} in one chunk of {len(chunk)} rows); "
                             "streamed data must have a level in every row of a grouping column. Drop or fill those "
                             "rows first (in memory, mixjax.lmm drops them as lme4's na.omit).")
    na = {c: chunk[c].isna().to_numpy() for c in model}
    drop = np.logical_or.reduce(list(na.values())) if na else np.zeros(len(chunk), dtype=bool)
    kept = chunk.loc[~drop] if drop.any() else chunk
    values, declared = {}, {}
    for c in kept.columns:
        col = kept[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            declared[c] = list(col.cat.categories)
        capped = _numeric(col) and c not in groups
        if capped and len(_distinct(col.iloc[: 2 * MAX_NUMERIC_VALUES])) > MAX_NUMERIC_VALUES:
            values[c] = None  # continuous: known from the first rows, without the distinct values of all
            continue
        distinct = _distinct(col)
        values[c] = None if capped and len(distinct) > MAX_NUMERIC_VALUES else distinct
    combos = {f: kept[list(f)].drop_duplicates() for f in factor_sets}
    return Seen(values, declared, combos, kept.iloc[:HEAD_ROWS].copy(), len(chunk),
                {c: int(m.sum()) for c, m in na.items()}, int(drop.sum()), tuple(groups))


def merge(a: Seen, b: Seen) -> Seen:
    """What ``a`` and then ``b`` have seen."""
    values = {}
    for c in a.values:
        if a.values[c] is None or b.values[c] is None:
            values[c] = None
        else:
            both = pd.unique(np.concatenate([a.values[c], b.values[c]]))
            keep_all = (c in a.groups or c in a.declared or not np.issubdtype(both.dtype, np.number)
                        or len(both) <= MAX_NUMERIC_VALUES)
            values[c] = both if keep_all else None
    declared = dict(a.declared)
    for c, cats in b.declared.items():  # categories in order of first appearance (normally all the same)
        known = set(declared.get(c, []))
        declared[c] = declared.get(c, []) + [x for x in cats if x not in known]
    combos = {f: pd.concat([a.combos[f], b.combos[f]]).drop_duplicates() for f in a.combos}
    head = a.head if len(a.head) >= HEAD_ROWS else pd.concat([a.head, b.head]).iloc[:HEAD_ROWS]
    missing = {c: a.missing[c] + b.missing[c] for c in a.missing}
    return Seen(values, declared, combos, head, a.n_rows + b.n_rows, missing, a.n_dropped + b.n_dropped, a.groups)


def _whole(values: np.ndarray) -> bool:
    return values.dtype.kind == "f" and bool(np.all(np.mod(values, 1) == 0))


def _levels(values: np.ndarray, declared: list | None) -> pd.Index:
    """A column's levels: the declared categories that occur, else the sorted distinct values (as pandas'
    ``Categorical`` sorts them; whole floats as integers, as ``mixjax.design`` reads a grouping factor)."""
    if declared is not None:
        present = set(values.tolist())
        return pd.Index([c for c in declared if c in present])
    values = values.astype(np.int64) if _whole(values) else values
    return pd.Categorical(values).categories


def codes(levels: Levels, chunk: pd.DataFrame, factors: tuple) -> np.ndarray:
    """(n,) int32 codes of a grouping factor (one column, or the interaction of ``factors``) for ``chunk``'s rows."""
    per = [_column_codes(chunk[f], levels.columns[f]) for f in factors]
    if len(per) == 1:
        return per[0].astype(np.int32)
    known = levels.combos[tuple(factors)]
    flat = np.ravel_multi_index(per, [len(levels.columns[f]) for f in factors])
    out = np.searchsorted(known, flat)
    if np.any(out >= len(known)) or np.any(known[np.minimum(out, len(known) - 1)] != flat):
        raise ValueError(f"a combination of {':'.join(factors)} was not seen by the first pass over the data: did the "
                         "data change while it was read?")
    return out.astype(np.int32)


def _column_codes(col: pd.Series, index: pd.Index) -> np.ndarray:
    values = col.astype(np.int64) if index.dtype.kind in "iu" and col.dtype.kind == "f" else col
    out = pd.Categorical(values, categories=index).codes.astype(np.int64)
    if np.any(out < 0):
        raise ValueError(f"column {col.name!r} has a value that the first pass over the data did not see: did the data "
                         "change while it was read?")
    return out


def finish(s: Seen, collect: list[str]) -> Levels:
    """The ``Levels`` of the columns ``collect`` (those with a known set of values) from all that was seen."""
    columns = {c: _levels(s.values[c], s.declared.get(c)) for c in collect if s.values.get(c) is not None}
    combos = {}
    for f, frame in s.combos.items():
        per = [_column_codes(frame[c], columns[c]) for c in f]
        combos[f] = np.unique(np.ravel_multi_index(per, [len(columns[c]) for c in f]))
    return Levels(columns, combos, s.head, s.n_rows, s.missing, s.n_dropped)
