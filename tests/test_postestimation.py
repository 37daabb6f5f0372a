"""Stata's postestimation commands (mixjax.inference.postestimation): estat icc against the icc_* references
(performance::icc, from lme4 fits) and Stata's published output, its delta-method SE against finite differences,
its logit-scale interval; estat recovariance against varcorr; estat wcorrelation against V built from varcorr;
estat group against pandas; every refusal."""
import math

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference
from scipy import stats

import mixjax
from mixjax.inference import postestimation as pe


@pytest.fixture(scope="module")
def fits():
    sleep = mixjax.datasets.load("sleepstudy")
    return {
        "sleepstudy": mixjax.lmm("Reaction ~ Days + (1 | Subject)", sleep),
        "slope": mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep),
        "pastes": mixjax.lmm("strength ~ 1 + (1 | batch/cask)", mixjax.datasets.load("Pastes")),
        "machines": mixjax.lmm("score ~ Machine + (1 | Worker/Machine)", mixjax.datasets.load("Machines")),
        "cbpp": mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                            mixjax.datasets.load("cbpp"), family="binomial"),
    }


def _variances(fit) -> dict:
    """group -> random-intercept variance, from varcorr."""
    vc = fit.varcorr
    return dict(zip(vc.group, vc.vcov))


# ------------------------------------------------------------------------------------------------ estat icc


def test_icc_sleepstudy_matches_reference(fits):
    ref = load_reference("icc_sleepstudy")["icc"]["from_varcorr"]["by_group"]
    table = pe.icc(fits["sleepstudy"])
    assert list(table.index) == ["Subject"]
    assert table.loc["Subject", "icc"] == pytest.approx(ref["Subject"], rel=1e-6)


def test_icc_pastes_is_cumulative_with_statas_labels(fits):
    """Stata's level ``cask|batch``: two observations in one cask share the batch and the cask effects. The REML
    log-likelihoods agree to 1e-10, but the batch variance is flat there: mixjax's and lme4's differ by 1.4e-6
    (relative), so the batch ICC is compared to 1e-5."""
    ref = load_reference("icc_pastes")["icc"]["from_varcorr"]
    table = pe.icc(fits["pastes"])
    assert list(table.index) == ["batch", "cask|batch"]
    assert table.loc["batch", "icc"] == pytest.approx(ref["by_group"]["batch"], rel=1e-5)
    assert table.loc["cask|batch", "icc"] == pytest.approx(ref["same_innermost_cluster"]["value"], rel=1e-6)


def test_icc_cbpp_uses_the_logistic_residual(fits):
    """mixjax's Laplace optimum of cbpp has a herd variance 6e-4 (relative) above lme4's, which stops a little
    early (mixjax's log-likelihood is the higher): the ICC is exact for the fit's own variance and within 1e-3 of
    the reference; the residual variance is performance's pi^2/3 to 1e-12."""
    ref = load_reference("icc_cbpp")["icc"]
    fit = fits["cbpp"]
    value = pe.icc(fit).loc["herd", "icc"]
    var = _variances(fit)["herd"]
    assert value == pytest.approx(var / (var + math.pi**2 / 3), rel=1e-12)
    assert value == pytest.approx(ref["by_group"]["herd"], rel=1e-3)
    assert pe._latent_residual_variance(fit.family) == pytest.approx(ref["components"]["var_residual"], rel=1e-12)


@pytest.mark.parametrize("formula, dataset, family, link, residual", [
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", "binomial", "probit", 1.0),
    ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", "binomial", "cloglog", math.pi**2 / 6),
    ("rating ~ temp + contact + (1 | judge)", "wine", "ordinal", "logit", math.pi**2 / 3),
])
def test_icc_latent_residual_follows_the_link(formula, dataset, family, link, residual):
    """meprobit: 1; mecloglog: pi^2/6 (extreme-value latent residual); meologit: pi^2/3."""
    fit = mixjax.glmm(formula, mixjax.datasets.load(dataset), family=family, link=link)
    var = fit.varcorr.vcov.item()
    assert pe.icc(fit)["icc"].item() == pytest.approx(var / (var + residual), rel=1e-12)


