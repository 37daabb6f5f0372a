"""Many responses for one model: the design built once, the responses aligned with its rows.

``responses`` are column names of ``data`` or an ``(n, m)`` array (one column per response, rows as ``data``).
The formula may omit its response (``"~ Days + (Days | Subject)"``) or keep one, which ``responses`` replace.
Rows with a missing value in the model's columns or in any response are dropped once, with one warning that
counts them.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .checks import MixjaxWarning
from .design import Design, build
from .formula.bars import _top_level_split

__all__ = ["many_design"]

ROW = "_mixjax_row_"  # the placeholder response: the row number, so that the design tells which rows it kept


def _responses(data: pd.DataFrame, responses) -> tuple[list[str], np.ndarray]:
    """(names, values (n, m) with NaN where missing) of the responses."""
    if isinstance(responses, str):
        responses = [responses]
    if isinstance(responses, (list, tuple)) and all(isinstance(r, str) for r in responses):
        unknown = [r for r in responses if r not in data.columns]
        if unknown:
            raise ValueError(f"response column(s) {', '.join(map(repr, unknown))} not in the data; its columns are "
                             f"{', '.join(map(str, data.columns[:20]))}.")
        bad = [r for r in responses if not pd.api.types.is_numeric_dtype(data[r]) or pd.api.types.is_bool_dtype(data[r])]
        if bad:
            raise ValueError(f"response column(s) {', '.join(map(repr, bad))} are not numeric; convert them to numbers.")
        names, values = list(responses), data[list(responses)].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        try:
            values = np.asarray(responses, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError("responses must be a list of column names or an (n, m) array of numbers.") from None
        if values.ndim == 1:
            values = values[:, None]
        if values.ndim != 2 or values.shape[0] != len(data):
            raise ValueError(f"a responses array must have shape (n, m) with n = {len(data)} rows (as the data), "
                             f"got {values.shape}.")
        names = [f"y{j}" for j in range(values.shape[1])]
    if not names:
        raise ValueError("responses is empty: give at least one response.")
    if np.any(np.isinf(values)):
        raise ValueError("responses hold infinite values; give finite numbers (NaN marks a missing value).")
    return names, values


def many_design(formula: str, data: pd.DataFrame, responses, **build_kwargs) -> tuple[Design, np.ndarray, list]:
    """(design with the first response, responses (m, n_kept), names) for ``formula``'s right-hand side."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    names, values = _responses(data, responses)
    parts = _top_level_split(formula, "~") if isinstance(formula, str) else []
    if len(parts) not in (1, 2) or not parts[-1].strip():
        raise ValueError(f"formula must be 'y ~ terms' or '~ terms', got {formula!r}.")
    rows = np.where(np.isnan(values).any(axis=1), np.nan, np.arange(len(data), dtype=float))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MixjaxWarning)
        design = build(f"{ROW} ~ {parts[-1]}", data.assign(**{ROW: rows}), **build_kwargs)
    for w in caught:
        if not (issubclass(w.category, MixjaxWarning) and "missing values" in str(w.message)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    kept = design.y.astype(int)
    if len(kept) < len(data):
        warnings.warn(f"dropped {len(data) - len(kept)} of {len(data)} rows with a missing value in the model's "
                      "columns or in a response (as lme4's na.omit), the same rows for every response.",
                      MixjaxWarning, stacklevel=3)
    Y = values[kept].T
    return design, Y, names
