"""Residual structures (nlme's correlation= and weights=) and covariance structures of random-effects terms,
against nlme and glmmTMB (`tests/reference/extra_structures.json`, `tests/reference/lme_*.json`, ...)."""
import functools

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference

import mixjax
from mixjax import (  # noqa: F401
    corAR1,
    corARMA,
    corCAR1,
    corCompSymm,
    corExp,
    corSymm,
    lme,
    varComb,
    varConstPower,
    varExp,
    varFixed,
    varIdent,
    varPower,
)

EXTRA = load_reference("extra_structures")
SIN_COS = "I(np.sin(2 * np.pi * Time)) + I(np.cos(2 * np.pi * Time))"


def _bodyweight():
    from pathlib import Path

    bw = pd.read_csv(Path(__file__).parent / "reference" / "data" / "BodyWeight.csv")
    return bw.assign(Rat=bw.Rat.astype(str).astype("category"), Diet=bw.Diet.astype(str).astype("category"))


def _data(name):
    return _bodyweight() if name == "BodyWeight" else mixjax.datasets.load(name)


# id -> (dataset, call on the data)
CASES = {
    "lme_ovary_ar1": ("Ovary", lambda d: lme(f"follicles ~ {SIN_COS}", d, random="~ 1 | Mare", correlation=corAR1())),
    "lme_orthodont_varident": ("Orthodont", lambda d: lme("distance ~ age + Sex", d, random="~ 1 | Subject",
                                                          weights=varIdent(form="~ 1 | Sex"))),
    "lme_orthodont_varpower": ("Orthodont", lambda d: lme("distance ~ age * Sex", d, random="~ age | Subject",
                                                          weights=varPower())),
    "lme_sleepstudy_ar1_ml": ("sleepstudy", lambda d: lme("Reaction ~ Days", d, random="~ 1 | Subject",
                                                          correlation=corAR1(form="~ Days | Subject"), method="ML")),
    "gls_ovary_ar1": ("Ovary", lambda d: mixjax.gls(f"follicles ~ {SIN_COS}", d, correlation=corAR1(form="~ 1 | Mare"))),
    "lme_bodyweight_car1": ("BodyWeight", lambda d: lme("weight ~ Time * Diet", d, random="~ Time | Rat",
                                                        correlation=corCAR1(form="~ Time | Rat"))),
    "lme_bodyweight_exp_nugget": ("BodyWeight", lambda d: lme("weight ~ Time * Diet", d, random="~ Time | Rat",
                                                              correlation=corExp(form="~ Time | Rat", nugget=True))),
    "lme_ovary_arma11": ("Ovary", lambda d: lme(f"follicles ~ {SIN_COS}", d,
                                                random={"Mare": mixjax.pdDiag("~ I(np.sin(2 * np.pi * Time))")},
                                                correlation=corARMA(p=1, q=1))),
    "gls_orthodont_symm_varident": ("Orthodont", lambda d: mixjax.gls(
        "distance ~ Sex * I(age - 11)", d, correlation=corSymm(form="~ 1 | Subject"), weights=varIdent(form="~ 1 | age"))),
    "gls_orthodont_cs_ml": ("Orthodont", lambda d: mixjax.gls("distance ~ age + Sex", d, method="ML",
                                                              correlation=corCompSymm(form="~ 1 | Subject"))),
    "lme_orthodont_varexp": ("Orthodont", lambda d: lme("distance ~ age + Sex", d, random="~ 1 | Subject",
                                                        weights=varExp(form="~ age"))),
    "lme_orthodont_varpower_age_by_sex": ("Orthodont", lambda d: lme("distance ~ age + Sex", d, random="~ 1 | Subject",
                                                                     weights=varPower(form="~ age | Sex"))),
    "lme_orthodont_varfixed": ("Orthodont", lambda d: lme("distance ~ age + Sex", d, random="~ 1 | Subject",
                                                          weights=varFixed(form="~ age"))),
    "lme_orthodont_varcomb": ("Orthodont", lambda d: lme("distance ~ age + Sex", d, random="~ 1 | Subject", weights=varComb(
        varIdent(form="~ 1 | Sex"), varPower(form="~ age")))),
    "lme_orthodont_ar1_varident": ("Orthodont", lambda d: lme("distance ~ age + Sex", d, random="~ 1 | Subject", method="ML",
                                                              correlation=corAR1(form="~ 1 | Subject"),
                                                              weights=varIdent(form="~ 1 | Sex"))),
    "lme_orthodont_pddiag": ("Orthodont", lambda d: lme("distance ~ age + Sex", d, random=mixjax.pdDiag("~ age | Subject"))),
    "lme_orthodont_pdident": ("Orthodont", lambda d: lme("distance ~ age + Sex", d,
                                                         random={"Subject": mixjax.pdIdent("~ age")})),
    "tmb_orthodont_ar1": ("Orthodont", lambda d: mixjax.lmm("distance ~ age + Sex + ar1(0 + factor(age) | Subject)", d,
                                                            reml=False)),
    "tmb_orthodont_diag": ("Orthodont", lambda d: mixjax.lmm("distance ~ age + Sex + diag(age | Subject)", d, reml=False)),
}