@pytest.mark.parametrize("rid", ["icc_sleepstudy", "icc_pastes", "icc_cbpp"])
def test_icc_formula_on_reference_variances(rid):
    """The cumulative formula, evaluated at the reference's variances, gives the reference's ICCs to 1e-9."""
    ref = load_reference(rid)
    fv = ref["icc"]["from_varcorr"]
    groups = sorted(fv["var_random"], key=len)  # outermost first: batch before cask:batch
    values = pe._cumulative_icc((np.array([fv["var_random"][g] for g in groups]), fv["var_residual"]))
    assert float(values[0]) == pytest.approx(fv["by_group"][groups[0]], rel=1e-9)
    assert float(values[-1]) == pytest.approx(fv["ICC_adjusted"], rel=1e-9)


def test_icc_formula_on_statas_published_output():
    """Stata's estat icc after ``mixed ... || School_ID: || dv_unique_class_ID:`` (a Statalist post) and after
    the manual's productivity model (stata.com features page): the ICCs from the printed variances."""
    school = pe._cumulative_icc((np.array([31.35756, 61.52315]), 534.9115))
    assert np.asarray(school) == pytest.approx([0.049949, 0.1479482], abs=5e-7)
    region = pe._cumulative_icc((np.array([0.0014506, 0.0062757]), 0.0013461))
    assert float(region[0]) == pytest.approx(0.159893, abs=1e-5)


def _finite_difference_se(icc_of, x, cov, h=1e-6):
    """Delta-method SE of each ICC with a central-difference gradient of ``icc_of`` in ``x``."""
    grad = np.array([(icc_of(x + h * e) - icc_of(x - h * e)) / (2 * h) for e in np.eye(len(x))]).T
    return np.sqrt(np.einsum("li,ij,lj->l", grad, cov, grad))


def test_icc_se_sleepstudy_against_finite_differences(fits):
    fit = fits["sleepstudy"]
    x = np.append(fit.theta.values, fit.sigma)  # varpar: theta (sd_u / sigma), sigma

    def icc_of(v):
        return np.array([(v[0] * v[1]) ** 2 / ((v[0] * v[1]) ** 2 + v[1] ** 2)])

    se = _finite_difference_se(icc_of, x, fit._satterthwaite.varpar_vcov)
    assert pe.icc(fit)["se"].values == pytest.approx(se, rel=1e-6)


def test_icc_se_pastes_against_finite_differences(fits):
    fit = fits["pastes"]
    assert list(fit.theta.index) == ["cask:batch.Intercept", "batch.Intercept"]
    x = np.append(fit.theta.values, fit.sigma)

    def icc_of(v):
        cask, batch, resid = (v[0] * v[2]) ** 2, (v[1] * v[2]) ** 2, v[2] ** 2
        return np.array([batch, batch + cask]) / (batch + cask + resid)

    se = _finite_difference_se(icc_of, x, fit._satterthwaite.varpar_vcov)
    assert pe.icc(fit)["se"].values == pytest.approx(se, rel=1e-6)


def test_icc_se_cbpp_against_finite_differences(fits):
    """GLMM: the covariance of psi = (theta, beta) is 2 H^-1, H the Hessian of the deviance; theta is the SD."""
    fit = fits["cbpp"]
    assert fit.objective.names[0] == "herd.Intercept"
    x = np.asarray(fit.solution.x)

    def icc_of(v):
        return np.array([v[0] ** 2 / (v[0] ** 2 + math.pi**2 / 3)])

    se = _finite_difference_se(icc_of, x, 2 * np.linalg.inv(fit.hessian))
    assert pe.icc(fit)["se"].values == pytest.approx(se, rel=1e-6)


