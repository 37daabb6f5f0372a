"""Bundled real datasets (from R's lme4, nlme, glmmTMB, ordinal, mlmRev and survival).

``load(name)`` returns a fresh DataFrame; factor columns are pandas categoricals in R's level order
(ordered factors are ordered categoricals). ``names()`` lists what is bundled.
"""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["load", "names"]

_DATA = resources.files(__package__) / "data"


@lru_cache(maxsize=1)
def _columns() -> dict:
    return json.loads((_DATA / "columns.json").read_text())


def names() -> list[str]:
    """Names of the bundled datasets, sorted case-insensitively."""
    return sorted((p.name[:-4] for p in _DATA.iterdir() if p.name.endswith(".csv")), key=str.lower)


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset by name (case-insensitive), with R's factor levels restored."""
    lookup = {n.lower(): n for n in names()}
    key = lookup.get(str(name).lower())
    if key is None:
        near = difflib.get_close_matches(str(name), names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, near))}?" if near else ""
        raise ValueError(f"unknown dataset {name!r}.{hint} Available: {', '.join(names())}.")
    meta = _columns().get(key, {"factors": [], "ordered": [], "levels": {}})
    dtypes = {col: str for col in meta["factors"]}
    with (_DATA / f"{key}.csv").open() as fh:
        frame = pd.read_csv(fh, dtype=dtypes)
    for col in meta["factors"]:
        frame[col] = pd.Categorical(
            frame[col], categories=meta["levels"][col], ordered=col in meta["ordered"]
        )
    return frame