def reference(rid):
    return EXTRA[rid] if rid in EXTRA else load_reference(rid)


@functools.cache
def fitted(rid):
    dataset, call = CASES[rid]
    return call(_data(dataset))


def _values(x):
    return np.array(list(x.values()) if isinstance(x, dict) else x, dtype=float)


@pytest.mark.parametrize("rid", list(CASES))
def test_matches_reference(rid):
    ref, fit = reference(rid), fitted(rid)
    assert fit.loglik > ref["logLik"] - 1e-4
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-4 if "varpower" not in rid else 1e-3)
    se = _values(ref["fixef_se"])
    np.testing.assert_array_less(np.abs(fit.fixef.to_numpy() - _values(ref["fixef"])), 0.01 * se)
    if not rid.startswith("tmb_"):  # glmmTMB's SEs invert the observed Hessian in (beta, theta) jointly; lme4's and
        # nlme's (and mixjax's) are conditional on theta: up to 9% apart on tmb_orthodont_diag
        np.testing.assert_allclose(fit.fixef_se.to_numpy(), se, rtol=0.01)
    if "sigma" in ref:
        assert fit.sigma == pytest.approx(ref["sigma"], rel=2e-3)
    assert fit.df == ref["df"]
    cor = (ref.get("corStruct") or {}).get("natural") or {}
    for name, value in (cor.items() if isinstance(cor, dict) else []):
        assert fit.correlation[name] == pytest.approx(value, rel=5e-3, abs=1e-4), name
    var = (ref.get("varStruct") or {}).get("natural") or {}
    ours = fit.variance_function
    for name, value in (var.items() if isinstance(var, dict) else []):  # nlme's names ("A.Female"; "power.Male")
        assert ours.get(name, ours.get(f"power.{name}")) == pytest.approx(value, rel=5e-3, abs=1e-4), name


@pytest.mark.parametrize("rid", ["lme_orthodont_pddiag", "lme_orthodont_pdident", "lme_bodyweight_car1"])
def test_random_effect_sds(rid):
    ref, fit = reference(rid), fitted(rid)
    sd = fit.varcorr[(fit.varcorr.group != "Residual") & fit.varcorr.var2.isna()].sdcor.to_numpy()
    np.testing.assert_allclose(sd, _values(ref["re_sd"]), rtol=2e-3)


def test_tmb_structure_parameters():
    """glmmTMB's own parameters of the structures: ar1's SD and phi, diag's SDs."""
    fit, ref = fitted("tmb_orthodont_ar1"), load_reference("tmb_orthodont_ar1")["varcorr"][0]["params"]
    nat = fit.design.terms[0].cov.natural(fit.theta.to_numpy())
    assert nat["sd"] * fit.sigma == pytest.approx(ref["sd"], rel=2e-3)
    assert nat["phi"] == pytest.approx(ref["phi"], rel=5e-3)
    fit, ref = fitted("tmb_orthodont_diag"), EXTRA["tmb_orthodont_diag"]["varcorr"][0]["sd"]
    assert fit.varcorr.sdcor.to_numpy()[:2] == pytest.approx(_values(ref), rel=2e-3)


