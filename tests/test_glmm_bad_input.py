"""GLMM bad input: a ValueError naming the problem (with row counts) before any numerical work, the caller's
frame unchanged; complete separation warns naming the coefficient."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import rejected_before_work

import mixjax
from mixjax import MixjaxWarning

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def rejected(data: pd.DataFrame, match: str, formula: str, **kwargs) -> ValueError:
    return rejected_before_work(mixjax.glmm, ("make_glmm", "glmm_engine"), data, match, formula, **kwargs)


@pytest.fixture
def cbpp():
    return mixjax.datasets.load("cbpp")


def test_negative_counts(cbpp):
    bad = cbpp.assign(incidence=cbpp.incidence.where(cbpp.index >= 3, -1))
    err = rejected(bad, r"poisson family needs non-negative integer counts, but 3 row\(s\)",
                   "incidence ~ period + (1 | herd)", family="poisson")
    assert "'incidence'" in str(err)


def test_non_integer_counts(cbpp):
    bad = cbpp.assign(incidence=cbpp.incidence + np.where(cbpp.index == 5, 0.5, 0.0))
    rejected(bad, r"nbinom2 family needs non-negative integer counts, but 1 row", "incidence ~ period + (1 | herd)",
             family="nbinom2")


def test_proportion_above_one(cbpp):
    bad = cbpp.assign(p=np.where(cbpp.index < 2, 1.5, 0.2))
    rejected(bad, r"must lie in \[0, 1\].*2 row\(s\) do not", "p ~ period + (1 | herd)", family="binomial")


def test_binomial_factor_with_three_levels():
    data = mixjax.datasets.load("wine")
    rejected(data, r"binomial response 'rating' has 5 levels.*exactly two", "rating ~ temp + (1 | judge)",
             family="binomial")


def test_cbind_with_negative_failures(cbpp):
    rejected(cbpp.assign(size=cbpp["size"] - 5), r"row\(s\) have negative or non-integer counts", CBPP,
             family="binomial")


def test_gamma_needs_positive_values():
    data = mixjax.datasets.load("sleepstudy")
    bad = data.assign(Reaction=data.Reaction.where(data.index > 0, 0.0))
    rejected(bad, r"gamma \(positive values\) family needs non-negative values, but 1 row", "Reaction ~ Days + (1 | Subject)",
             family="gamma")


def test_unknown_family_lists_valid_ones(cbpp):
    err = rejected(cbpp, "unknown family 'binomail'", CBPP, family="binomail")
    for name in ("binomial", "poisson", "nbinom2", "ordinal", "gamma"):
        assert name in str(err)


def test_family_link_pair_that_makes_no_sense(cbpp):
    err = rejected(cbpp, r"link 'inverse' does not suit family 'binomial'.*logit, probit, cloglog, log", CBPP,
                   family="binomial", link="inverse")
    rejected(cbpp, r"link 'tan'.*not a link mixjax knows", CBPP, family="binomial", link="tan")
    assert "logit" in str(err)


def test_quadrature_with_crossed_effects_is_refused():
    data = mixjax.datasets.load("grouseticks")
    err = rejected(data, r"nagq=5 \(adaptive quadrature\) needs a single random-effects term",
                   "TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", family="poisson", nagq=5)
    assert "does not factor" in str(err)


@pytest.mark.parametrize("nagq", [0, -1, 2.5, True])
def test_nagq_must_be_a_positive_integer(cbpp, nagq):
    rejected(cbpp, "nagq must be a positive integer", CBPP, family="binomial", nagq=nagq)


def test_too_many_quadrature_points():
    data = mixjax.datasets.load("sleepstudy")
    rejected(data, "quadrature points per level", "Reaction ~ Days + (Days | Subject)", family="gamma", nagq=200)


def test_ordinal_needs_three_categories(cbpp):
    data = cbpp.assign(two=pd.Categorical(np.where(cbpp.incidence > 0, "b", "a")))
    rejected(data, "an ordinal model needs at least 3", "two ~ period + (1 | herd)", family="ordinal")


def test_lmm_points_binomial_responses_to_glmm(cbpp):
    with pytest.raises(ValueError, match="fit it with mixjax.glmm"):
        mixjax.lmm(CBPP, cbpp)
    with pytest.raises(ValueError, match="offsets .* are supported by mixjax.glmm"):
        mixjax.lmm("incidence ~ period + offset(size) + (1 | herd)", cbpp)


def test_bad_offset_argument(cbpp):
    rejected(cbpp, r"offset must have one value per row of the data \(56\)", "incidence ~ period + (1 | herd)",
             family="poisson", offset=np.zeros(3))
    rejected(cbpp, r"column 'sise' in formula \"offset='sise'\" is not in the data. Did you mean 'size'", "incidence ~ period + (1 | herd)",
             family="poisson", offset="sise")


def test_complete_separation_warns_naming_the_coefficient():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"g": pd.Categorical(np.repeat(np.arange(20), 10)), "x": rng.normal(size=200)})
    data["y"] = (data.x > 0).astype(float)
    data["z"] = rng.normal(size=200)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mixjax.glmm("y ~ z + x + (1 | g)", data, family="binomial")
    messages = [str(w.message) for w in caught if issubclass(w.category, MixjaxWarning)]
    assert any("complete separation" in m and "'x'" in m for m in messages)
    assert not any("'z'" in m for m in messages if "separation" in m)
