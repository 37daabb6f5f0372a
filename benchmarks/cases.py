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
    nlme: dict | None = None  # nonlinear model: fixed, random, start, covariance (``formula`` is the model)

    @property
    def glmm(self) -> bool:
        return self.family is not None

    @property
    def nlme_group(self) -> str | None:
        return self.nlme["random"].split("|")[1].strip() if self.nlme else None

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
        return list(dict.fromkeys(cols + ([self.nlme_group] if self.nlme else [])))

    def data(self) -> pd.DataFrame:
        """The case's data: only the formula's columns, grouping columns categorical."""
        df = self.load()
        names = set(_NAME.findall(self.formula)) | set(self.grouping_columns)
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


def sim_theoph(n_subjects: int = 5000, seed: int = 20240604) -> pd.DataFrame:
    """A Theoph-like study: first-order absorption and elimination, 11 samples per subject over 36 h.

    log rates (lKe, lKa, lCl) = (-2.45, 0.47, -3.23) + subject effects with SDs (0.1, 0.6, 0.17); dose U(3, 6);
    residual SD 0.5.
    """
    rng = np.random.default_rng(seed)
    times = np.array([0.25, 0.5, 1, 2, 3.5, 5, 7, 9, 12, 24, 36.0])
    b = np.array([-2.45, 0.47, -3.23]) + rng.normal(size=(n_subjects, 3)) * np.array([0.1, 0.6, 0.17])
    dose = rng.uniform(3, 6, n_subjects)
    subject = np.repeat(np.arange(n_subjects), len(times))
    t = np.tile(times, n_subjects)
    lke, lka, lcl = b[subject].T
    mean = dose[subject] * np.exp(lke + lka - lcl) * (np.exp(-np.exp(lke) * t) - np.exp(-np.exp(lka) * t)) / (
        np.exp(lka) - np.exp(lke))
    return pd.DataFrame({"Subject": _factor(subject, n_subjects, "s"), "Time": t, "Dose": dose[subject],
                         "conc": mean + rng.normal(scale=0.5, size=len(t))})


_THEOPH = "conc ~ Dose*exp(lKe+lKa-lCl)*(exp(-exp(lKe)*Time)-exp(-exp(lKa)*Time))/(exp(lKa)-exp(lKe))"
_THEOPH_START = {"lKe": -2.4, "lKa": 0.45, "lCl": -3.2}

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
        # nonlinear mixed models (issue 4), ML by Lindstrom-Bates
        Case("orange", "circumference ~ Asym/(1+exp((xmid-age)/scal))", False, _dataset("Orange"),
             "35 rows, logistic growth, random Asym over 5 trees",
             nlme={"fixed": "Asym + xmid + scal ~ 1", "random": "Asym ~ 1 | Tree",
                   "start": {"Asym": 192, "xmid": 728, "scal": 353}, "covariance": "unstructured"}),
        Case("theoph", _THEOPH, False, _dataset("Theoph"),
             "132 rows, first-order compartment model, 12 subjects, diagonal covariance",
             nlme={"fixed": "lKe + lKa + lCl ~ 1", "random": "lKe + lKa + lCl ~ 1 | Subject",
                   "start": _THEOPH_START, "covariance": "diagonal"}),
        Case("soybean", "weight ~ Asym/(1+exp((xmid-Time)/scal))", False, _dataset("Soybean"),
             "412 rows, logistic growth, 48 plots, diagonal covariance",
             nlme={"fixed": "Asym + xmid + scal ~ 1", "random": "Asym + xmid + scal ~ 1 | Plot",
                   "start": {"Asym": 17, "xmid": 52, "scal": 7.5}, "covariance": "diagonal"}),
        Case("sim_theoph_5k", _THEOPH, False, sim_theoph,
             "simulated: 5,000 subjects x 11 samples, first-order compartment, unstructured 3 x 3 covariance",
             nlme={"fixed": "lKe + lKa + lCl ~ 1", "random": "lKe + lKa + lCl ~ 1 | Subject",
                   "start": _THEOPH_START, "covariance": "unstructured"}),
    )
}