def test_compound_symmetry_lme_identified_quantities():
    """lme with corCompSymm beside a random intercept is not identified (nlme leaves rho at 0); the marginal
    covariance is, and matches nlme's and gls's."""
    ref = load_reference("lme_orthodont_cs")
    fit = lme("distance ~ age + Sex", mixjax.datasets.load("Orthodont"), random="~ 1 | Subject", correlation=corCompSymm())
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    sd_u, rho, s2 = fit.varcorr.sdcor[0], fit.correlation["Rho"], fit.sigma**2
    assert sd_u**2 + s2 * rho == pytest.approx(ref["identified"]["between_cov"], rel=1e-4)
    assert s2 * (1 - rho) == pytest.approx(ref["identified"]["within_var"], rel=1e-4)


SEED = {  # the tutorial's five models (normexam, Exam) in nlme's syntax, with its log-likelihoods
    ("normexam ~ 1", "~ 1 | school"): -5507.327,
    ("normexam ~ standLRT", "~ 1 | school"): -4684.383,
    ("normexam ~ standLRT", "~ standLRT | school"): -4663.800,
    ("normexam ~ standLRT + schavg", "~ standLRT | school"): -4661.943,
    ("normexam ~ standLRT * schavg", "~ standLRT | school"): -4660.194,
}


@pytest.mark.parametrize("model", list(SEED))
def test_seed_tutorial_in_lme_syntax(model):
    fit = lme(model[0], mixjax.datasets.load("Exam"), random=model[1])
    assert fit.loglik == pytest.approx(SEED[model], abs=1e-3)
    assert "Linear mixed-effects model fit by REML" in fit.summary()


def test_lme_summary_reads_as_nlme():
    fit = fitted("lme_orthodont_varident")
    text = str(fit.summary())
    for piece in ("Random effects:", " Formula: ~1 | Subject", "StdDev:", "Variance function:",
                  "Different standard deviations per stratum", "Fixed effects:  distance ~ age + Sex",
                  "Standardized Within-Group Residuals:", "Number of Groups: 27"):
        assert piece in text, piece
    table = fit.summary().fixed
    assert list(table["DF"]) == [80, 80, 25]  # nlme's containment df
    assert "Log-restricted-likelihood: -210.1784" in repr(fit)


def test_ar1_at_zero_is_the_independent_fit():
    o = mixjax.datasets.load("Orthodont")
    plain = mixjax.lmm("distance ~ age + Sex + (1 | Subject)", o)
    ar1 = mixjax.lmm("distance ~ age + Sex + (1 | Subject)", o, correlation=corAR1(value=0.0, fixed=True))
    assert ar1.loglik == pytest.approx(plain.loglik, abs=1e-9)
    np.testing.assert_allclose(ar1.fixef, plain.fixef, rtol=1e-8)
    assert ar1.df == plain.df  # a fixed parameter is not counted


def test_nested_random_effects_in_nlme_syntax():
    pastes = mixjax.datasets.load("Pastes")
    a = lme("strength ~ 1", pastes, random="~ 1 | batch/cask")
    b = lme("strength ~ 1", pastes, random={"batch": "~ 1", "cask": "~ 1"})
    c = mixjax.lmm("strength ~ 1 + (1 | batch/cask)", pastes)
    assert a.loglik == pytest.approx(c.loglik, abs=1e-9) and b.loglik == pytest.approx(c.loglik, abs=1e-9)
    assert " Formula: ~1 | cask %in% batch" in str(a.summary())