@pytest.mark.parametrize("name", ["sleepstudy", "pastes", "cbpp"])
@pytest.mark.parametrize("level", [0.95, 0.90])
def test_icc_interval_is_wald_on_the_logit_scale(fits, name, level):
    """[ME] estat icc: logit(lower), logit(upper) = logit(icc) -/+ z se / (icc (1 - icc))."""
    t = pe.icc(fits[name], level=level)
    z = stats.norm.ppf(0.5 + level / 2)
    logit = np.log(t.icc / (1 - t.icc))
    half = z * t.se / (t.icc * (1 - t.icc))
    assert np.log(t.lower / (1 - t.lower)).values == pytest.approx((logit - half).values, rel=1e-10)
    assert np.log(t.upper / (1 - t.upper)).values == pytest.approx((logit + half).values, rel=1e-10)
    assert (t.lower < t.icc).all() and (t.icc < t.upper).all()


def test_icc_interval_reproduces_statas_published_intervals():
    """(icc, se) -> interval as Stata printed them: productivity (region) and the Statalist three-level model."""
    printed = [((0.159893, 0.127627), (0.0287143, 0.5506202)),
               ((0.049949, 0.0235154), (0.019517, 0.1219309)),
               ((0.1479482, 0.0220688), (0.1096902, 0.1966033))]
    for (value, se), interval in printed:
        lower, upper = pe.logit_interval(np.array(value), np.array(se), 0.95)
        assert (float(lower), float(upper)) == pytest.approx(interval, rel=1e-4)


def test_icc_with_random_slopes_is_at_covariates_zero(fits):
    """Stata: for random-coefficient models the ICC conditional on the covariates being 0 (the intercept variance)."""
    fit = fits["slope"]
    vc = fit.varcorr
    var0 = vc.vcov.iloc[0]  # Subject: var(Intercept)
    assert pe.icc(fit).icc.iloc[0] == pytest.approx(var0 / (var0 + fit.sigma**2), rel=1e-10)
    no_intercept = mixjax.lmm("Reaction ~ Days + (0 + Days | Subject)", mixjax.datasets.load("sleepstudy"))
    with pytest.raises(ValueError, match=r"\(Days \| Subject\) has no random intercept"):
        pe.icc(no_intercept)


def test_icc_refuses_crossed_random_effects():
    fit = mixjax.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", mixjax.datasets.load("Penicillin"))
    with pytest.raises(ValueError, match="crossed, not nested.*not available for crossed-effects"):
        pe.icc(fit)


def test_icc_refuses_families_without_an_icc():
    fit = mixjax.glmm("TICKS ~ YEAR + (1 | BROOD)", mixjax.datasets.load("grouseticks"), family="poisson")
    with pytest.raises(ValueError, match="Stata does not define an intraclass correlation for the poisson family"):
        pe.icc(fit)


def test_icc_refuses_a_level_out_of_range(fits):
    with pytest.raises(ValueError, match="between 0 and 1"):
        pe.icc(fits["sleepstudy"], level=95)


# ------------------------------------------------------------------------------------------------ the others


@pytest.mark.parametrize("name", ["slope", "pastes", "cbpp"])
def test_recovariance_matches_varcorr(fits, name):
    fit = fits[name]
    blocks = pe.recovariance(fit)
    assert list(blocks) == [t.group for t in fit.design.terms]
    for row in fit.varcorr.itertuples():
        if row.group == "Residual":
            continue
        G = blocks[row.group]
        other = row.var1 if pd.isna(row.var2) else row.var2
        assert G.loc[row.var1, other] == pytest.approx(row.vcov, rel=1e-10)
        assert G.loc[other, row.var1] == pytest.approx(row.vcov, rel=1e-10)


