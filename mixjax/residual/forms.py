"""nlme's ``form`` of a residual structure: ``"~ t | g"`` (a covariate or ``1``, and an optional grouping),
bound to the rows of a fit on the host."""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = ["Form", "parse_form", "group_codes", "covariate"]

_FORM = re.compile(r"^\s*~\s*(?P<cov>[^|]*?)\s*(?:\|\s*(?P<group>.+?)\s*)?$")


class Form(NamedTuple):
    """``covariate``: a column name, ``"1"`` (the row order within a group) or ``"fitted(.)"``; ``group``: a
    column name, names joined by ``:`` or ``/`` (nested: the innermost combination), or None."""

    covariate: str
    group: str | None


def parse_form(form: str, what: str) -> Form:
    if not isinstance(form, str) or not (m := _FORM.match(form)) or not m.group("cov"):
        raise ValueError(f"{what}: form {form!r} must read '~ covariate | group', '~ 1 | group' or '~ covariate' "
                         "(nlme's syntax), e.g. form='~ Days | Subject'.")
    group = m.group("group")
    return Form(m.group("cov").strip(), None if group is None else re.sub(r"\s+", "", group))


def columns_of(form: Form) -> set[str]:
    """The data columns a form reads."""
    out = set(re.split(r"[:/]", form.group)) if form.group else set()
    if form.covariate not in ("1", "fitted(.)"):
        out.add(form.covariate)
    return out


def check_columns(form: Form, data: pd.DataFrame, what: str) -> None:
    for name in sorted(columns_of(form)):
        if name not in data.columns:
            raise ValueError(f"{what}: column {name!r} in its form is not in the data; the data has columns "
                             f"{', '.join(map(str, data.columns))}.")


def group_codes(frame: pd.DataFrame, group: str | None) -> np.ndarray:
    """(n,) codes of the rows' groups, numbered in order of first appearance; one group when ``group`` is None."""
    if group is None:
        return np.zeros(len(frame), dtype=np.int64)
    names = re.split(r"[:/]", group)
    if len(names) == 1:
        return pd.factorize(frame[names[0]])[0].astype(np.int64)
    return frame.groupby(names, sort=False, observed=True).ngroup().to_numpy(dtype=np.int64)


def covariate(frame: pd.DataFrame, form: Form, what: str) -> np.ndarray:
    """The covariate per row as floats (``1``: the position within the row's group, 0, 1, ...)."""
    if form.covariate == "1":
        codes = group_codes(frame, form.group)
        return pd.Series(codes).groupby(codes).cumcount().to_numpy(dtype=float)
    col = frame[form.covariate]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise ValueError(f"{what}: the covariate {form.covariate!r} must be numeric (a time or a distance), "
                         f"it has dtype {col.dtype}.")
    return col.to_numpy(dtype=float)