@pytest.mark.parametrize("call, match", [
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d, correlation=corAR1(form="~ visit | Subject")),
     "column 'visit'"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d, correlation=corAR1(form="~ age | Sex")),
     "lie within the levels"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d, correlation=corAR1(form="~ Sex2 | Subject")),
     "column 'Sex2'"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d.assign(t=0), correlation=corCAR1(form="~ t | Subject")),
     "repeats within a group"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d, correlation=corSymm(form="~ t | Subject")),
     "column 't'"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d.assign(t=d.age * 2), correlation=corSymm(form="~ t | Subject")),
     "positions"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d, correlation="ar1"), "correlation structure is one of"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d, weights=varIdent(form="~ 1")), "grouping factor"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d, correlation=corAR1(form="Days | Subject")), "form"),
    (lambda d: mixjax.lmm("distance ~ age + toep(0 + age | Subject)", d), "toep"),
    (lambda d: mixjax.lmm("distance ~ age + ar1(1 | Subject)", d), "at least 2 columns"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d, covariance={"Subject": "bogus"}), "unknown covariance"),
    (lambda d: mixjax.lmm("distance ~ age + (1 | Subject)", d, covariance={"Sex": "identity"}), "no random-effects term"),
    (lambda d: lme("distance ~ age", d, random="~ 1"), "name the grouping factor"),
    (lambda d: lme("distance ~ age", d, random="~ 1 | Subject", method="reml"), "method"),
])
def test_bad_structures_rejected_before_work(call, match):
    data = mixjax.datasets.load("Orthodont")
    before = data.copy()
    with pytest.raises(ValueError, match=match):
        call(data)
    pd.testing.assert_frame_equal(data, before)


def test_anova_compares_nested_residual_structures_and_refuses_others():
    o = mixjax.datasets.load("Orthodont")
    plain = lme("distance ~ age + Sex", o, random="~ 1 | Subject")
    both = fitted("lme_orthodont_varident")
    table = mixjax.anova(plain, both)
    ml = both.refit_ml()
    assert isinstance(ml, type(both)) and ml.fixed == both.fixed and not ml.reml
    assert table["loglik"].iloc[1] == pytest.approx(ml.loglik, abs=1e-8)
    assert table["df"].iloc[1] == 1 and table["npar"].iloc[1] == 6
    power = lme("distance ~ age + Sex", o, random="~ 1 | Subject", weights=varPower(form="~ age"))
    with pytest.raises(ValueError, match="variance function"):
        mixjax.anova(power, fitted("lme_orthodont_ar1_varident"))


def test_structure_at_the_unstructured_optimum_gives_the_unstructured_deviance():
    """Pattern with all entries distinct is the unstructured covariance; fix= holding theta at the optimum gives
    the same fit with fewer free parameters."""
    sleep = mixjax.datasets.load("sleepstudy")
    us = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    pattern = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep,
                         covariance={"Subject": ("pattern", np.array([[1, 3], [3, 2]]))})
    assert pattern.loglik == pytest.approx(us.loglik, abs=1e-7)
    np.testing.assert_allclose(pattern.varcorr.sdcor, us.varcorr.sdcor, rtol=1e-4, atol=1e-5)
    held = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep, fix=dict(us.theta))
    assert held.loglik == pytest.approx(us.loglik, abs=1e-9)
    assert held.df == us.df - 3
    exch = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep, covariance={"Subject": "exchangeable"})
    homcs = mixjax.lmm("Reaction ~ Days + homcs(Days | Subject)", sleep)
    assert exch.loglik == pytest.approx(homcs.loglik, abs=1e-9) and exch.loglik < us.loglik


def test_glmm_structures():
    """A diagonal structure in a GLMM is lme4's double bar; an identity one has one variance."""
    contra = mixjax.datasets.load("Contraception")
    bars = mixjax.glmm("use ~ age + urban + (1 + age || district)", contra, family="binomial")
    diag = mixjax.glmm("use ~ age + urban + diag(1 + age | district)", contra, family="binomial")
    assert diag.loglik == pytest.approx(bars.loglik, abs=1e-6)
    ident = mixjax.glmm("use ~ age + urban + (1 + age | district)", contra, family="binomial",
                        covariance={"district": "identity"})
    sd = ident.varcorr[ident.varcorr.var2.isna()].sdcor.to_numpy()
    assert sd[0] == pytest.approx(sd[1], rel=1e-10) and ident.loglik <= diag.loglik + 1e-8


