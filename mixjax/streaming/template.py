"""The design of streamed rows: a template built once from the first pass (formulaic's specs, the fixed-effect
columns, the random-effects terms with every level), then each chunk's arrays (``y``, ``X``, weights, each term's
level codes and columns) in the template's columns and codes, summed into ``mixjax.linalg.crossprod.Sums``.

The template reads a small frame: the first rows of the data with, in each column of known values (categorical
columns, grouping factors, numeric columns with few distinct values), every value cycled, so that formulaic learns
every category the whole data has. Transformations that learn from the data (``center``, ``scale``, ``poly``) and
categories of continuous columns (``C(x)`` with many values) cannot learn from one chunk: they raise.
``StreamedDesign`` is the fit's ``Design``: no rows (``y``, ``X``, weights, codes and term columns are empty), the
number of rows stored.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from formulaic import model_matrix

from ..checks import _check_finite, _formula, _resolve_weights
from ..design import (
    Design,
    _check_levels,
    _check_matrix_finite,
    _fixed,
    _lme4_order,
    _random_terms,
    _unique_group_names,
)
from ..formula import ParsedFormula
from ..formula.matrix import PlainSpec, plain_columns
from ..linalg.crossprod import Sums, row_sums
from . import levels as levels_

__all__ = ["StreamedDesign", "Template", "chunk_sums", "template"]


@dataclass(frozen=True, eq=False)
class StreamedDesign(Design):
    """A ``Design`` of streamed rows: the row arrays are empty (``y`` (0,), ``X`` (0, p), each term's ``codes`` and
    ``Z``); ``n_rows`` observations were used."""

    n_rows: int = 0

    @property
    def n_obs(self) -> int:
        return self.n_rows


class Template(NamedTuple):
    """What every chunk's design shares: the formula (``parsed``), the fixed part's spec and all its column names
    ``xnames`` (before aliased columns are dropped), the terms (empty rows, all levels) and each term's factors,
    the ``model`` columns (a missing value drops the row), the numeric ones, the weights column, the ``levels``."""

    parsed: ParsedFormula
    fixed_spec: object
    xnames: tuple
    terms: tuple
    factors: tuple
    model: list
    numeric: list
    weights: str | None
    levels: levels_.Levels


def _frame(lv: levels_.Levels, dtypes: dict) -> pd.DataFrame:
    """The template's frame: ``lv.head`` with each column of known values cycling through all of them."""
    known = {c: v for c, v in lv.columns.items() if c in lv.head.columns}
    size = max([len(lv.head)] + [len(v) for v in known.values()])
    frame = lv.head.iloc[np.arange(size) % len(lv.head)].reset_index(drop=True)
    for c, values in known.items():
        cycled = np.asarray(values, dtype=object)[np.arange(size) % len(values)]
        if isinstance(dtypes[c], pd.CategoricalDtype):
            frame[c] = pd.Categorical(cycled, categories=dtypes[c].categories)
        else:
            frame[c] = pd.Series(cycled).astype(dtypes[c])
    return frame


def _check_learns_nothing(spec, lv: levels_.Levels, numeric: list) -> None:
    """Refuse specs that learned from the template's rows what only all rows can tell."""
    state = getattr(spec, "transform_state", None)
    if state:
        raise ValueError(f"the fixed part transforms {', '.join(map(repr, state))} with state learned from the data "
                         "(center, scale, poly, ...); streamed data is read in chunks, so compute those columns "
                         "before streaming, or fit a pandas DataFrame.")
    for key, (kind, _) in (getattr(spec, "encoder_state", None) or {}).items():
        continuous = [c for c in numeric if c not in lv.columns and re.search(rf"\b{re.escape(c)}\b", key)]
        if str(getattr(kind, "value", kind)) == "categorical" and continuous:
            raise ValueError(f"{key!r} makes a factor of the numeric column {continuous[0]!r}, which has more than "
                             f"{levels_.MAX_NUMERIC_VALUES} distinct values; with streamed data store it as a "
                             "categorical (or text) column instead.")


