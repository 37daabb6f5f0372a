"""Streamed data (``mixjax.streaming``): Parquet files and directories, Arrow datasets and Dask DataFrames fitted
chunk by chunk equal the fit of the same rows in a DataFrame; bad input raises before the data is read; what needs
the rows says so."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import mixjax
from mixjax import streaming
from mixjax.linalg.crossprod import add, crossproducts, from_sums, row_sums
from mixjax.start import moment_start, moment_start_from_sums

pa = pytest.importorskip("pyarrow")
ds = pytest.importorskip("pyarrow.dataset")
dd = pytest.importorskip("dask.dataframe")

RTOL = 1e-8
MODELS = {
    "sleepstudy": "Reaction ~ Days + (Days | Subject)",  # correlated slope, one factor
    "Penicillin": "diameter ~ 1 + (1 | plate) + (1 | sample)",  # crossed
    "Pastes": "strength ~ 1 + (1 | batch/cask)",  # nested
}


def _close(a, b, what):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=RTOL, atol=1e-10,
                               err_msg=what)


def assert_same_fit(streamed, memory, intervals: bool = False):
    """Every number both fits report, to ~1e-8 relative (``intervals``: Wald intervals too, which profile the
    variance parameters' scales)."""
    assert streamed.nobs == memory.nobs and streamed.ngroups == memory.ngroups
    assert list(streamed.fixef.index) == list(memory.fixef.index)
    assert list(streamed.theta.index) == list(memory.theta.index)
    for what in ("loglik", "deviance", "aic", "bic", "sigma"):
        _close(getattr(streamed, what), getattr(memory, what), what)
    for what in ("fixef", "fixef_se", "theta", "vcov"):
        _close(getattr(streamed, what), getattr(memory, what), what)
    pd.testing.assert_frame_equal(streamed.varcorr[["group", "var1", "var2"]], memory.varcorr[["group", "var1", "var2"]])
    _close(streamed.varcorr[["vcov", "sdcor"]].fillna(0), memory.varcorr[["vcov", "sdcor"]].fillna(0), "varcorr")
    for g, frame in memory.ranef.items():
        assert list(streamed.ranef[g].index) == list(frame.index), g
        _close(streamed.ranef[g], frame, f"ranef {g}")
        _close(streamed.ranef_se[g], memory.ranef_se[g], f"ranef_se {g}")
        _close(streamed.condvar[g], memory.condvar[g], f"condvar {g}")
    _close(streamed.coef_table(), memory.coef_table(), "coef_table")
    if intervals:
        _close(streamed.confint(method="wald"), memory.confint(method="wald"), "confint wald")
    s, m = streamed.summary(), memory.summary()
    pd.testing.assert_frame_equal(s.random, m.random, rtol=RTOL)
    pd.testing.assert_frame_equal(s.fixed, m.fixed, rtol=RTOL)
    assert s.groups == m.groups


def _files(frame: pd.DataFrame, folder, parts: int = 3) -> list:
    folder.mkdir()
    for i, piece in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[piece].to_parquet(folder / f"part{i}.parquet", row_group_size=11)
    return folder


def _as(kind: str, frame: pd.DataFrame, tmp_path):
    """``frame`` as streamed data of ``kind``, read 7 rows at a time (levels split across chunks)."""
    if kind == "file":
        path = tmp_path / "data.parquet"
        frame.to_parquet(path, row_group_size=13)
        return streaming.source(str(path), batch_rows=7)
    if kind == "directory":
        return streaming.source(_files(frame, tmp_path / "data"), batch_rows=7)
    if kind == "dataset":
        return streaming.source(ds.dataset(_files(frame, tmp_path / "data"), format="parquet"), batch_rows=7)
    return streaming.source(dd.from_pandas(frame, npartitions=4, sort=False), batch_rows=7)


@pytest.fixture(scope="module")
def memory_fits():
    return {name: mixjax.lmm(f, mixjax.datasets.load(name)) for name, f in MODELS.items()}


@pytest.mark.parametrize("kind", ["file", "directory", "dataset", "dask"])
@pytest.mark.parametrize("name", list(MODELS))
def test_streamed_fit_equals_in_memory_fit(name, kind, tmp_path, memory_fits):
    streamed = mixjax.lmm(MODELS[name], _as(kind, mixjax.datasets.load(name), tmp_path))
    assert isinstance(streamed, mixjax.LmmFit)
    assert_same_fit(streamed, memory_fits[name])


def test_a_parquet_path_as_data(tmp_path, memory_fits):
    """The plain call: a path (str or pathlib.Path) as ``data``, default chunks."""
    path = tmp_path / "sleep.parquet"
    mixjax.datasets.load("sleepstudy").to_parquet(path)
    assert_same_fit(mixjax.lmm(MODELS["sleepstudy"], path), memory_fits["sleepstudy"], intervals=True)
    assert_same_fit(mixjax.lmm(MODELS["sleepstudy"], str(path)), memory_fits["sleepstudy"])


def _schools(seed: int = 1, n_schools: int = 70) -> pd.DataFrame:
    """Nested data with more schools than the dense Newton path takes (L-BFGS-B from moment start values), a
    categorical fixed effect declared in unsorted order, a text column, weights and a few missing responses."""
    rng = np.random.default_rng(seed)
    school = np.repeat(np.arange(n_schools), 12)
    klass = np.tile(np.repeat(np.arange(3), 4), n_schools)
    n = len(school)
    x = rng.normal(size=n)
    kind = pd.Categorical(rng.choice(["public", "private", "charter"], n), categories=["public", "private", "charter"])
    region = rng.choice(["north", "south", "east"], n)
    u_school = rng.normal(0, 1.0, n_schools)[school]
    u_class = rng.normal(0, 0.7, n_schools * 3)[school * 3 + klass]
    y = 1 + 0.5 * x + (np.asarray(kind.codes) == 1) * 0.3 + u_school + u_class + rng.normal(0, 1, n)
    y[rng.choice(n, 5, replace=False)] = np.nan
    return pd.DataFrame({"y": y, "x": x, "kind": kind, "region": region, "school": (school * 7) % 101,
                         "class": klass.astype(float), "w": rng.uniform(0.5, 2.0, n)})


def test_large_nested_design_with_factors_weights_and_missing_rows(tmp_path):
    frame = _schools()
    formula = "y ~ x + kind + region + (1 | school/class)"
    with pytest.warns(mixjax.MixjaxWarning, match="dropped 5 of 840 rows"):
        memory = mixjax.lmm(formula, frame, weights="w")
    with pytest.warns(mixjax.MixjaxWarning, match="dropped 5 of 840 rows"):
        streamed = mixjax.lmm(formula, _as("dask", frame, tmp_path), weights="w")
    assert memory.objective.spec.nr > 64  # the L-BFGS-B path, from moment start values
    assert list(streamed.fixef.index)[:4] == ["Intercept", "x", "kind[T.private]", "kind[T.charter]"]
    assert_same_fit(streamed, memory)


@pytest.mark.parametrize("name", ["Penicillin", "Pastes"])
def test_sums_of_chunks_give_the_cross_products_of_all_rows(name):
    """``row_sums`` over chunks of shuffled rows, ``add``-ed: the coupling's pattern is the union over chunks."""
    design = mixjax.build_design(MODELS[name], mixjax.datasets.load(name))
    order = np.random.default_rng(0).permutation(design.n_obs)
    total = None
    for rows in np.array_split(order, 9):
        terms = tuple(dataclasses.replace(t, codes=t.codes[rows], Z=t.Z[rows]) for t in design.terms)
        part = row_sums(terms, design.X[rows], design.y[rows], design.weights[rows])
        total = part if total is None else add(total, part)
    whole, chunked = crossproducts(design), from_sums(total)
    for field in ("D0", "A_low", "Cxy", "eg", "ej", "ev", "pg", "ptarget", "pval", "first", "second"):
        np.testing.assert_allclose(getattr(chunked, field), getattr(whole, field), rtol=1e-12, atol=1e-12,
                                   err_msg=field)
    assert chunked.n_obs == whole.n_obs and len(chunked.cols) == len(chunked.entry) == 0  # no rows kept


def test_transformations_contrasts_and_factors_in_random_terms(tmp_path):
    """Formula transformations without state, C() of text, R's sum contrasts, a factor left of the bar, an
    the same columns, names and numbers."""
    frame = _schools().dropna()
    formula = "np.log(y + 10) ~ I(x**2) + C(region) + kind + (0 + C(region) | school)"
    memory = mixjax.lmm(formula, frame, contrasts={"kind": "sum"})
    streamed = mixjax.lmm(formula, _as("directory", frame, tmp_path), contrasts={"kind": "sum"})
    assert list(streamed.fixef.index) == list(memory.fixef.index)
    assert "kind1" in streamed.fixef.index and "C(region)[T.north]" in streamed.fixef.index
    assert list(streamed.theta.index) == list(memory.theta.index)
    for what in ("loglik", "fixef", "fixef_se", "theta", "sigma"):  # (the tables: above)
        _close(getattr(streamed, what), getattr(memory, what), what)


def test_moment_start_from_sums_equals_moment_start():
    design = mixjax.build_design("y ~ x + kind + (1 | school/class)", _schools().dropna(), weights="w")
    sums = row_sums(design.terms, design.X, design.y, design.weights)
    np.testing.assert_allclose(moment_start_from_sums(design, sums), moment_start(design), rtol=1e-10)


def test_ml_fits_and_likelihood_ratio_test(tmp_path):
    frame = mixjax.datasets.load("sleepstudy")
    data = _as("file", frame, tmp_path)
    small, big = "Reaction ~ Days + (1 | Subject)", MODELS["sleepstudy"]
    streamed = [mixjax.lmm(small, data, reml=False), mixjax.lmm(big, data)]  # REML: refitted by ML for the test
    memory = [mixjax.lmm(small, frame, reml=False), mixjax.lmm(big, frame)]
    assert_same_fit(streamed[0], memory[0])
    _close(mixjax.anova(*streamed).select_dtypes("number"), mixjax.anova(*memory).select_dtypes("number"), "anova")
    _close(streamed[1].refit_ml().loglik, memory[1].refit_ml().loglik, "refit_ml")
    _close(streamed[1].confint(), memory[1].confint(), "profile intervals (of the ML refit)")
    (tmp_path / "other").mkdir()
    other = _as("file", frame.assign(Reaction=frame["Reaction"] + 1.0), tmp_path / "other")  # as many rows, other y
    with pytest.raises(ValueError, match="different rows or responses"):
        mixjax.anova(streamed[0], mixjax.lmm(big, other))


def test_aliased_columns_are_dropped_as_in_memory(tmp_path):
    frame = mixjax.datasets.load("sleepstudy").assign(Days2=lambda d: 2.0 * d.Days)
    formula = "Reaction ~ Days + Days2 + (1 | Subject)"
    with pytest.warns(mixjax.MixjaxWarning, match="dropping 1 column.*Days2"):
        streamed = mixjax.lmm(formula, _as("file", frame, tmp_path))
    with pytest.warns(mixjax.MixjaxWarning, match="dropping 1 column.*Days2"):
        memory = mixjax.lmm(formula, frame)
    assert streamed.design.aliased == memory.design.aliased == ("Days2",)
    assert_same_fit(streamed, memory)


def test_predict_newdata_and_what_needs_the_rows(tmp_path, memory_fits):
    frame = mixjax.datasets.load("sleepstudy")
    fit = mixjax.lmm(MODELS["sleepstudy"], _as("file", frame, tmp_path))
    _close(fit.predict(frame.iloc[:20]), memory_fits["sleepstudy"].predict(frame.iloc[:20]), "predict")
    needs_rows = [fit.residuals, fit.fitted, fit.predict, lambda: fit.simulate(2, seed=1),
                  lambda: fit.refit(np.zeros(fit.nobs)), lambda: fit.coef_table(ddf="kenward-roger"),
                  lambda: fit.bootstrap(10, seed=1), fit.vcov_robust, fit.group_summary,
                  fit.anova, fit.icc, fit.influence]
    for call in needs_rows:
        with pytest.raises(ValueError, match="streamed them .* load the data into a pandas DataFrame"):
            call()
    with pytest.raises(ValueError, match="emmeans needs the model's columns.*streamed"):
        mixjax.emmeans(fit, "Days")


def test_bad_input_raises_before_reading(tmp_path):
    sleep = mixjax.datasets.load("sleepstudy")
    path = tmp_path / "sleep.parquet"
    sleep.to_parquet(path)
    with pytest.raises(ValueError, match="no such file or directory"):
        mixjax.lmm(MODELS["sleepstudy"], tmp_path / "nothing.parquet")
    with pytest.raises(ValueError, match="column 'Dayz' in formula .* not in the data.*Did you mean 'Days'"):
        mixjax.lmm("Reaction ~ Dayz + (1 | Subject)", path)
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(ValueError, match="is not a Parquet file"):
        mixjax.lmm(MODELS["sleepstudy"], tmp_path / "text.parquet")
    missing = tmp_path / "missing"  # a grouping column with nulls in the first file; the second is never read
    missing.mkdir()
    sleep.astype({"Subject": object}).assign(Subject=lambda d: d.Subject.where(d.index != 3)).to_parquet(
        missing / "a.parquet")
    (missing / "b.parquet").write_bytes(b"PAR1 broken")
    with pytest.raises(ValueError, match="grouping column 'Subject' has missing values"):
        mixjax.lmm(MODELS["sleepstudy"], streaming.source(missing, batch_rows=50))
    nowhere = tmp_path / "nowhere.parquet"  # options that cannot stream: refused before the path is even looked at
    with pytest.raises(ValueError, match="correlation= .* needs the rows in memory"):
        mixjax.lmm(MODELS["sleepstudy"], str(path), correlation=mixjax.corAR1(form="~ Days | Subject"))
    with pytest.raises(ValueError, match="relmat= is not supported with streamed data"):
        mixjax.lmm(MODELS["sleepstudy"], nowhere, relmat={"Subject": pd.DataFrame()})
    with pytest.raises(ValueError, match="devices= splits rows held in memory"):
        mixjax.lmm(MODELS["sleepstudy"], nowhere, devices="all")
    with pytest.raises(ValueError, match="weights= must name a column"):
        mixjax.lmm(MODELS["sleepstudy"], nowhere, weights=np.ones(180))
    with pytest.raises(ValueError, match="center.* learned from the data"):
        mixjax.lmm("Reaction ~ center(Days) + (1 | Subject)", path)
    with pytest.raises(ValueError, match="batch_rows must be a positive"):
        streaming.source(path, batch_rows=0)


def test_mixjax_imports_without_dask():
    code = "import sys, mixjax; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