def test_nlme_with_a_structured_covariance():
    """nlme's pdIdent on Theoph (``covariance="identity"``), against nlme (`make_nlme_structures.R`), and an
    exchangeable covariance (which nlme's nlme() does not have) between the identity and unstructured fits."""
    ref = load_reference("extra_nlme_structures")["nlme_theoph_pdident"]
    theoph = mixjax.datasets.load("Theoph")
    args = ("conc ~ SSfol(Dose, Time, lKe, lKa, lCl)", theoph)
    kw = dict(fixed="lKe + lKa + lCl ~ 1", random="lKe + lKa + lCl ~ 1 | Subject", start=dict(lKe=-2.5, lKa=0.5, lCl=-3))
    ident = mixjax.nlme(*args, covariance="identity", **kw)
    assert ident.loglik > ref["logLik"] - 1e-3 and ident.df == ref["df"]
    se = _values(ref["fixef_se"])
    np.testing.assert_array_less(np.abs(ident.fixef.to_numpy() - _values(ref["fixef"])), 0.02 * se)
    np.testing.assert_allclose(ident.fixef_se.to_numpy(), se, rtol=0.03)
    sd = ident.varcorr[ident.varcorr.var2.isna() & (ident.varcorr.group != "Residual")].sdcor.to_numpy()
    np.testing.assert_allclose(sd, ref["re_sd"], rtol=0.02)
    exch = mixjax.nlme(*args, covariance="exchangeable", **kw)
    assert exch.df == ref["df"] + 1 and exch.loglik > ident.loglik - 1e-6
    with pytest.raises(ValueError, match="unknown covariance structure"):
        mixjax.nlme(*args, covariance="bogus", **kw)


@pytest.mark.parametrize("kind", ["sum", "helmert", "poly"])
def test_contrasts_argument_as_lmer(kind):
    """lmer(score ~ Machine + (1 | Worker), contrasts = list(Machine = "contr.<kind>")): R's names and numbers."""
    ref = load_reference("extra_contrasts")[kind]
    fit = mixjax.lmm("score ~ Machine + (1 | Worker)", mixjax.datasets.load("Machines"), contrasts={"Machine": kind})
    assert list(fit.fixef.index)[1:] == list(ref["fixef"])[1:]
    np.testing.assert_allclose(fit.fixef, _values(ref["fixef"]), rtol=1e-6)
    np.testing.assert_allclose(fit.fixef_se, _values(ref["fixef_se"]), rtol=1e-4)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)


def test_factor_in_formulas_and_bad_contrasts():
    o = mixjax.datasets.load("Orthodont")
    a = mixjax.lmm("distance ~ factor(age) + (1 | Subject)", o)
    b = mixjax.lmm("distance ~ as.factor(age) + (1 | Subject)", o)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-10) and len(a.fixef) == 4
    with pytest.raises(ValueError, match="coding is one of"):
        mixjax.lmm("distance ~ Sex + (1 | Subject)", o, contrasts={"Sex": "contr.sum"})
    with pytest.raises(ValueError, match="not in the fixed part"):
        mixjax.lmm("distance ~ age + (1 | Subject)", o, contrasts={"Sex": "sum"})


def test_marginal_covariance_is_random_plus_residual():
    """nlme's getVarCov(type = "marginal"): sd_u^2 J + sigma^2 S C S with AR(1) C and varIdent S."""
    fit = fitted("lme_orthodont_ar1_varident")
    phi, s, sd_u = fit.correlation["Phi"], fit.sigma, fit.varcorr.sdcor[0]
    lags = np.abs(np.subtract.outer(np.arange(4), np.arange(4)))
    for level, ratio in (("M01", 1.0), ("F01", fit.variance_function["Female"])):
        V = fit.marginal_covariance(level).to_numpy()
        np.testing.assert_allclose(V, sd_u**2 + (s * ratio) ** 2 * phi**lags, rtol=1e-8)
    with pytest.raises(ValueError, match="not a level"):
        fit.marginal_covariance("X99")


def test_pdcompsymm_gives_nlmes_identified_quantities():
    """pdCompSymm(~ 0 + factor(age)) beside a residual is not identified (see the reference's note); logLik, df and the
    marginal compound-symmetric covariance are, and match nlme's."""
    ref = EXTRA["lme_orthodont_pdcompsymm"]
    fit = lme("distance ~ age + Sex", mixjax.datasets.load("Orthodont"),
              random={"Subject": mixjax.pdCompSymm("~ 0 + factor(age)")})
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-4) and fit.df == ref["df"]
    V = fit.marginal_covariance("M01").to_numpy()
    assert V[0, 0] == pytest.approx(ref["identified"]["marginal_variance"], rel=1e-3)
    assert V[0, 1] == pytest.approx(ref["identified"]["marginal_covariance"], rel=1e-3)