def _labels(lv: levels_.Levels, factors: tuple) -> tuple:
    """A grouping factor's level labels, as ``mixjax.design`` writes them (``a:b`` for interactions)."""
    per = [lv.columns[f].astype(str).tolist() for f in factors]
    if len(factors) == 1:
        return tuple(per[0])
    parts = np.unravel_index(lv.combos[tuple(factors)], [len(p) for p in per])
    return tuple(":".join(per[i][parts[i][j]] for i in range(len(per))) for j in range(len(parts[0])))


def template(parsed: ParsedFormula, lv: levels_.Levels, dtypes: dict, model: list, weights: str | None,
             covariance: dict | None) -> Template:
    """The ``Template`` of the model from the first pass (``lv``); ``dtypes`` the columns' pandas dtypes."""
    frame = _frame(lv, dtypes)
    numeric = [c for c in model if pd.api.types.is_numeric_dtype(dtypes[c]) and not pd.api.types.is_bool_dtype(dtypes[c])]
    _, _, spec, xnames, _ = _fixed(parsed, frame)
    _check_learns_nothing(spec, lv, numeric)
    factors = {t.group: t.factors for t in parsed.random}
    terms = []
    for t in _random_terms(parsed, frame, covariance):
        _check_learns_nothing(t.spec, lv, numeric)
        labels = _labels(lv, factors[t.group])
        terms.append(dataclasses.replace(t, codes=np.zeros(0, dtype=np.int32), levels=labels, Z=np.zeros((0, t.k))))
    n_obs = lv.n_rows - lv.n_dropped
    _check_levels(terms, n_obs)
    terms = _unique_group_names(_lme4_order(terms))
    return Template(parsed, spec, tuple(xnames), tuple(terms), tuple(factors[t.factor] for t in terms), model,
                    numeric, weights, lv)


def _columns(spec, names: tuple, chunk: pd.DataFrame) -> np.ndarray:
    """A spec's matrix for ``chunk``, columns ``names``: plain columns read straight from the frame."""
    if isinstance(spec, PlainSpec):
        plain = plain_columns(spec.formula, chunk)
        if plain is not None:
            return plain[0]
    return np.asarray(spec.get_model_matrix(chunk)[list(names)], dtype=float)


def _response(parsed: ParsedFormula, chunk: pd.DataFrame) -> np.ndarray:
    lhs = _formula(parsed.fixed).lhs
    plain = plain_columns(lhs, chunk)
    y = plain[0] if plain is not None else np.asarray(model_matrix(lhs, chunk, na_action="raise"), dtype=float)
    _check_matrix_finite(y, (parsed.response,), "response")
    return y[:, 0]


def chunk_sums(tpl: Template, chunk: pd.DataFrame) -> Sums:
    """The ``Sums`` of one chunk's rows (rows with a missing value in a model column dropped)."""
    drop = np.logical_or.reduce([chunk[c].isna().to_numpy() for c in tpl.model])
    if drop.any():
        chunk = chunk.loc[~drop]
    chunk = chunk.reset_index(drop=True)
    _check_finite(chunk, tpl.numeric)
    X = _columns(tpl.fixed_spec, tpl.xnames, chunk)
    _check_matrix_finite(X, tpl.xnames, "fixed-effects")
    w = _resolve_weights(tpl.weights, chunk)
    w = np.ones(len(chunk)) if w is None else w
    terms = []
    for t, factors in zip(tpl.terms, tpl.factors):
        Z = _columns(t.spec, t.cnames, chunk)
        _check_matrix_finite(Z, t.cnames, f"random-effects term for {t.factor!r}")
        terms.append(dataclasses.replace(t, codes=levels_.codes(tpl.levels, chunk, factors), Z=Z))
    return row_sums(tuple(terms), X, _response(tpl.parsed, chunk), w)
