"""``mixjax warmup``: compile the programs of common small models ahead of time.

Small models are padded to size buckets (``objectives.lmm_buckets``, ``objectives.glmm_buckets``), so one compiled
program serves every model of a structure class whose sizes fall in the same buckets, and the persistent cache
keeps it on disk. Warming up fits one simulated model per class and bucket: linear mixed models with a random
intercept, a correlated random slope and two crossed random intercepts (the buckets of up to 4 fixed effects and
256 groups), by REML (with the summary, which compiles Satterthwaite's derivatives; ML fits share the programs);
and, for each GLMM family asked for, a random intercept with 2 and 3-4 fixed effects in four (groups, rows)
buckets. Later first fits of such models, in any process, load the programs instead of compiling them.
"""
from __future__ import annotations

import time
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["WarmupCase", "cases", "simulate", "warmup"]


class WarmupCase(NamedTuple):
    label: str
    formula: str
    family: str | None  # None: a linear mixed model
    n_groups: int
    n_rows: int
    n_fixed: int  # fixed-effect columns, the intercept included


def cases(families=("binomial", "poisson")) -> list[WarmupCase]:
    """The classes and buckets that ``warmup`` compiles."""
    out = [WarmupCase(f"lmm {re}, 2 fixed, 48 groups", f"y ~ x1 + {re}", None, 48, 480, 2)
           for re in ("(1 | g)", "(x1 | g)", "(1 | g) + (1 | h)")]  # LMM buckets: 1-4 fixed, up to 256 groups
    for n_fixed in (2, 4):
        xs = " + ".join(f"x{j}" for j in range(1, n_fixed))
        for family in families:
            for n_groups, n_rows in ((12, 60), (12, 250), (48, 250), (48, 1000)):
                out.append(WarmupCase(f"{family} (1 | g), {n_fixed} fixed, {n_groups} groups, {n_rows} rows",
                                      f"y ~ {xs} + (1 | g)", family, n_groups, n_rows, n_fixed))
    return out


def simulate(case: WarmupCase, seed: int = 0) -> pd.DataFrame:
    """Data for ``case``: every group present, standard normal covariates, a response of the case's family."""
    rng = np.random.default_rng(seed)
    n = case.n_rows
    g = np.arange(n) % case.n_groups
    X = rng.standard_normal((n, case.n_fixed - 1))
    eta = 0.2 + X @ np.full(case.n_fixed - 1, 0.3) + 0.5 * rng.standard_normal(case.n_groups)[g]
    if case.family is None:
        slope = X[:, 0] if case.n_fixed > 1 else 0.0
        y = eta + rng.standard_normal(n) + 0.3 * rng.standard_normal(case.n_groups)[g] * slope
    elif case.family == "binomial":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:  # count families
        y = rng.poisson(np.exp(eta)).astype(float)
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(1, case.n_fixed)])
    if "(1 | h)" in case.formula:  # a second, crossed grouping factor of 4 levels (Penicillin's buckets)
        h = rng.integers(0, 4, n)
        frame["h"] = pd.Categorical([f"h{i}" for i in h])
        y = y + 0.4 * rng.standard_normal(4)[h]
    return frame.assign(y=y, g=pd.Categorical([f"g{i}" for i in g]))


def warmup(families=("binomial", "poisson"), progress: Callable[[str], None] | None = print) -> list:
    """Fit every case of ``cases(families)`` once, so that the compiled programs are on disk. Returns
    ``[(label, seconds)]``; ``progress`` is told about each case (None: silent)."""
    import warnings

    from . import api
    from .design import MixjaxWarning

    times = []
    for case in cases(families):
        start = time.perf_counter()
        data = simulate(case)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MixjaxWarning)  # a simulated fit may be singular: no matter here
            if case.family is None:
                api.lmm(case.formula, data).summary()
            else:
                api.glmm(case.formula, data, family=case.family).fixef_se
        times.append((case.label, time.perf_counter() - start))
        if progress is not None:
            progress(f"{case.label}: {times[-1][1]:.1f} s")
    return times
