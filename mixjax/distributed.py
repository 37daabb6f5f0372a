"""What a fit over the processes of a ``jax.distributed`` job needs beyond one process's rows: values gathered
from every process, designs whose levels are the same in every process, and GLM start values from all rows.

Each process holds its own rows (its own DataFrame). Level codes must mean the same level everywhere, so the
design of each process is built from its rows plus one "phantom" row per level combination seen in any process
(the distinct values of every grouping factor and every non-numeric column, gathered first), and the phantom rows
are removed again: every process then has the levels, their order and the term order of the design of all rows
together (``_grouping`` depends only on the set of values it sees). Categorical columns must have the same
categories in every process. The fixed-effects matrix must have full rank on every process's rows (a column
dropped as aliased on one process raises), and the level checks use the number of rows of all processes.
"""
from __future__ import annotations

import dataclasses
import pickle

import jax
import numpy as np
import pandas as pd

from .checks import _required
from .design import Design, _check_levels
from .design import build as design_build
from .formula import parse

__all__ = ["allgather", "total", "build", "glm_start"]


def allgather(obj) -> list:
    """``obj`` (any picklable value) of every process, in process order (``[obj]`` in a one-process job)."""
    if jax.process_count() == 1:
        return [obj]
    from jax.experimental import multihost_utils

    blob = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
    sizes = np.asarray(multihost_utils.process_allgather(np.array([blob.size], dtype=np.int64))).reshape(-1)
    buf = np.zeros(int(sizes.max()), dtype=np.uint8)
    buf[: blob.size] = blob
    every = np.asarray(multihost_utils.process_allgather(buf)).reshape(len(sizes), -1)
    return [pickle.loads(every[i, : int(s)].tobytes()) for i, s in enumerate(sizes)]


def total(x) -> np.ndarray:
    """The sum over processes of ``x`` (same shape in every process), in process order: the same bits everywhere."""
    parts = allgather(np.asarray(x, dtype=np.float64))
    out = parts[0].copy()
    for part in parts[1:]:
        out = out + part
    return out


def _units(formula: str, data: pd.DataFrame) -> list[tuple[str, ...]]:
    """Groups of columns whose distinct value combinations fix the levels: each grouping factor of an interaction
    with its partners, each non-numeric column of the model alone (unions where they overlap)."""
    parsed = parse(formula)
    variables, groups = _required(parsed)
    text = {c for c in variables | {parsed.response} if c in data.columns
            and (not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]))}
    sets = [set(t.factors) for t in parsed.random] + [{c} for c in text]
    merged: list[set] = []
    for s in sets:
        s = set(s) & set(data.columns)
        for m in [m for m in merged if m & s]:
            merged.remove(m)
            s |= m
        if s:
            merged.append(s)
    return [tuple(sorted(m)) for m in merged]


def _check_categories(data: pd.DataFrame, columns: list[str]) -> None:
    dtypes = allgather({c: (list(data[c].cat.categories) if isinstance(data[c].dtype, pd.CategoricalDtype) else None)
                        for c in columns})
    for c in columns:
        seen = [d[c] for d in dtypes]
        if any(s != seen[0] for s in seen):
            raise ValueError(
                f"column {c!r} differs in type or categories between processes ({seen[0]!r} in process 0); in a "
                "multi-process fit give it the same type in every process, as a pandas Categorical with the same "
                "categories (pd.Categorical(values, categories=[...]))."
            )


def _phantoms(data: pd.DataFrame, units: list[tuple[str, ...]], required: list[str]) -> pd.DataFrame:
    """One row per level combination of every unit seen in any process (cycled where units differ in size); the
    other columns copied from this process's first complete row."""
    combos = [pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)
              for parts in zip(*allgather([data[list(u)].dropna().drop_duplicates() for u in units]))]
    complete = np.flatnonzero(data[required].notna().all(axis=1).to_numpy())
    if complete.size == 0:
        raise ValueError(f"process {jax.process_index()} has no row without missing values in "
                         f"{', '.join(required)}; give every process some complete rows.")
    m = max(len(c) for c in combos)
    out = data.iloc[np.repeat(complete[0], m)].copy()
    for unit, combo in zip(units, combos):
        pick = combo.iloc[np.arange(m) % len(combo)]
        for c in unit:
            values = pick[c].to_numpy()
            dtype = data[c].dtype
            out[c] = (pd.Categorical(values, categories=dtype.categories, ordered=dtype.ordered)
                      if isinstance(dtype, pd.CategoricalDtype) else pd.Series(values, index=out.index).astype(dtype))
    out.index = pd.Index([("__mixjax_phantom__", i) for i in range(m)], dtype=object)
    return out


def _trim(design: Design, n: int) -> Design:
    """``design`` without its rows after the first ``n``."""
    terms = tuple(dataclasses.replace(t, codes=t.codes[:n], Z=t.Z[:n]) for t in design.terms)
    return dataclasses.replace(
        design, y=design.y[:n], X=design.X[:n], weights=design.weights[:n], terms=terms,
        offset=None if design.offset is None else design.offset[:n], frame=design.frame.iloc[:n],
        dpars=tuple(d._replace(X=d.X[:n]) for d in design.dpars))


