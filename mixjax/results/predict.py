"""Design pieces for new data: the fixed-effects matrix and, per random term, level codes and columns."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..design import Design

__all__ = ["new_design_parts"]


def _labels(frame: pd.DataFrame, factors: tuple[str, ...]) -> np.ndarray:
    def text(col):
        values = frame[col]
        if pd.api.types.is_float_dtype(values) and np.all(np.mod(values.dropna(), 1) == 0):
            values = values.astype("Int64")
        return values.astype(str).to_numpy()

    out = text(factors[0])
    for col in factors[1:]:
        out = np.char.add(np.char.add(out.astype(str), ":"), text(col))
    return out


def new_design_parts(design: Design, newdata: pd.DataFrame, include_re: bool, allow_new_levels: bool):
    if not isinstance(newdata, pd.DataFrame):
        raise ValueError(f"newdata must be a pandas DataFrame, got {type(newdata).__name__}.")
    X = np.asarray(design.fixed_spec.get_model_matrix(newdata)[list(design.xnames)], dtype=float)
    parts = []
    if include_re:
        for term in design.terms:
            factors = tuple(f.strip() for f in term.factor.split(":"))
            missing = [f for f in factors if f not in newdata.columns]
            if missing:
                raise ValueError(
                    f"newdata lacks grouping column(s) {', '.join(missing)} of term {term.group!r}; add them or "
                    "predict with include_re=False."
                )
            labels = _labels(newdata, factors)
            index = {lev: i for i, lev in enumerate(term.levels)}
            codes = np.array([index.get(lab, -1) for lab in labels], dtype=np.int64)
            if not allow_new_levels and np.any(codes < 0):
                new = sorted(set(labels[codes < 0]))
                raise ValueError(
                    f"newdata has level(s) of {term.factor!r} not seen in the fit: {', '.join(new[:5])}"
                    f"{' ...' if len(new) > 5 else ''}. Pass allow_new_levels=True to predict them with random "
                    "effects of 0."
                )
            Z = np.asarray(term.spec.get_model_matrix(newdata)[list(term.cnames)], dtype=float)
            parts.append((codes, Z))
    return X, parts