def test_wcorrelation_random_intercept_is_the_icc(fits):
    fit = fits["sleepstudy"]
    out = pe.wcorrelation(fit, "Subject")
    C, sd = out["correlation"].values, out["sd"].values
    data = mixjax.datasets.load("sleepstudy")
    first = fit.design.terms[0].levels[0]
    assert list(out["correlation"].index) == list(data.index[data.Subject.astype(str) == first])
    assert np.diag(C) == pytest.approx(np.ones(10), abs=1e-12)
    assert C[~np.eye(10, dtype=bool)] == pytest.approx(pe.icc(fit).loc["Subject", "icc"], rel=1e-10)
    assert sd == pytest.approx(np.sqrt(_variances(fit)["Subject"] + fit.sigma**2), rel=1e-10)


def test_wcorrelation_random_slope_from_varcorr(fits):
    fit = fits["slope"]
    vc = fit.varcorr
    v0, v1 = vc.vcov[(vc.var1 == "Intercept") & vc.var2.isna()].item(), vc.vcov[vc.var1 == "Days"].item()
    c01 = vc.vcov[vc.var2.notna()].item()
    data = mixjax.datasets.load("sleepstudy")
    level = fit.design.terms[0].levels[1]
    rows = data[data.Subject.astype(str) == level]
    Z = np.column_stack([np.ones(len(rows)), rows.Days])
    V = Z @ np.array([[v0, c01], [c01, v1]]) @ Z.T + fit.sigma**2 * np.eye(len(rows))
    sd = np.sqrt(np.diag(V))
    out = pe.wcorrelation(fit, "Subject", level=level)
    assert list(out["sd"].index) == list(rows.index)
    assert out["sd"].values == pytest.approx(sd, rel=1e-10)
    assert out["correlation"].values == pytest.approx(V / np.outer(sd, sd), rel=1e-10)


def test_wcorrelation_nested_includes_the_inner_effects(fits):
    """Worker's block of ``(1 | Worker/Machine)``: observations on one machine share the Machine:Worker effect."""
    fit = fits["machines"]
    var = _variances(fit)
    data = mixjax.datasets.load("Machines")
    worker = next(t for t in fit.design.terms if t.factor == "Worker")
    rows = data[data.Worker.astype(str) == worker.levels[0]]
    machine = rows.Machine.astype(str).to_numpy()
    same_machine = (machine[:, None] == machine[None, :]).astype(float)
    V = var["Worker"] + var["Machine:Worker"] * same_machine + fit.sigma**2 * np.eye(len(rows))
    sd = np.sqrt(np.diag(V))
    out = pe.wcorrelation(fit, "Worker")
    assert out["correlation"].values == pytest.approx(V / np.outer(sd, sd), rel=1e-10)


def test_wcorrelation_refusals(fits):
    with pytest.raises(ValueError, match="linear mixed models only"):
        pe.wcorrelation(fits["cbpp"], "herd")
    with pytest.raises(ValueError, match="no random-effects term is grouped by 'Days'.*Subject"):
        pe.wcorrelation(fits["sleepstudy"], "Days")
    with pytest.raises(ValueError, match="'Subject' has no level 'nobody'"):
        pe.wcorrelation(fits["sleepstudy"], "Subject", level="nobody")


@pytest.mark.parametrize("name, dataset, columns", [
    ("sleepstudy", "sleepstudy", {"Subject": ["Subject"]}),
    ("pastes", "Pastes", {"cask:batch": ["batch", "cask"], "batch": ["batch"]}),
    ("cbpp", "cbpp", {"herd": ["herd"]}),
])
def test_group_summary_matches_pandas(fits, name, dataset, columns):
    table = pe.group_summary(fits[name])
    data = mixjax.datasets.load(dataset)
    assert list(table.index) == list(columns)
    for factor, by in columns.items():
        sizes = data.groupby(by, observed=True).size()
        assert tuple(table.loc[factor]) == (len(sizes), sizes.min(), pytest.approx(sizes.mean()), sizes.max())