def build(formula: str, data, *, weights=None, offset=None, **kwargs) -> Design:
    """This process's design with the levels of all processes' rows (see the module docstring)."""
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    units = _units(formula, data)
    _check_categories(data, sorted({c for u in units for c in u}))
    variables, groups = _required(parse(formula))
    required = sorted(c for c in variables | groups if c in data.columns)
    phantom = _phantoms(data, units, required)
    m = len(phantom)
    both = pd.concat([data, phantom])
    w = np.concatenate([np.asarray(weights, dtype=float), np.ones(m)]) if not (
        weights is None or isinstance(weights, str)) else weights
    off = np.concatenate([np.asarray(offset, dtype=float), np.zeros(m)]) if not (
        offset is None or isinstance(offset, str) or np.ndim(offset) == 0) else offset
    design = design_build(formula, both, weights=w, offset=off, check_levels=False, **kwargs)
    n = design.n_obs - m
    if list(design.frame.index[n:]) != list(phantom.index):
        raise ValueError("internal: the rows added to agree on levels were dropped; report this.")
    design = _trim(design, n)
    design.frame.index = data.index[data.index.get_indexer(design.frame.index)] if data.index.is_unique else \
        design.frame.index
    shapes = allgather((n, design.xnames, design.aliased))
    bad = [i for i, (_, xnames, aliased) in enumerate(shapes) if aliased or xnames != shapes[0][1]]
    if bad:
        raise ValueError(
            f"the fixed-effects matrix is rank deficient on the rows of process(es) {', '.join(map(str, bad))} "
            f"(columns dropped there: {', '.join(shapes[bad[0]][2]) or 'none'}); in a multi-process fit it must have "
            "full rank on every process's rows: drop the aliased columns from the formula, or spread the rows so "
            "that each process sees every combination."
        )
    _check_full_rank(design)
    _check_levels(list(design.terms), sum(s[0] for s in shapes))
    return design


def _check_full_rank(design: Design) -> None:
    """The fixed-effects matrix of all rows must have full rank (no column that lme4's unpivoted-QR rule would drop
    as aliased): checked on ``X'X`` summed over the processes, whose Cholesky diagonal is QR's ``|diag R|``."""
    G = total(design.X.T @ design.X)
    scale = np.sqrt(np.diag(G))
    try:
        r = np.diag(np.linalg.cholesky(G))
    except np.linalg.LinAlgError:
        r = np.zeros(len(G))
    bad = [name for name, rj, sj in zip(design.xnames, r, scale) if not rj > 1e-7 * (sj if sj > 0 else 1.0)]
    if bad:
        raise ValueError(f"the fixed-effects matrix of all processes' rows is rank deficient ({', '.join(bad)} in the "
                         "span of earlier columns, or after one that is); drop those columns from the formula.")


def glm_start(X, offset, family, resp, iterations: int = 8):
    """``mixjax.objectives.glmm.glm_start`` over the rows of all processes (sums gathered; the same steps and the
    same values in every process). The family's own parameters start from process 0's rows."""
    from .objectives.glmm import _glm_terms, _link, _mean

    beta = np.zeros(X.shape[1])
    mean = float(total(np.sum(resp.y)) / total(np.sum(resp.trials)))
    ones = np.flatnonzero(np.all(np.stack(allgather(np.all(X == 1.0, axis=0))), axis=0))
    if ones.size and family.has_intercept:
        m = np.clip(mean, 1e-3, 1 - 1e-3) if family.name == "binomial" else mean
        beta[ones[0]] = np.nan_to_num(float(_link(m, family)))
    params = allgather(family.param_start(resp, np.full(len(resp.y), mean)))[0]
    if not X.shape[1]:
        return beta, params

    def terms(b):
        value, d1, w = (np.asarray(a) for a in _glm_terms(X @ b + offset, resp._replace(levels=()), params, family))
        return float(total(value)), total(X.T @ d1), total(X.T @ (np.maximum(w, 1e-10)[:, None] * X))

    value, g, H = terms(beta)
    for _ in range(iterations):
        step = np.linalg.lstsq(H, g, rcond=None)[0]
        for t in 0.5 ** np.arange(20):  # halve until the log-likelihood does not drop
            new = terms(beta + t * step)
            if new[0] >= value - 1e-10 * abs(value):
                break
        if not np.isfinite(new[0]) or new[0] < value - 1e-10 * abs(value):
            break
        converged = abs(new[0] - value) < 1e-10 * (1 + abs(value))
        beta, (value, g, H) = beta + t * step, new
        if converged:
            break
    mu = np.asarray(_mean(X @ beta + offset, params, family)) if family.has_intercept else None
    if mu is None or mu.ndim != 1:
        return beta, params
    return beta, allgather(family.param_start(resp, mu))[0]
