"""Benchmark cases: a name, an lme4 formula, REML or ML, and a data loader.

Real data sets come from ``mixjax.datasets.load``; the simulated ones are
generated with a fixed seed so every engine (and every run) sees the same data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

_BAR_TERM = re.compile(r"\(([^()|]+)\|([^()]+)\)")
_NAME = re.compile(r"[A-Za-z_.][A-Za-z0-9_.]*")


@dataclass(frozen=True)
class Case:
    name: str
    formula: str
    reml: bool
    load: Callable[[], pd.DataFrame]
    description: str = ""
    family: str | None = None  # a GLMM family (mixjax's name); None for a linear mixed model
    nagq: int = 1

    @property
    def glmm(self) -> bool:
        return self.family is not None

    @property
    def fixed_formula(self) -> str:
        """The formula without its ``(expr | group)`` terms, e.g. ``"y ~ 1 + x"``."""
        lhs, rhs = self.formula.split("~", 1)
        terms = [t.strip() for t in _BAR_TERM.sub("", rhs).split("+") if t.strip()]
        return f"{lhs.strip()} ~ {' + '.join(terms) or '1'}"

    @property
    def random_terms(self) -> list[tuple[str, str]]:
        """``[(expr, group), ...]`` for each ``(expr | group)`` term of the formula."""
        return [(e.strip(), g.strip()) for e, g in _BAR_TERM.findall(self.formula)]

    @property
    def grouping_columns(self) -> list[str]:
        """Columns that form grouping factors (``dept:service`` gives both)."""
        cols = [c.strip() for _, g in self.random_terms for c in g.split(":")]
        return list(dict.fromkeys(cols))

    def data(self) -> pd.DataFrame:
        """The case's data: only the formula's columns, grouping columns categorical."""
        df = self.load()
        names = set(_NAME.findall(self.formula))
        df = df[[c for c in df.columns if c in names]].copy()
        for col in self.grouping_columns:
            if not isinstance(df[col].dtype, pd.CategoricalDtype):
                df[col] = df[col].astype(str).astype("category")
        return df


def _dataset(name: str) -> Callable[[], pd.DataFrame]:
    def load() -> pd.DataFrame:
        import mixjax.datasets

        return mixjax.datasets.load(name)

    return load


def _factor(codes: np.ndarray, n_levels: int, prefix: str) -> pd.Categorical:
    labels = [f"{prefix}{i}" for i in range(n_levels)]
    return pd.Categorical.from_codes(codes, categories=labels).remove_unused_categories()


def sim_slope(n_groups: int = 100_000, per_group: int = 10, seed: int = 20240601) -> pd.DataFrame:
    """Balanced groups with correlated random intercept and slope.

    y = 2 + 0.5 x + b0[g] + b1[g] x + e; sd(b0, b1) = (1, 0.5), cor = 0.3, sd(e) = 1.
    """
    rng = np.random.default_rng(seed)
    n = n_groups * per_group
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=n)
    sd = np.array([1.0, 0.5])
    cov = np.outer(sd, sd) * np.array([[1.0, 0.3], [0.3, 1.0]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=n_groups)
    y = 2.0 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "g": _factor(g, n_groups, "g")})


def sim_crossed(n: int = 1_000_000, n_a: int = 10_000, n_b: int = 1_000, seed: int = 20240602) -> pd.DataFrame:
    """Crossed random intercepts, rows assigned to (a, b) uniformly at random.

    y = 1 + 0.3 x + u[a] + v[b] + e; sd(u) = 1, sd(v) = 0.7, sd(e) = 1.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(n_a, size=n)
    b = rng.integers(n_b, size=n)
    x = rng.normal(size=n)
    u = rng.normal(scale=1.0, size=n_a)
    v = rng.normal(scale=0.7, size=n_b)
    y = 1.0 + 0.3 * x + u[a] + v[b] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "a": _factor(a, n_a, "a"), "b": _factor(b, n_b, "b")})


def sim_bernoulli(n_groups: int = 50_000, per_group: int = 20, seed: int = 20240603) -> pd.DataFrame:
    """Bernoulli responses with a correlated random intercept and slope per group (logit link).

    logit P(y = 1) = -0.5 + 0.8 x + b0[g] + b1[g] x; sd(b0, b1) = (1, 0.5), cor = -0.3.
    """
    rng = np.random.default_rng(seed)
    n = n_groups * per_group
    g = np.repeat(np.arange(n_groups), per_group)
    x = rng.normal(size=n)
    sd = np.array([1.0, 0.5])
    b = rng.multivariate_normal(np.zeros(2), np.outer(sd, sd) * np.array([[1.0, -0.3], [-0.3, 1.0]]), size=n_groups)
    eta = -0.5 + 0.8 * x + b[g, 0] + b[g, 1] * x
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "g": _factor(g, n_groups, "g")})


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("sleepstudy", "Reaction ~ Days + (Days | Subject)", True, _dataset("sleepstudy"),
             "180 rows, 18 subjects, correlated intercept + slope"),
        Case("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", True, _dataset("Penicillin"),
             "144 rows, crossed 24 x 6 intercepts"),
        Case("insteval", "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)", False,
             _dataset("InstEval"), "73,421 rows, crossed 2972 x 1128 x 28 intercepts, ML"),
        Case("sim_slope_1m", "y ~ x + (x | g)", True, sim_slope,
             "simulated: 1e6 rows, 1e5 groups, correlated intercept + slope"),
        Case("sim_crossed_1m", "y ~ x + (1 | a) + (1 | b)", True, sim_crossed,
             "simulated: 1e6 rows, crossed 10,000 x 1,000 intercepts"),
        # GLMMs (issue 3)
        Case("cbpp_laplace", "cbind(incidence, size - incidence) ~ period + (1 | herd)", False, _dataset("cbpp"),
             "56 rows, binomial with trials, 15 herds, Laplace", family="binomial"),
        Case("cbpp_agq25", "cbind(incidence, size - incidence) ~ period + (1 | herd)", False, _dataset("cbpp"),
             "the same, adaptive quadrature with 25 points", family="binomial", nagq=25),
        Case("verbagg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", False, _dataset("VerbAgg"),
             "7,584 binary rows, crossed 316 subjects x 24 items, Laplace", family="binomial"),
        Case("grouseticks", "TICKS ~ YEAR + HEIGHT + (1 | BROOD) + (1 | LOCATION)", False, _dataset("grouseticks"),
             "403 counts, Poisson, nested 118 broods in 63 locations, Laplace", family="poisson"),
        Case("salamanders", "count ~ spp + mined + (1 | site)", False, _dataset("Salamanders"),
             "644 counts, negative binomial (nbinom2), 23 sites, Laplace", family="nbinom2"),
        Case("sim_bernoulli_1m", "y ~ x + (x | g)", False, sim_bernoulli,
             "simulated: 1e6 Bernoulli rows, 5e4 groups, correlated intercept + slope, Laplace", family="binomial"),
        Case("sim_bernoulli_1m_agq5", "y ~ x + (x | g)", False, sim_bernoulli,
             "the same, adaptive quadrature, 5 points per dimension (25 per group)", family="binomial", nagq=5),
    )
}
