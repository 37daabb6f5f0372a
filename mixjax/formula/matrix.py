"""Model matrices from formulaic, with one shortcut: a formula whose terms are all the intercept or products of
numeric data columns is read straight from the frame. That gives formulaic's own matrix and column names (the
tests compare the two over a table of formulas) at a small part of its cost, which otherwise dominates building
the design of a small model. Anything else (factors, transformations, ``I()``) goes through formulaic."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from formulaic import model_matrix
from formulaic.parser.types import Factor

__all__ = ["PlainSpec", "model_columns", "plain_columns"]


class PlainSpec(NamedTuple):
    """Stands in for formulaic's ModelSpec of a plain matrix: such a matrix learns no state from the data (no
    levels, no centering), so formulaic builds it for new data from the formula alone."""

    formula: object

    def get_model_matrix(self, data: pd.DataFrame):
        return model_matrix(self.formula, data)


def _numeric(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    column = frame[name] if name in frame.columns else None
    if not isinstance(column, pd.Series) or not isinstance(column.dtype, np.dtype) or column.dtype.kind not in "iuf":
        return None
    return column.to_numpy(dtype=float)


def plain_columns(formula, frame: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """(matrix, column names) of a formulaic ``SimpleFormula`` made of the intercept and products of numeric
    columns of ``frame``; None if any term is something else."""
    columns, names = [], []
    for term in formula:
        if [(str(f.expr), f.eval_method) for f in term.factors] == [("1", Factor.EvalMethod.LITERAL)]:
            columns.append(np.ones(len(frame)))
            names.append("Intercept")
            continue
        values = np.ones(len(frame))
        for factor in term.factors:
            column = _numeric(frame, str(factor.expr)) if factor.eval_method == Factor.EvalMethod.LOOKUP else None
            if column is None:
                return None
            values = values * column
        columns.append(values)
        names.append(str(term))
    return (np.column_stack(columns) if columns else np.empty((len(frame), 0))), tuple(names)


def model_columns(formula, frame: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...], object]:
    """(matrix as floats, column names, spec for new data) of a formulaic ``SimpleFormula``; formulaic's errors
    propagate (missing values raise)."""
    plain = plain_columns(formula, frame)
    if plain is not None:
        return *plain, PlainSpec(formula)
    mm = model_matrix(formula, frame, na_action="raise")
    return np.asarray(mm, dtype=float), tuple(map(str, mm.columns)), mm.model_spec