def test_varfixed_takes_its_formula_first_as_nlme():
    """nlme's ``varFixed(value = ~ age)``: the formula is the first argument."""
    assert varFixed("~ age") == varFixed(form="~ age")
    assert varFixed("~ age").form == "~ age"


@pytest.mark.parametrize("formula", ["Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days || Subject)"])
def test_lag_statistics_equal_the_whitened_rows(formula):
    """The Markov shortcut (lag statistics summed once; host path for one term, device path for two) gives the
    deviance, gradient and Hessian of whitening the rows at every evaluation."""
    from mixjax.objectives import lmm_residual

    fit = mixjax.lmm(formula, mixjax.datasets.load("sleepstudy"), correlation=corAR1(form="~ Days | Subject"))
    o = fit.residual.objective
    assert o.spec.lags and o.data.lags is not None
    rows_path = o.spec._replace(lags=False)
    for x in (fit.residual.solution.x, o.start + 0.3):
        for a, b in zip(lmm_residual.value_grad_hess(x, o.data, o.spec),
                        lmm_residual.value_grad_hess(x, o.data, rows_path)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-8)


def test_fix_in_glmm_and_with_residual_structures():
    """fix= holds covariance parameters in GLMMs (absolute theta) and with residual structures: at the optimum it
    gives the same fit with fewer parameters."""
    cbpp = mixjax.datasets.load("cbpp")
    free = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    held = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial",
                       fix={"herd.Intercept": float(free.theta.iloc[0])})
    assert held.loglik == pytest.approx(free.loglik, abs=1e-7)
    assert len(held.theta) == 0 and held.df == free.df - 1
    np.testing.assert_allclose(held.fixef, free.fixef, rtol=1e-5)
    ovary = fitted("lme_ovary_ar1")
    again = lme(f"follicles ~ {SIN_COS}", mixjax.datasets.load("Ovary"), random="~ 1 | Mare", correlation=corAR1())
    assert again.loglik == pytest.approx(ovary.loglik, abs=1e-9)
    held_ar1 = mixjax.lmm(f"follicles ~ {SIN_COS} + (1 | Mare)", mixjax.datasets.load("Ovary"), correlation=corAR1(),
                          fix={"Mare.Intercept": float(ovary.theta.iloc[0])})
    assert held_ar1.loglik == pytest.approx(ovary.loglik, abs=1e-7)
    assert held_ar1.df == ovary.df - 1
    with pytest.raises(ValueError, match="fix= has unknown theta name"):
        mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial",
                    fix={"herd.Slope": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        mixjax.lmm("Reaction ~ Days + (1 | Subject)", mixjax.datasets.load("sleepstudy"), fix={"Subject.Intercept": -1})


def test_nlme_with_a_held_parameter():
    """NLME: a structure with a parameter held (``mixjax.covariance.Held``) through covariance=; Theoph's diagonal
    fit puts sd(lKe) at 0, so holding it there gives the same fit with one parameter fewer and no boundary."""
    import warnings

    from mixjax.covariance import Diagonal, Held

    theoph = mixjax.datasets.load("Theoph")
    kw = dict(fixed="lKe + lKa + lCl ~ 1", random="lKe + lKa + lCl ~ 1 | Subject",
              start={"lKe": -2.5, "lKa": 0.5, "lCl": -3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mixjax.MixjaxWarning)  # the diagonal fit is singular
        diag = mixjax.nlme("conc ~ SSfol(Dose, Time, lKe, lKa, lCl)", theoph, covariance="diagonal", **kw)
    held = mixjax.nlme("conc ~ SSfol(Dose, Time, lKe, lKa, lCl)", theoph,
                       covariance=Held(Diagonal(3), ((0, 0.0),)), **kw)
    assert diag.singular and not held.singular
    assert held.loglik == pytest.approx(diag.loglik, abs=1e-6)
    assert held.df == diag.df - 1
