"""Bundled datasets: every one has a description of exactly its columns, and describe() reports the data as loaded."""
import json
import re

import pandas as pd
import pytest

import mixjax.datasets as ds
from mixjax.datasets import describe, load, names

DESCRIPTIONS = json.loads((ds._DATA / "descriptions.json").read_text())


def _column_line(text: str, col: str) -> str:
    """The describe() line of column ``col``."""
    hits = [line for line in text.splitlines() if re.match(rf"^  {re.escape(col)}\s{{2,}}", line)]
    assert len(hits) == 1, (col, text)
    return hits[0]


def test_every_dataset_is_described():
    assert set(DESCRIPTIONS) == set(names()), "descriptions.json must cover exactly the bundled CSVs"


@pytest.mark.parametrize("name", names())
def test_description_covers_exactly_the_columns(name):
    info = DESCRIPTIONS[name]
    for field in ("title", "package", "row", "columns"):
        assert isinstance(info.get(field), (str, dict)) and info[field], (name, field)
    with (ds._DATA / f"{name}.csv").open() as fh:
        header = list(pd.read_csv(fh, nrows=0).columns)
    assert list(info["columns"]) == header, name
    assert all(isinstance(v, str) and v.strip() and "\n" not in v for v in info["columns"].values()), name


@pytest.mark.parametrize("name", names())
def test_describe_reports_the_loaded_data(name):
    frame = load(name)
    text = describe(name.upper())
    assert isinstance(text, str)
    assert text.splitlines()[0].startswith(f"{name}: ")
    assert f"R package {DESCRIPTIONS[name]['package']}, dataset {name}" in text
    assert f"\n{len(frame)} rows, {frame.shape[1]} columns:\n" in text
    for col in frame.columns:
        line = _column_line(text, col)
        assert line.rstrip().endswith(DESCRIPTIONS[name]["columns"][col])
        dtype = frame[col].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            k = len(frame[col].cat.categories)
            kind = "ordered factor" if dtype.ordered else "factor"
            assert re.search(rf"\s{kind}, {k} levels?\s", line), line
            if not dtype.ordered:
                assert "ordered" not in line.split(DESCRIPTIONS[name]["columns"][col])[0]
        else:
            assert re.search(r"\snumeric\s", line), line


def test_describe_known_counts():
    text = describe("sleepstudy")
    assert "180 rows, 3 columns:" in text
    assert re.search(r"Subject\s+factor, 18 levels\s", text)
    assert re.search(r"Reaction\s+numeric\s+average reaction time \(ms\)", text)
    text = describe("instEVAL")
    assert "73421 rows, 7 columns:" in text
    assert re.search(r"\bs\s+factor, 2972 levels\s", text)
    assert re.search(r"studage\s+ordered factor, 4 levels\s", text)
    assert "R package ordinal, dataset wine" in describe("WINE")


@pytest.mark.parametrize("bad", ["sleepstudyy", "nope", ""])
def test_unknown_name_raises_like_load(bad):
    with pytest.raises(ValueError) as from_load:
        load(bad)
    with pytest.raises(ValueError) as from_describe:
        describe(bad)
    assert str(from_describe.value) == str(from_load.value)
    assert str(from_describe.value).startswith(f"unknown dataset {bad!r}.")


def test_unknown_name_suggests_close_match():
    with pytest.raises(ValueError, match=r"Did you mean 'sleepstudy'\?"):
        describe("sleepstudyy")
