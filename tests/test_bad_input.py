"""Bad input: every error is a ValueError raised before any numerical work, naming the column / level / option
and what to do; the caller's DataFrame is never modified. Missing values and aliased columns warn and go on."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import _forbidden, rejected_before_work

import mixjax
import mixjax.api
from mixjax import MixjaxWarning

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.fixture
def sleep() -> pd.DataFrame:
    return mixjax.datasets.load("sleepstudy")


@pytest.fixture
def no_numerics(monkeypatch):
    """Fail the test if lmm() gets as far as building the objective or optimizing."""
    monkeypatch.setattr(mixjax.api, "make_lmm", _forbidden)
    monkeypatch.setattr(mixjax.api, "lmm_engine", _forbidden)


def assert_rejected(data: pd.DataFrame, match: str, formula: str = FORMULA, **kwargs) -> ValueError:
    """lmm(formula, data, **kwargs) raises ValueError matching ``match`` before any numerical work, and leaves
    ``data`` as it was."""
    return rejected_before_work(mixjax.lmm, ("make_lmm", "lmm_engine"), data, match, formula, **kwargs)


# ------------------------------------------------------------------------------------------- columns


def test_unknown_fixed_column_suggests_near_name(sleep):
    formula = "Reaction ~ Dayz + (1 | Subject)"
    err = assert_rejected(sleep, r"column 'Dayz'.*not in the data.*Did you mean 'Days'", formula)
    assert "Reaction, Days, Subject" in str(err)  # lists what there is


def test_unknown_grouping_column_suggests_near_name(sleep):
    assert_rejected(sleep, r"column 'Subjet'.*Did you mean 'Subject'", "Reaction ~ Days + (1 | Subjet)")


def test_unknown_column_in_random_slope(sleep):
    assert_rejected(sleep, r"column 'days'.*Did you mean 'Days'", "Reaction ~ Days + (days | Subject)")


def test_unknown_response_column(sleep):
    assert_rejected(sleep, r"column 'reaction'.*Did you mean 'Reaction'", "reaction ~ Days + (1 | Subject)")


def test_unknown_column_inside_a_transform(sleep):
    assert_rejected(sleep, r"column 'Dayz'.*Did you mean 'Days'", "Reaction ~ center(Dayz) + (1 | Subject)")


def test_unknown_weights_column(sleep):
    assert_rejected(sleep, r"column 'wt'.*weights", weights="wt")


# ------------------------------------------------------------------------------------------- response


def test_string_response(sleep):
    sleep["label"] = np.where(sleep["Reaction"] > 300, "slow", "fast")
    assert_rejected(sleep, r"response 'label' must be numeric.*Convert it to numbers", "label ~ Days + (1 | Subject)")


def test_categorical_response(sleep):
    sleep["level"] = pd.Categorical(np.where(sleep["Reaction"] > 300, "slow", "fast"))
    assert_rejected(sleep, r"response 'level' must be numeric", "level ~ Days + (1 | Subject)")


def test_boolean_response(sleep):
    sleep["slow"] = sleep["Reaction"] > 300
    assert_rejected(sleep, r"response 'slow' must be numeric.*glmm", "slow ~ Days + (1 | Subject)")


# ------------------------------------------------------------------------------------------- formula


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("Reaction ~ Days + (1 | )", r"malformed random-effects term '\(1 \| \)'.*no grouping factor"),
        ("Reaction ~ Days + ( | Subject)", r"malformed random-effects term .*nothing left of the bar.*\(1 \| group\)"),
        ("Reaction ~ Days + (1 | Subject | Days)", r"malformed random-effects term .*exactly one bar"),
        ("Reaction ~ Days + (1 ||| Subject)", r"malformed random-effects term .*exactly one bar"),
        ("Reaction ~ Days + (1 || Subject || Days)", r"malformed random-effects term .*exactly one bar"),
        ("Reaction ~ Days + (1 | Subject", r"unbalanced parentheses.*'\(' is never closed"),
        ("Reaction ~ Days + 1 | Subject)", r"unbalanced parentheses.*extra '\)'"),
        ("Reaction ~ Days + (1 | Subject))", r"unbalanced parentheses.*extra '\)'"),
        ("Reaction ~ Days + (1 | Subject*Days)", r"grouping factor 'Subject\*Days' must be a column name"),
        ("Reaction ~ Days + (1 | Subject + Days)", r"grouping factor 'Subject \+ Days' must be a column name"),
        ("Reaction ~ Days + (1 | log(Subject))", r"grouping factor 'log\(Subject\)' must be a column name"),
        ("Reaction ~ Days + (1 | Subject/)", r"malformed random-effects term '\(1 \| Subject/\)'"),
        ("Reaction ~ Days + 1 | Subject", r"'\|' outside parentheses.*\(1 \| g\)"),
        ("Reaction ~ Days + (1 | Subject) * Days", r"must be added to the fixed part with '\+'"),
        ("Reaction ~ Days + (Days + | Subject)", r"cannot parse the random-effects term \(Days \+ \| Subject\)"),
        ("Reaction ~ Days $ 2 + (1 | Subject)", r"cannot parse the fixed-effects formula"),
        ("~ Days + (1 | Subject)", r"needs one '~' with the response on its left"),
        ("Reaction ~ ", r"nothing right of '~'"),
        ("Reaction ~ Days ~ Subject", r"needs one '~'"),
    ],
)
def test_malformed_formula(sleep, formula, match):
    assert_rejected(sleep, match, formula)


def test_formula_not_a_string(sleep, no_numerics):
    before = sleep.copy(deep=True)
    with pytest.raises(ValueError, match=r"formula must be a string"):
        mixjax.lmm(None, sleep)
    pd.testing.assert_frame_equal(sleep, before)


def test_no_random_effects_term(sleep):
    assert_rejected(sleep, r"no random-effects term such as \(1 \| group\)", "Reaction ~ Days")


def test_random_term_without_columns(sleep):
    match = r"random-effects term \(0 \| Subject\) has no columns.*\(1 \| Subject\)"
    assert_rejected(sleep, match, "Reaction ~ Days + (0 | Subject)")


# ------------------------------------------------------------------------------------------- levels


def test_grouping_factor_with_one_level(sleep):
    sleep["lab"] = "lab1"
    match = r"grouping factor 'lab' has only 1 level \('lab1'\).*at least 2 levels"
    err = assert_rejected(sleep, match, "Reaction ~ Days + (1 | lab)")
    assert "Remove the term" in str(err)


def test_grouping_factor_with_one_level_after_dropping_missing(sleep, no_numerics):
    sleep["lab"] = np.where(sleep.index < 10, "lab1", None)
    sleep.loc[sleep.index >= 10, "Days"] = np.nan
    before = sleep.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MixjaxWarning)
        with pytest.raises(ValueError, match=r"grouping factor 'lab' has only 1 level"):
            mixjax.lmm("Reaction ~ Days + (1 | lab)", sleep)
    pd.testing.assert_frame_equal(sleep, before)


def test_grouping_factor_with_as_many_levels_as_observations(sleep):
    sleep["obs"] = np.arange(len(sleep))
    assert_rejected(
        sleep, r"grouping factor 'obs' has 180 levels for 180 observations.*coarser grouping",
        "Reaction ~ Days + (1 | obs)",
    )


def test_random_effects_as_many_as_observations(sleep):
    sleep["pair"] = np.arange(len(sleep)) // 2  # 90 levels x (Intercept, Days) = 180 random effects
    assert_rejected(
        sleep, r"'pair'.*90 x 2 = 180 random effects for 180 observations", "Reaction ~ Days + (Days | pair)"
    )


# ------------------------------------------------------------------------------------------- values


def test_inf_in_predictor(sleep):
    sleep["Days"] = sleep["Days"].astype(float)
    sleep.loc[7, "Days"] = np.inf
    assert_rejected(sleep, r"column 'Days' has 1 non-finite value\(s\) \(inf or -inf\), first at index 7.*remove")


def test_inf_reported_by_the_callers_index_label(sleep):
    sleep.index = [f"r{i}" for i in range(len(sleep))]
    sleep.loc["r3", "Reaction"] = np.nan  # dropped rows must not shift the reported position
    sleep.loc["r9", "Reaction"] = -np.inf
    assert_rejected(sleep, r"column 'Reaction' has 1 non-finite value\(s\).*first at index 'r9'")


def test_inf_in_a_random_slope_only(sleep):
    sleep["dose"] = sleep["Days"] * 1.0
    sleep.loc[0, "dose"] = -np.inf
    assert_rejected(sleep, r"column 'dose' has 1 non-finite", "Reaction ~ Days + (dose | Subject)")


def test_inf_made_by_a_transformation(sleep):
    with np.errstate(divide="ignore"):
        assert_rejected(
            sleep, r"fixed-effects column 'np.log\(Days\)' has 18 non-finite value\(s\).*log of 0",
            "Reaction ~ np.log(Days) + (1 | Subject)",
        )


def test_inf_made_by_a_transformation_in_a_random_term(sleep):
    with np.errstate(divide="ignore"):
        assert_rejected(
            sleep, r"random-effects term \(np.log\(Days\) \| Subject\) column 'np.log\(Days\)' has 18 non-finite",
            "Reaction ~ Days + (np.log(Days) | Subject)",
        )


def test_nan_made_by_a_transformation(sleep):
    with np.errstate(invalid="ignore", divide="ignore"):
        assert_rejected(
            sleep, r"cannot build the fixed effects.*np.log\(Days - 5\).*null values.*log of a negative number",
            "Reaction ~ np.log(Days - 5) + (1 | Subject)",
        )


def test_empty_data(sleep):
    assert_rejected(sleep.iloc[:0], r"data has no rows")


def test_all_rows_missing(sleep, no_numerics):
    sleep["Days"] = np.nan
    before = sleep.copy(deep=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=r"no rows left after dropping missing values.*Days"):
            mixjax.lmm(FORMULA, sleep)
    assert any(issubclass(w.category, MixjaxWarning) and "dropped 180 of 180 rows" in str(w.message) for w in caught)
    pd.testing.assert_frame_equal(sleep, before)


def test_data_not_a_dataframe(sleep, no_numerics):
    with pytest.raises(ValueError, match=r"data must be a pandas DataFrame, got dict"):
        mixjax.lmm(FORMULA, sleep.to_dict("list"))


# ------------------------------------------------------------------------------------------- weights


def test_weights_wrong_length(sleep):
    match = r"weights must have one value per row of the data \(180\), got shape \(179,\)"
    assert_rejected(sleep, match, weights=np.ones(179))


def test_weights_negative(sleep):
    w = np.ones(len(sleep))
    w[4] = -1.0
    assert_rejected(sleep, r"weights must be positive and finite; 1 of them .*first at position 4", weights=w)


def test_weights_zero(sleep):
    assert_rejected(sleep, r"weights must be positive and finite; 180 of them", weights=np.zeros(len(sleep)))


def test_weights_infinite_column(sleep):
    sleep["w"] = 1.0
    sleep.loc[2, "w"] = np.inf
    assert_rejected(sleep, r"weights must be positive and finite", weights="w")


def test_weights_not_numbers(sleep):
    assert_rejected(sleep, r"weights must be numbers", weights=["heavy"] * len(sleep))


# ------------------------------------------------------------------------------------------- start


def test_start_wrong_length(sleep):
    assert_rejected(sleep, r"start must have 3 theta values \(Subject.Intercept, .*\), got 2", start=[1.0, 0.0])


def test_start_unknown_name(sleep):
    match = r"start has unknown theta name\(s\) Subjct.Intercept; the names are"
    assert_rejected(sleep, match, start={"Subjct.Intercept": 1.0})


def test_start_negative_standard_deviation(sleep):
    assert_rejected(sleep, r"start values must be finite, with standard-deviation .* >= 0; bad: Subject\.Intercept\.$",
                    start=[-1.0, 0.0, 1.0])
    assert_rejected(sleep, r"bad: Subject\.Days\.$", start={"Subject.Days": -0.5})


def test_start_not_finite(sleep):
    assert_rejected(sleep, r"start values must be finite.*bad: Subject\.Intercept\.$", start=[np.nan, 0.0, 1.0])


# ------------------------------------------------------------------------ warnings that do not stop the fit


def test_missing_values_dropped_with_warning(sleep):
    sleep["Days"] = sleep["Days"].astype(float)
    sleep.loc[[0, 5, 9], "Days"] = np.nan
    sleep.loc[[5, 20], "Reaction"] = np.nan  # row 5 missing twice: counted once
    sleep["Subject"] = sleep["Subject"].astype(object)
    sleep.loc[33, "Subject"] = None
    before = sleep.copy(deep=True)
    match = r"dropped 5 of 180 rows with missing values \(.*Days: 3.*Reaction: 2.*Subject: 1"
    with pytest.warns(MixjaxWarning, match=match):
        fit = mixjax.lmm(FORMULA, sleep)
    assert fit.nobs == 175
    assert fit.design.n_missing == 5
    pd.testing.assert_frame_equal(sleep, before)
    assert sleep["Days"].isna().sum() == 3  # the caller's frame still has its NaNs


def test_missing_values_in_unused_columns_are_ignored(sleep):
    sleep["unused"] = np.nan
    before = sleep.copy(deep=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MixjaxWarning)
        design = mixjax.build_design(FORMULA, sleep)
    assert design.n_obs == 180
    pd.testing.assert_frame_equal(sleep, before)


def test_missing_weights_drop_rows(sleep):
    w = np.ones(len(sleep))
    w[[1, 2]] = np.nan
    with pytest.warns(MixjaxWarning, match=r"dropped 2 of 180 rows .*weights: 2"):
        design = mixjax.build_design(FORMULA, sleep, weights=w)
    assert design.n_obs == 178 and design.weights.shape == (178,)


def test_rank_deficient_fixed_effects_drop_aliased_column(sleep):
    sleep["x2"] = 2 * sleep["Days"]
    before = sleep.copy(deep=True)
    with pytest.warns(MixjaxWarning, match=r"rank deficient so dropping 1 column\(s\) / coefficient\(s\): x2"):
        fit = mixjax.lmm("Reaction ~ Days + x2 + (Days | Subject)", sleep)
    assert list(fit.fixef.index) == ["Intercept", "Days"]
    assert "x2" not in fit.fixef.index
    assert fit.design.aliased == ("x2",)
    assert fit.nobs == 180
    pd.testing.assert_frame_equal(sleep, before)
    reference = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    np.testing.assert_allclose(fit.fixef.to_numpy(), reference.fixef.to_numpy(), rtol=1e-6)


def test_duplicate_columns_the_formula_reads_are_named():
    sleep = mixjax.datasets.load("sleepstudy")
    doubled = pd.concat([sleep, sleep[["Days"]]], axis=1)
    with pytest.raises(ValueError, match="more than one column named 'Days'"):
        mixjax.lmm("Reaction ~ Days + (1 | Subject)", doubled)
    extra = sleep[["Days"]].rename(columns={"Days": "extra"})
    unused = pd.concat([sleep, extra, extra], axis=1)  # repeated, but not read by the formula
    assert mixjax.lmm("Reaction ~ Days + (1 | Subject)", unused).loglik == pytest.approx(
        mixjax.lmm("Reaction ~ Days + (1 | Subject)", sleep).loglik)


def test_numbers_stored_as_text_are_said_once():
    sleep = mixjax.datasets.load("sleepstudy").assign(day=lambda d: d.Days.astype(str))
    with pytest.warns(mixjax.MixjaxWarning, match="column 'day' holds numbers stored as text") as caught:
        fit = mixjax.lmm("Reaction ~ day + (1 | Subject)", sleep)
    assert len([w for w in caught if "stored as text" in str(w.message)]) == 1
    assert len(fit.fixef) == 10  # a factor with 10 levels, as the warning says
    with warnings.catch_warnings():
        warnings.simplefilter("error", mixjax.MixjaxWarning)  # categorical and real text columns: no warning
        mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixjax.datasets.load("cbpp"),
                    family="binomial")
