"""Bundled real datasets (from R's lme4, nlme, glmmTMB, ordinal, mlmRev, survival and datasets).

``load(name)`` returns a fresh DataFrame; factor columns are pandas categoricals in R's level order
(ordered factors are ordered categoricals). ``names()`` lists what is bundled; ``describe(name)`` says
where a dataset comes from, what a row is, and what each column means.
"""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["describe", "load", "names"]

_DATA = resources.files(__package__) / "data"


@lru_cache(maxsize=1)
def _columns() -> dict:
    return json.loads((_DATA / "columns.json").read_text())


def names() -> list[str]:
    """Names of the bundled datasets, sorted case-insensitively."""
    return sorted((p.name[:-4] for p in _DATA.iterdir() if p.name.endswith(".csv")), key=str.lower)


@lru_cache(maxsize=1)
def _descriptions() -> dict:
    return json.loads((_DATA / "descriptions.json").read_text())


def _resolve(name: str) -> str:
    """The bundled dataset's own spelling of ``name`` (case-insensitive); ValueError if there is none."""
    lookup = {n.lower(): n for n in names()}
    key = lookup.get(str(name).lower())
    if key is None:
        near = difflib.get_close_matches(str(name), names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
        raise ValueError(f"unknown dataset {name!r}.{hint} Available: {', '.join(names())}.")
    return key


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset by name (case-insensitive), with R's factor levels restored."""
    key = _resolve(name)
    meta = _columns().get(key, {"factors": [], "ordered": [], "levels": {}})
    dtypes = {col: str for col in meta["factors"]}
    with (_DATA / f"{key}.csv").open() as fh:
        frame = pd.read_csv(fh, dtype=dtypes)
    for col in meta["factors"]:
        frame[col] = pd.Categorical(
            frame[col], categories=meta["levels"][col], ordered=col in meta["ordered"]
        )
    return frame


def _kind(column: pd.Series) -> str:
    if isinstance(column.dtype, pd.CategoricalDtype):
        k = len(column.cat.categories)
        return f"{'ordered factor' if column.cat.ordered else 'factor'}, {k} level{'s' if k != 1 else ''}"
    if pd.api.types.is_bool_dtype(column):
        return "logical"
    return "numeric" if pd.api.types.is_numeric_dtype(column) else "text"


def describe(name: str) -> str:
    """A short description of a bundled dataset (case-insensitive name): its source, what one row is,
    its size as loaded, and one line per column with its name, type as loaded and meaning."""
    key = _resolve(name)
    info = _descriptions().get(key)
    if info is None:
        raise LookupError(f"bundled dataset {key!r} has no entry in datasets/data/descriptions.json")
    frame = load(key)
    source = f"R package {info['package']}, dataset {key}"
    if info.get("reference"):
        source += f"; {info['reference']}"
    kinds = {col: _kind(frame[col]) for col in frame.columns}
    w_name = max(map(len, frame.columns))
    w_kind = max(map(len, kinds.values()))
    lines = [
        f"{key}: {info['title']}",
        f"Source: {source}.",
        f"One row: {info['row']}.",
        f"{len(frame)} rows, {frame.shape[1]} columns:",
    ]
    lines += [f"  {col:<{w_name}}  {kinds[col]:<{w_kind}}  {info['columns'][col]}" for col in frame.columns]
    return "\n".join(lines)
