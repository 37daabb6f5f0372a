"""Estimated marginal means and contrasts against R's emmeans (Kenward-Roger df for REML LMMs, asymptotic for a
binomial GLMM on the link and response scales), including averaging over a factor, covariates at their mean or at
given values, non-estimable cells, and bad input."""
import json

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, reference_fit

import mixjax
from mixjax.inference.emmeans import _adjust

REF = json.loads((REFERENCE / "extra_inference.json").read_text())
COLS = {"emmean": "emmean", "se": "SE", "df": "df", "lower": "lower.CL", "upper": "upper.CL"}


def _same(ours: pd.DataFrame, theirs: list, cols: dict, rel: float = 1e-4):
    theirs = pd.DataFrame(theirs)
    assert len(ours) == len(theirs)
    for a, b in cols.items():
        x, y = ours[a].to_numpy(dtype=float), theirs[b].to_numpy(dtype=float)
        assert np.array_equal(np.isnan(x), np.isnan(y)), a
        assert np.allclose(x[~np.isnan(x)], y[~np.isnan(y)], rtol=rel, atol=1e-12), (a, x, y)


@pytest.fixture(scope="module")
def exam():
    data = mixjax.datasets.load("Exam")
    return {k: mixjax.lmm(REF["exam"][k]["formula"] if k == "additive" else REF["exam"]["formula"], data)
            for k in ("additive", "interaction")}


def test_machines_means_and_contrasts():
    _, fit = reference_fit("inf_machines")
    em = mixjax.emmeans(fit, "Machine")
    assert em.ddf == "kenward-roger" and list(em.table.Machine) == ["A", "B", "C"]
    _same(em.table, REF["machines"]["emmeans"]["kenward_roger"]["table"], COLS)
    sat = mixjax.emmeans(fit, "Machine", ddf="satterthwaite")
    _same(sat.table, REF["machines"]["emmeans"]["satterthwaite"]["table"], COLS)
    for key, (method, adjust) in {"pairwise_tukey": ("pairwise", None), "pairwise_holm": ("pairwise", "holm"),
                                  "pairwise_bonferroni": ("pairwise", "bonferroni"),
                                  "pairwise_none": ("pairwise", "none"), "trt.vs.ctrl_none": ("trt.vs.ctrl", "none"),
                                  "consec_none": ("consec", "none"), "consec_holm": ("consec", "holm")}.items():
        ref = REF["machines"]["contrasts"][key]["table"]
        ours = em.contrasts(method, adjust)
        assert list(ours.contrast) == [r["contrast"] for r in ref]
        _same(ours, ref, {"estimate": "estimate", "se": "SE", "df": "df", "statistic": "t.ratio"})
        assert np.allclose(ours.p_value, [r["p.value"] for r in ref], rtol=0.01, atol=1e-12), key


def test_averaging_covariates_and_at(exam):
    """``sex`` averaged over ``schgend`` with ``standLRT`` at its mean, and at ``standLRT = 1``."""
    fit = exam["additive"]
    _same(mixjax.emmeans(fit, "sex").table, REF["exam"]["additive"]["emmeans"]["sex"]["table"], COLS)
    _same(mixjax.emmeans(fit, "sex", at={"standLRT": 1}).table,
          REF["exam"]["additive"]["emmeans"]["sex_at_standLRT_1"]["table"], COLS)


def test_by_groups_and_non_estimable_cells(exam):
    em = mixjax.emmeans(exam["interaction"], "sex", by="schgend")
    assert em.by == ["schgend"] and list(em.table.columns[:2]) == ["sex", "schgend"]
    _same(em.table, REF["exam"]["emmeans"]["sex_by_schgend"]["table"], COLS)
    pairs = em.contrasts()
    ref = REF["exam"]["emmeans"]["pairwise_sex_by_schgend"]["table"]
    assert list(pairs.schgend) == [r["schgend"] for r in ref]
    _same(pairs, ref, {"estimate": "estimate", "se": "SE", "df": "df", "statistic": "t.ratio", "p_value": "p.value"},
          rel=1e-3)


def test_glmm_link_and_response_scales():
    _, fit = reference_fit("extra_boot_cbpp")
    link = mixjax.emmeans(fit, "period")
    ref = pd.DataFrame(REF["cbpp"]["emmeans"]["link"]["table"])
    assert np.all(np.isinf(link.table.df))
    assert np.allclose(link.table.emmean, ref.emmean, atol=2e-3)  # mixjax's optimum is a little higher than lme4's
    assert np.allclose(link.table.se, ref.SE, rtol=0.03)  # lme4's glmer SEs: see test_reference_glmm
    resp = mixjax.emmeans(fit, "period", type="response")
    inv = lambda e: 1 / (1 + np.exp(-e))  # noqa: E731
    assert np.allclose(resp.table.emmean, inv(link.table.emmean))
    assert np.allclose(resp.table.lower, inv(link.table.lower)) and np.allclose(resp.table.upper, inv(link.table.upper))
    p = resp.table.emmean
    assert np.allclose(resp.table.se, p * (1 - p) * link.table.se)  # the delta method
    rref = pd.DataFrame(REF["cbpp"]["emmeans"]["response"]["table"])
    assert np.allclose(resp.table.emmean, rref.prob, rtol=2e-3) and np.allclose(resp.table.se, rref.SE, rtol=0.03)
    pairs = link.contrasts()
    cref = pd.DataFrame(REF["cbpp"]["emmeans"]["pairwise_link"]["table"])
    assert np.allclose(pairs.statistic, cref["z.ratio"], rtol=0.03)  # lme4's slightly smaller SEs
    tukey = _adjust(cref["z.ratio"].to_numpy(), np.full(6, np.inf), "tukey", 4)  # Tukey on z statistics
    assert np.allclose(tukey, cref["p.value"], rtol=2e-3)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"specs": "Worker"}, "not a variable of the fixed effects"),
    ({"specs": []}, "at least one factor"),
    ({"specs": "Machine", "type": "prob"}, "type must be"),
    ({"specs": "Machine", "type": "response"}, "LMM's means"),
    ({"specs": "Machine", "at": {"age": 3}}, "at names 'age'"),
    ({"specs": "Machine", "ddf": "kr2"}, "unknown ddf"),
])
def test_bad_input(kwargs, match):
    _, fit = reference_fit("inf_machines")
    with pytest.raises(ValueError, match=match):
        mixjax.emmeans(fit, **kwargs)


def test_covariate_is_not_a_factor():
    _, fit = reference_fit("inf_sleepstudy")
    with pytest.raises(ValueError, match="'Days' is a numeric covariate"):
        mixjax.emmeans(fit, "Days")
    _, m = reference_fit("inf_machines")
    with pytest.raises(ValueError, match="unknown adjust"):
        mixjax.emmeans(m, "Machine").contrasts(adjust="scheffe")
    with pytest.raises(ValueError, match="unknown method"):
        mixjax.emmeans(m, "Machine").contrasts("revpairwise")
