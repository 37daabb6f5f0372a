"""lme4 formulas -> the random-effects terms lme4 would make, at the parse level (``parse_formula``) and at the
design level (``build_design``: group names as lme4's VarCorr shows them, column names, levels, order).

Sources of the tables: the lme4 "cheat sheet" (Bolker's GLMM FAQ / the lme4 vignette's table of formulas) and
Barr, Levy, Scheepers & Tily (2013), "Random effects structure for confirmatory hypothesis testing", with
crossed Subject and Item.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import mixjax
from mixjax.formula import ParsedFormula, RandomTerm

# ------------------------------------------------------------------------------------------------ data

N_V2 = 12  # levels of the grouping factor V2
N_V3 = 4  # distinct values of V3 (numeric, also usable as a grouping factor as in the cheat sheet's V2/V3)
N_SUBJECT = 20
N_ITEM = 30  # more items than subjects: lme4 then reorders the terms


def _cheat_sheet_data() -> pd.DataFrame:
    rng = np.random.default_rng(20130101)
    n_rep = 5
    n = N_V2 * N_V3 * n_rep
    return pd.DataFrame(
        {
            "V1": rng.normal(size=n),
            "V2": pd.Categorical([f"g{i:02d}" for i in np.repeat(np.arange(N_V2), N_V3 * n_rep)]),
            "V3": np.tile(np.arange(N_V3), N_V2 * n_rep),  # int64
            "V4": rng.normal(size=n),
            "F": pd.Categorical(np.tile(["a", "b", "c"], n // 3)),
            "Sex": pd.Categorical(np.where(np.arange(n) % 2 == 0, "Male", "Female"), categories=["Male", "Female"]),
        }
    )


def _barr_data() -> pd.DataFrame:
    """Subject x Item fully crossed; X (condition, -0.5/0.5) varies within subjects and within items."""
    rng = np.random.default_rng(2013)
    subject = np.repeat(np.arange(N_SUBJECT), N_ITEM)
    item = np.tile(np.arange(N_ITEM), N_SUBJECT)
    x = np.where((subject + item) % 2 == 0, -0.5, 0.5)
    noise = rng.normal(0, 20, N_SUBJECT)[subject] + rng.normal(0, 15, N_ITEM)[item] + rng.normal(0, 30, x.size)
    y = 400 + 30 * x + noise
    return pd.DataFrame(
        {
            "Subject": pd.Categorical([f"s{i:02d}" for i in subject]),
            "Item": pd.Categorical([f"i{i:02d}" for i in item]),
            "X": x,
            "Y": y,
        }
    )


def _nested_data() -> pd.DataFrame:
    """a (3 levels) / b (2 per a) / c (2 per b), written with repeated labels as real data usually are."""
    rng = np.random.default_rng(7)
    a, b, c = np.meshgrid(np.arange(3), np.arange(2), np.arange(2), indexing="ij")
    a, b, c = (np.repeat(v.ravel(), 4) for v in (a, b, c))
    return pd.DataFrame(
        {
            "y": rng.normal(size=a.size),
            "a": pd.Categorical([f"A{i}" for i in a]),
            "b": pd.Categorical([f"B{i}" for i in b]),
            "c": pd.Categorical([f"C{i}" for i in c]),
            "small": pd.Categorical(np.tile(["u", "v", "w"], a.size // 3)),
        }
    )


CHEAT = _cheat_sheet_data()
BARR = _barr_data()
NESTED = _nested_data()


def _nospace(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _parsed(parsed: ParsedFormula):
    """Whitespace-free view of a ParsedFormula for comparisons."""
    return (
        parsed.response,
        _nospace(parsed.fixed),
        tuple((_nospace(t.expr), t.group, t.split) for t in parsed.random),
    )


def _terms(design):
    return [(t.group, t.factor, t.cnames, t.n_levels, t.k) for t in design.terms]


# ------------------------------------------------------------------------------- the lmer cheat sheet

N_V3V2 = N_V2 * N_V3
CHEAT_SHEET = [
    pytest.param(
        "V1 ~ (1|V2) + V3",
        [("1", "V2", False)],
        [("V2", "V2", ("Intercept",), N_V2, 1)],
        id="random-intercept",
    ),
    pytest.param(
        "V1 ~ (0+V3|V2) + V3",
        [("0+V3", "V2", False)],
        [("V2", "V2", ("V3",), N_V2, 1)],
        id="random-slope-no-intercept",
    ),
    pytest.param(
        "V1 ~ (1|V2) + (0+V3|V2) + V3",
        [("1", "V2", False), ("0+V3", "V2", False)],
        [("V2", "V2", ("Intercept",), N_V2, 1), ("V2.1", "V2", ("V3",), N_V2, 1)],
        id="uncorrelated-by-hand",
    ),
    pytest.param(
        "V1 ~ (1+V3|V2) + V3",
        [("1+V3", "V2", False)],
        [("V2", "V2", ("Intercept", "V3"), N_V2, 2)],
        id="correlated-intercept-slope",
    ),
    pytest.param(
        "V1 ~ (1|V2/V3) + V3",
        [("1", "V3:V2", False), ("1", "V2", False)],
        [("V3:V2", "V3:V2", ("Intercept",), N_V3V2, 1), ("V2", "V2", ("Intercept",), N_V2, 1)],
        id="nested",
    ),
    pytest.param(
        "V1 ~ (1|V2) + (1|V3) + V4",
        [("1", "V2", False), ("1", "V3", False)],
        [("V2", "V2", ("Intercept",), N_V2, 1), ("V3", "V3", ("Intercept",), N_V3, 1)],
        id="crossed",
    ),
    pytest.param(
        "V1 ~ (1+V3*V4|V2) + V3*V4",
        [("1+V3*V4", "V2", False)],
        [("V2", "V2", ("Intercept", "V3", "V4", "V3:V4"), N_V2, 4)],
        id="interaction-slopes",
    ),
    pytest.param(
        "V1 ~ (V3 || V2) + V3",
        [("V3", "V2", True)],
        [("V2", "V2", ("Intercept",), N_V2, 1), ("V2.1", "V2", ("V3",), N_V2, 1)],
        id="double-bar",
    ),
    pytest.param(
        "V1 ~ (1 | V2:V3) + V3",
        [("1", "V2:V3", False)],
        [("V2:V3", "V2:V3", ("Intercept",), N_V3V2, 1)],
        id="interaction-grouping",
    ),
]


@pytest.mark.parametrize(("formula", "random", "terms"), CHEAT_SHEET)
def test_cheat_sheet_parse(formula, random, terms):
    parsed = mixjax.parse_formula(formula)
    assert isinstance(parsed, ParsedFormula)
    assert parsed.response == "V1"
    assert all(isinstance(t, RandomTerm) for t in parsed.random)
    assert tuple((_nospace(t.expr), t.group, t.split) for t in parsed.random) == tuple(random)
    assert "|" not in parsed.fixed


@pytest.mark.parametrize(("formula", "random", "terms"), CHEAT_SHEET)
def test_cheat_sheet_design(formula, random, terms):
    design = mixjax.build_design(formula, CHEAT)
    assert _terms(design) == terms
    assert design.n_obs == len(CHEAT)
    for term in design.terms:
        assert term.Z.shape == (len(CHEAT), term.k)
        assert term.codes.shape == (len(CHEAT),)
        assert set(np.unique(term.codes)) == set(range(term.n_levels))


@pytest.mark.parametrize(
    ("formula", "fixed", "xnames"),
    [
        ("V1 ~ (1|V2) + V3", "V1~V3", ("Intercept", "V3")),
        ("V1 ~ (1|V2) + (1|V3) + V4", "V1~V4", ("Intercept", "V4")),
        ("V1 ~ (1+V3*V4|V2) + V3*V4", "V1~V3*V4", ("Intercept", "V3", "V4", "V3:V4")),
        ("V1 ~ V3 + (1|V2) + Sex", "V1~V3+Sex", ("Intercept", "V3", "Sex[T.Female]")),
        ("V1 ~ 0 + V3 + (1|V2)", "V1~0+V3", ("V3",)),
        ("V1 ~ V3 - 1 + (1|V2)", "V1~V3-1", ("V3",)),
        ("V1 ~ (1|V2)", "V1~1", ("Intercept",)),
        ("V1 ~ (1|V2) + F", "V1~F", ("Intercept", "F[T.b]", "F[T.c]")),
    ],
)
def test_fixed_part(formula, fixed, xnames):
    assert _nospace(mixjax.parse_formula(formula).fixed) == fixed
    design = mixjax.build_design(formula, CHEAT)
    assert design.xnames == xnames
    assert design.X.shape == (len(CHEAT), len(xnames))


# --------------------------------------------------------------------------- Barr et al. (2013), Subject x Item

# With more items (30) than subjects (20) the numbers of levels increase along the written order, so lme4 sorts the
# terms: rev(order(nlevels)), which puts tied terms in reverse written order (lme4's mkReTrms).
BARR_TABLE = [
    pytest.param(
        "Y ~ X + (1|Subject) + (1|Item)",
        [("1", "Subject", False), ("1", "Item", False)],
        [("Item", "Item", ("Intercept",), N_ITEM, 1), ("Subject", "Subject", ("Intercept",), N_SUBJECT, 1)],
        id="intercepts-only",
    ),
    pytest.param(
        "Y ~ X + (1+X|Subject) + (1|Item)",
        [("1+X", "Subject", False), ("1", "Item", False)],
        [("Item", "Item", ("Intercept",), N_ITEM, 1), ("Subject", "Subject", ("Intercept", "X"), N_SUBJECT, 2)],
        id="subject-slopes",
    ),
    pytest.param(
        "Y ~ X + (1|Subject) + (1+X|Item)",
        [("1", "Subject", False), ("1+X", "Item", False)],
        [("Item", "Item", ("Intercept", "X"), N_ITEM, 2), ("Subject", "Subject", ("Intercept",), N_SUBJECT, 1)],
        id="item-slopes",
    ),
    pytest.param(
        "Y ~ X + (1+X|Subject) + (1+X|Item)",
        [("1+X", "Subject", False), ("1+X", "Item", False)],
        [("Item", "Item", ("Intercept", "X"), N_ITEM, 2), ("Subject", "Subject", ("Intercept", "X"), N_SUBJECT, 2)],
        id="maximal",
    ),
    pytest.param(
        "Y ~ X + (X|Subject) + (X|Item)",
        [("X", "Subject", False), ("X", "Item", False)],
        [("Item", "Item", ("Intercept", "X"), N_ITEM, 2), ("Subject", "Subject", ("Intercept", "X"), N_SUBJECT, 2)],
        id="maximal-implicit-intercept",
    ),
    pytest.param(
        "Y ~ X + (1|Subject) + (0+X|Subject) + (1|Item)",
        [("1", "Subject", False), ("0+X", "Subject", False), ("1", "Item", False)],
        [
            ("Item", "Item", ("Intercept",), N_ITEM, 1),
            ("Subject", "Subject", ("X",), N_SUBJECT, 1),
            ("Subject.1", "Subject", ("Intercept",), N_SUBJECT, 1),
        ],
        id="subject-uncorrelated-by-hand",
    ),
    pytest.param(
        "Y ~ X + (X||Subject) + (X||Item)",
        [("X", "Subject", True), ("X", "Item", True)],
        [
            ("Item", "Item", ("X",), N_ITEM, 1),
            ("Item.1", "Item", ("Intercept",), N_ITEM, 1),
            ("Subject", "Subject", ("X",), N_SUBJECT, 1),
            ("Subject.1", "Subject", ("Intercept",), N_SUBJECT, 1),
        ],
        id="maximal-uncorrelated",
    ),
    pytest.param(
        "Y ~ X + (0+X|Subject) + (1|Item)",
        [("0+X", "Subject", False), ("1", "Item", False)],
        [("Item", "Item", ("Intercept",), N_ITEM, 1), ("Subject", "Subject", ("X",), N_SUBJECT, 1)],
        id="subject-slope-only",
    ),
]


@pytest.mark.parametrize(("formula", "random", "terms"), BARR_TABLE)
def test_barr_parse(formula, random, terms):
    parsed = mixjax.parse_formula(formula)
    assert parsed.response == "Y"
    assert _nospace(parsed.fixed) == "Y~X"
    assert tuple((_nospace(t.expr), t.group, t.split) for t in parsed.random) == tuple(random)


@pytest.mark.parametrize(("formula", "random", "terms"), BARR_TABLE)
def test_barr_design(formula, random, terms):
    design = mixjax.build_design(formula, BARR)
    assert design.xnames == ("Intercept", "X")
    assert _terms(design) == terms


def test_barr_no_reorder_when_levels_already_decrease():
    """With more subjects than items lme4 keeps the written order (no reorder): Subject, Subject.1, Item."""
    data = BARR[BARR["Item"].cat.codes < 10].copy()
    data["Item"] = data["Item"].cat.remove_unused_categories()
    design = mixjax.build_design("Y ~ X + (1|Subject) + (0+X|Subject) + (1|Item)", data)
    assert _terms(design) == [
        ("Subject", "Subject", ("Intercept",), N_SUBJECT, 1),
        ("Subject.1", "Subject", ("X",), N_SUBJECT, 1),
        ("Item", "Item", ("Intercept",), 10, 1),
    ]


# ---------------------------------------------------------------------------------------------- nesting


def test_three_level_nesting_parse():
    parsed = mixjax.parse_formula("y ~ 1 + (1 | a/b/c)")
    assert [t.group for t in parsed.random] == ["c:b:a", "b:a", "a"]  # lme4's findbars order
    assert {t.group for t in parsed.random} == {"a", "b:a", "c:b:a"}
    assert all(t.expr == "1" and not t.split for t in parsed.random)
    assert [t.factors for t in parsed.random] == [("c", "b", "a"), ("b", "a"), ("a",)]


def test_three_level_nesting_design():
    design = mixjax.build_design("y ~ 1 + (1 | a/b/c)", NESTED)
    assert [(t.group, t.n_levels) for t in design.terms] == [("c:b:a", 12), ("b:a", 6), ("a", 3)]
    # b is written with repeated labels (B0, B1 in every a): b:a gives one level per (a, b) pair
    assert design.terms[1].levels[:2] == ("B0:A0", "B0:A1")
    pairs = NESTED["b"].astype(str) + ":" + NESTED["a"].astype(str)
    term = design.terms[1]
    np.testing.assert_array_equal(np.asarray(term.levels)[term.codes], pairs.to_numpy())


def test_nesting_with_slope_and_uncorrelated():
    parsed = mixjax.parse_formula("y ~ (x | a/b) + (z || g)")
    assert [(t.expr, t.group, t.split) for t in parsed.random] == [
        ("x", "b:a", False),
        ("x", "a", False),
        ("z", "g", True),
    ]


def test_interaction_grouping_one_level_per_observed_combination():
    # drop every row of two (V2, V3) combinations: they must not become levels
    keep = ~(((CHEAT["V2"] == "g00") & (CHEAT["V3"] == 1)) | ((CHEAT["V2"] == "g05") & (CHEAT["V3"] == 3)))
    data = CHEAT[keep].reset_index(drop=True)
    design = mixjax.build_design("V1 ~ V3 + (1 | V2:V3)", data)
    (term,) = design.terms
    labels = (data["V2"].astype(str) + ":" + data["V3"].astype(str)).to_numpy()
    assert term.n_levels == len(set(labels)) == N_V3V2 - 2
    assert set(term.levels) == set(labels)
    np.testing.assert_array_equal(np.asarray(term.levels)[term.codes], labels)
    assert "g00:1" not in term.levels and "g05:3" not in term.levels


def test_unused_categories_are_not_levels():
    data = CHEAT[CHEAT["V2"] != "g03"].reset_index(drop=True)
    assert "g03" in data["V2"].cat.categories
    (term,) = mixjax.build_design("V1 ~ (1 | V2)", data).terms
    assert term.n_levels == N_V2 - 1 and "g03" not in term.levels


# ---------------------------------------------------------------------------------------------- ordering


@pytest.mark.parametrize(
    ("formula", "groups"),
    [
        ("y ~ (1|small) + (1|a)", ["small", "a"]),  # 3 vs 3 levels: tie, written order kept
        ("y ~ (1|a) + (1|c:b:a)", ["c:b:a", "a"]),
        ("y ~ (1|c:b:a) + (1|a)", ["c:b:a", "a"]),
        ("y ~ (1|b:a) + (1|small) + (1|c:b:a)", ["c:b:a", "b:a", "small"]),
    ],
)
def test_terms_ordered_by_levels_largest_first(formula, groups):
    design = mixjax.build_design(formula, NESTED)
    assert [t.group for t in design.terms] == groups
    levels = [t.n_levels for t in design.terms]
    assert levels == sorted(levels, reverse=True)


def test_order_ties_follow_lme4_rev_order():
    """lme4: if the levels ever increase, order is rev(order(nl)): ties end up in reverse written order."""
    design = mixjax.build_design("y ~ (1|small) + (1|a) + (1|b:a)", NESTED)  # 3, 3, 6 levels
    assert [t.group for t in design.terms] == ["b:a", "a", "small"]


# ------------------------------------------------------------------------------ intercepts and columns


@pytest.mark.parametrize(
    "formula",
    [
        "V1 ~ V3 + (0 + V3 | V2)",
        "V1 ~ V3 + (V3 + 0 | V2)",
        "V1 ~ V3 + (V3 - 1 | V2)",
        "V1 ~ V3 + (-1 + V3 | V2)",
    ],
)
def test_zero_or_minus_one_drops_random_intercept(formula):
    (term,) = mixjax.build_design(formula, CHEAT).terms
    assert term.cnames == ("V3",)
    np.testing.assert_array_equal(term.Z[:, 0], CHEAT["V3"].to_numpy(dtype=float))


@pytest.mark.parametrize("formula", ["V1 ~ V3 + (V3 | V2)", "V1 ~ V3 + (1 + V3 | V2)", "V1 ~ V3 + (V3 + 1 | V2)"])
def test_intercept_is_implicit(formula):
    (term,) = mixjax.build_design(formula, CHEAT).terms
    assert term.cnames == ("Intercept", "V3")
    np.testing.assert_array_equal(term.Z[:, 0], 1.0)


def test_categorical_without_intercept_gives_one_column_per_level():
    (term,) = mixjax.build_design("V1 ~ F + (0 + F | V2)", CHEAT).terms
    assert term.cnames == ("F[a]", "F[b]", "F[c]")
    assert term.k == 3
    np.testing.assert_array_equal(term.Z.sum(axis=1), 1.0)  # indicator columns
    np.testing.assert_array_equal(term.Z.argmax(axis=1), CHEAT["F"].cat.codes.to_numpy())


def test_categorical_with_intercept_gives_contrasts():
    (term,) = mixjax.build_design("V1 ~ F + (F | V2)", CHEAT).terms
    assert term.cnames == ("Intercept", "F[T.b]", "F[T.c]")


def test_double_bar_with_categorical_keeps_levels_together():
    """lme4's expandDoubleVerts splits by formula term, not by column: (F || V2) is (1 | V2) + (0 + F | V2), so the
    factor keeps one correlated block with a column per level."""
    design = mixjax.build_design("V1 ~ F + (F || V2)", CHEAT)
    assert _terms(design) == [
        ("V2", "V2", ("Intercept",), N_V2, 1),
        ("V2.1", "V2", ("F[a]", "F[b]", "F[c]"), N_V2, 3),
    ]


def test_double_bar_splits_every_formula_term():
    design = mixjax.build_design("V1 ~ V3*V4 + (V3*V4 || V2)", CHEAT)
    assert [(t.group, t.cnames) for t in design.terms] == [
        ("V2", ("Intercept",)),
        ("V2.1", ("V3",)),
        ("V2.2", ("V4",)),
        ("V2.3", ("V3:V4",)),
    ]


def test_double_bar_without_intercept():
    design = mixjax.build_design("V1 ~ V3 + V4 + (0 + V3 + V4 || V2)", CHEAT)
    assert [(t.group, t.cnames) for t in design.terms] == [("V2", ("V3",)), ("V2.1", ("V4",))]


def test_repeated_group_names_are_made_unique():
    design = mixjax.build_design("V1 ~ (1|V2) + (0+V3|V2) + (0+V4|V2)", CHEAT)
    assert [t.group for t in design.terms] == ["V2", "V2.1", "V2.2"]
    assert [t.factor for t in design.terms] == ["V2", "V2", "V2"]
    assert design.theta_names == ["V2.Intercept", "V2.1.V3", "V2.2.V4"]


def test_numeric_grouping_column_is_a_factor():
    (term,) = mixjax.build_design("V1 ~ (1 | V3)", CHEAT).terms
    assert term.levels == ("0", "1", "2", "3")
    float_data = CHEAT.assign(V3=CHEAT["V3"].astype(float))
    (term_f,) = mixjax.build_design("V1 ~ (1 | V3)", float_data).terms
    assert term_f.levels == ("0", "1", "2", "3")
    np.testing.assert_array_equal(term_f.codes, term.codes)


# ---------------------------------------------------------------------------------------------- spelling


@pytest.mark.parametrize(
    ("compact", "spaced"),
    [
        ("V1~(1|V2)+V3", "  V1   ~   ( 1 | V2 )   +   V3  "),
        ("V1~(1+V3|V2)+V3", "V1 ~\n(1 + V3 |\tV2) + V3"),
        ("V1~(V3||V2)+V3", "V1 ~ ( V3 || V2 ) + V3"),
        ("V1~(1|V2/V3)+V3", "V1 ~ (1 | V2 / V3) + V3"),
        ("V1~(1|V2:V3)+V3", "V1 ~ (1 | V2 : V3) + V3"),
        ("V1~(0+F|V2)+F", "V1 ~ ( 0 + F | V2 ) + F"),
    ],
)
def test_whitespace_does_not_matter(compact, spaced):
    a, b = mixjax.parse_formula(compact), mixjax.parse_formula(spaced)
    assert _parsed(a) == _parsed(b)
    da, db = mixjax.build_design(compact, CHEAT), mixjax.build_design(spaced, CHEAT)
    assert _terms(da) == _terms(db)
    assert da.xnames == db.xnames
    for ta, tb in zip(da.terms, db.terms):
        np.testing.assert_array_equal(ta.Z, tb.Z)
        np.testing.assert_array_equal(ta.codes, tb.codes)


def test_redundant_parentheses_around_a_bar_term():
    assert _parsed(mixjax.parse_formula("V1 ~ V3 + ((1 + V3 | V2))")) == _parsed(
        mixjax.parse_formula("V1 ~ V3 + (1 + V3 | V2)")
    )


def test_random_term_order_in_formula_does_not_change_the_fixed_part():
    first = mixjax.parse_formula("V1 ~ (1|V2) + V3 + V4")
    middle = mixjax.parse_formula("V1 ~ V3 + (1|V2) + V4")
    last = mixjax.parse_formula("V1 ~ V3 + V4 + (1|V2)")
    assert _parsed(first) == _parsed(middle) == _parsed(last)


def test_backticked_column_names():
    data = CHEAT.rename(columns={"V2": "my group", "V3": "dose (mg)"})
    parsed = mixjax.parse_formula("V1 ~ `dose (mg)` + (1 | `my group`)")
    assert parsed.random == (RandomTerm("1", "my group", False),)
    design = mixjax.build_design("V1 ~ `dose (mg)` + (`dose (mg)` | `my group`)", data)
    assert _terms(design) == [("my group", "my group", ("Intercept", "dose (mg)"), N_V2, 2)]


def test_transforms_inside_terms():
    design = mixjax.build_design("V1 ~ 1 + (1 + center(V4) | V2)", CHEAT)  # V4 only inside a stateful transform
    assert design.terms[0].cnames == ("Intercept", "center(V4)")
    np.testing.assert_allclose(design.terms[0].Z[:, 1].mean(), 0.0, atol=1e-12)
    design = mixjax.build_design("V1 ~ np.log(V3 + 1) + (1 | V2)", CHEAT)
    assert design.xnames == ("Intercept", "np.log(V3 + 1)")
    design = mixjax.build_design("V1 ~ abs(V4) + V3.astype(float) + (1 | V2)", CHEAT)  # builtins are not columns
    assert design.xnames == ("Intercept", "abs(V4)", "V3.astype(float)")
    np.testing.assert_array_equal(design.X[:, 1], np.abs(CHEAT["V4"].to_numpy()))


def test_column_named_like_a_builtin():
    data = CHEAT.rename(columns={"V4": "max", "V2": "id"})
    design = mixjax.build_design("V1 ~ np.abs(max) + (1 | id)", data)
    np.testing.assert_array_equal(design.X[:, 1], np.abs(data["max"].to_numpy()))
    assert design.terms[0].group == "id" and design.terms[0].n_levels == N_V2


def test_parse_does_not_need_data():
    parsed = mixjax.parse_formula("Reaction ~ Days + (Days | Subject)")
    assert parsed == ParsedFormula("Reaction", "Reaction ~ Days", (RandomTerm("Days", "Subject", False),))


def test_sleepstudy_terms():
    data = mixjax.datasets.load("sleepstudy")
    design = mixjax.build_design("Reaction ~ Days + (Days | Subject)", data)
    assert _terms(design) == [("Subject", "Subject", ("Intercept", "Days"), 18, 2)]
    assert design.xnames == ("Intercept", "Days")
    assert design.n_obs == 180
    design = mixjax.build_design("Reaction ~ Days + (Days || Subject)", data)
    assert [t.group for t in design.terms] == ["Subject", "Subject.1"]


# ------------------------------------------------------------------------------------ plain numeric columns

PLAIN = ["V1 ~ V3", "V1 ~ 0 + V3", "V1 ~ V3 - 1", "V1 ~ 1", "V1 ~ V3 * V4", "V1 ~ V4:V3 + V3", "V1 ~ V4 + V3 + V4:V3:V1"]
NOT_PLAIN = ["V1 ~ F", "V1 ~ V3 + I(V4 ** 2)", "V1 ~ C(V3)", "V1 ~ np.log(V4 + 10)", "V1 ~ V3 + Flag", "V1 ~ Text",
             "V1 ~ V3:F"]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_columns_are_formulaics_matrix(text):
    """The shortcut for intercepts and products of numeric columns gives formulaic's columns, names and order,
    and its spec builds new data as formulaic does."""
    from formulaic import model_matrix

    from mixjax.checks import _formula
    from mixjax.formula.matrix import PlainSpec, model_columns

    data = _cheat_sheet_data()
    expected = model_matrix(text, data).rhs
    X, names, spec = model_columns(_formula(text).rhs, data)
    assert isinstance(spec, PlainSpec)
    assert names == tuple(expected.columns)
    np.testing.assert_array_equal(X, np.asarray(expected, dtype=float))
    new = data.iloc[::7].assign(V4=lambda d: d.V4 * 3)
    np.testing.assert_array_equal(spec.get_model_matrix(new)[list(names)],
                                  np.asarray(model_matrix(text, new).rhs, dtype=float))


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_factors_and_transformations_go_through_formulaic(text):
    from mixjax.checks import _formula
    from mixjax.formula.matrix import plain_columns

    data = _cheat_sheet_data().assign(Flag=lambda d: d.V3 > 1, Text=lambda d: d.V3.astype(str))
    assert plain_columns(_formula(text).rhs, data) is None
