"""mixjax.stata: Stata's me commands -> lme4 formulas and mixjax calls (tables from the [ME] syntax summary in
shared/reference/stata_me_syntax.md), a few fits against the hand-written mixjax call, and Stata's printed menl
result on Orange."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mixjax
import mixjax.stata
from mixjax.stata import Residuals, StataModel, fit, translate, with_stata_names
from mixjax.stata.constraints import linear, numlist
from mixjax.stata.run import quote_bases, residual_objects


def norm(formula: str) -> str:
    return "".join(formula.split())


# (Stata command, lme4 formula written by hand)
FORMULAS = [
    ("mixed Reaction Days || Subject: Days", "Reaction ~ Days + (Days || Subject)"),
    ("mixed Reaction Days || Subject: Days, covariance(unstructured)", "Reaction ~ Days + (Days | Subject)"),
    ("mixed Reaction Days || Subject: Days, cov(un) mle", "Reaction ~ Days + (Days | Subject)"),
    ("mixed Reaction Days || Subject: Days, cov(ind)", "Reaction ~ Days + (Days || Subject)"),
    ("mixed Reaction Days || Subject:", "Reaction ~ Days + (1 | Subject)"),
    ("mixed Reaction Days || Subject: Days, noconstant", "Reaction ~ Days + (0 + Days | Subject)"),
    ("mixed y x || id: x, nocons || id: z, nocons", "y ~ x + (0 + x | id) + (0 + z | id)"),
    ("mixed strength || batch: || cask:", "strength ~ 1 + (1 | batch) + (1 | batch:cask)"),
    ("mixed y x || a: || b: || c:", "y ~ x + (1 | a) + (1 | a:b) + (1 | a:b:c)"),
    ("mixed y x || school: z || class:", "y ~ x + (z || school) + (1 | school:class)"),
    ("mixed y || _all: R.f1 || _all: R.f2", "y ~ 1 + (1 | f1) + (1 | f2)"),
    ("mixed y || _all: R.f1 || f2:", "y ~ 1 + (1 | f1) + (1 | f2)"),
    ("mixed y || id: R.x", "y ~ 1 + (1 | id:x)"),
    ("mixed y || school: R.class, cov(exchangeable)", "y ~ 1 + (1 | school) + (1 | school:class)"),
    ("mixed y || id: R.x, cov(un)", "y ~ 1 + (0 + C(x) | id)"),
    ("mixed y x z || id: x z, cov(exchangeable)", "y ~ x + z + homcs(x + z | id)"),
    ("mixed y x z || id: x z, cov(exc)", "y ~ x + z + homcs(x + z | id)"),
    ("mixed y x z || id: x z, nocons cov(identity)", "y ~ x + z + homdiag(0 + x + z | id)"),
    ("mixed y x || id:, cov(id)", "y ~ x + (1 | id)"),
    ("mixed y i.x || id:", "y ~ C(x) + (1 | id)"),
    ("mixed y c.x || id:", "y ~ x + (1 | id)"),
    ("mixed y i.x##c.z || id:", "y ~ C(x) * z + (1 | id)"),
    ("mixed y c.x##c.z || id:", "y ~ x * z + (1 | id)"),
    ("mixed y x##z || id:", "y ~ C(x) * C(z) + (1 | id)"),  # Stata: bare names in interactions are factors
    ("mixed y x#c.z || id:", "y ~ C(x):z + (1 | id)"),
    ("mixed y a##b##c || id:", "y ~ C(a) * C(b) * C(c) + (1 | id)"),
    ("mixed y i.(a b) z || id:", "y ~ C(a) + C(b) + z + (1 | id)"),
    ("mixed y ib2.x || id:", "y ~ C(x, contr.treatment(base=2)) + (1 | id)"),
    ("mixed y z ibn.x || id:", "y ~ 0 + C(x) + z + (1 | id)"),
    ("mixed y x, noconstant || id:", "y ~ 0 + x + (1 | id)"),
    ("xtmixed y x || id:", "y ~ x + (1 | id)"),
    ("mixed y x /// a continuation\n || id: // a comment", "y ~ x + (1 | id)"),
    ("melogit incidence i.period || herd:, binomial(size)", "cbind(incidence, size - incidence) ~ C(period) + (1 | herd)"),
    ("melogit y x || id:, binomial(10) or", "cbind(y, 10 - y) ~ x + (1 | id)"),
    ("meglm y x || id:, family(binomial n) link(probit)", "cbind(y, n - y) ~ x + (1 | id)"),
    ("meglm y x || id:, family(bernoulli)", "y ~ x + (1 | id)"),
    ("mepoisson y x, exposure(t) || id:", "y ~ x + offset(log(t)) + (1 | id)"),
    ("mepoisson y x || id:, offset(lt) irr", "y ~ x + (1 | id)"),
    ("meologit y x || id: || class:", "y ~ x + (1 | id) + (1 | id:class)"),
]


@pytest.mark.parametrize("command, formula", FORMULAS)
def test_formula(command, formula):
    model = translate(command)
    assert norm(model.formula) == norm(formula)
    if "hom" not in formula:
        assert mixjax.formula.parse(model.formula) == mixjax.formula.parse(formula)


# (command, function, kwargs, eform)
KWARGS = [
    ("mixed y x || id:", "lmm", {"reml": True}, None),
    ("mixed y x || id:, mle", "lmm", {"reml": False}, None),
    ("meglm y x || id:", "lmm", {"reml": False}, None),  # gaussian identity: the LMM by ML
    ("melogit y x || id:", "glmm", {"family": "binomial", "link": "logit", "nagq": 7}, None),
    ("melogit y x || id:, or intmethod(laplace)", "glmm", {"family": "binomial", "link": "logit", "nagq": 1}, "or"),
    ("meprobit y x || id:, intpoints(12)", "glmm", {"family": "binomial", "link": "probit", "nagq": 12}, None),
    ("mecloglog y x || id: x, cov(un)", "glmm", {"family": "binomial", "link": "cloglog", "nagq": 7}, None),
    ("mepoisson y x || id:, irr", "glmm", {"family": "poisson", "link": "log", "nagq": 7}, "irr"),
    ("mepoisson y x || id:, offset(lt)", "glmm", {"family": "poisson", "link": "log", "nagq": 7, "offset": "lt"}, None),
    ("menbreg y x || id:", "glmm", {"family": "nbinom2", "link": "log", "nagq": 7}, None),
    ("menbreg y x || id:, dispersion(constant)", "glmm", {"family": "nbinom1", "link": "log", "nagq": 7}, None),
    ("meglm y x || id:, family(nbinomial constant)", "glmm", {"family": "nbinom1", "link": "log", "nagq": 7}, None),
    ("meglm y x || id:, family(gamma)", "glmm", {"family": "gamma", "link": "log", "nagq": 7}, None),
    ("meglm y x || id:, family(poisson) link(identity)", "glmm", {"family": "poisson", "link": "identity", "nagq": 7}, None),
    ("meologit y x || id:", "glmm", {"family": "ordinal", "link": "logit", "nagq": 7}, None),
    ("meoprobit y x || id:", "glmm", {"family": "ordinal", "link": "probit", "nagq": 7}, None),
    ("melogit y x || _all: R.a || b:", "glmm", {"family": "binomial", "link": "logit", "nagq": 1}, None),
]


@pytest.mark.parametrize("command, function, kwargs, eform", KWARGS)
def test_kwargs(command, function, kwargs, eform):
    model = translate(command)
    assert isinstance(model, StataModel) and model.summary_style == "stata"
    assert (model.function, model.kwargs, model.eform) == (function, kwargs, eform)


def test_nested_glmm_notes_laplace():
    model = translate("melogit y x || school: || class:")
    assert model.kwargs["nagq"] == 1 and "Laplace" in model.notes[0]


def test_covariance_matrices_and_residuals():
    M = np.eye(2)
    model = translate("mixed y x || id: x, cov(fixed(M))", matrices={"M": M})
    assert norm(model.formula) == norm("y ~ x + (x | id)") and model.kwargs["covariance"]["id"][1] is M
    assert translate("mixed y x || id: x, cov(pat(P))").kwargs["covariance"] == {"id": ("pattern", "P")}
    model = translate("mixed y x || school: || class:, residuals(ar 1, t(time)) reml")
    assert model.kwargs["residuals"] == Residuals("ar", 1, "time", None, "school:class")
    assert translate("mixed y || id:, res(ind, by(g))").kwargs["residuals"] == Residuals("independent", None, None,
                                                                                          "g", "id")


MENL = [
    ("menl circumf = ({b1}+{U1[tree]})/(1+exp(-(age-{b2})/{b3}))",
     "circumf ~ b1/(1+exp(-(age-b2)/b3))", "b1 + b2 + b3 ~ 1", "b1 ~ 1 | tree"),
    ("menl circumf = {phi1:}/(1+exp(-(age-{phi2:})/{phi3:})), "
     + "define(phi1: {b1}+{U1[tree]}) define(phi2: {b2}) define(phi3: {b3})", "circumf ~ b1/(1+exp(-(age-b2)/b3))", "b1 + b2 + b3 ~ 1", "b1 ~ 1 | tree"),
    ("menl circumf = {phi1:}/(1+exp(-(age-{b2})/{b3})), define(phi1: U1[tree], xb)",
     "circumf ~ phi1/(1+exp(-(age-b2)/b3))", "phi1 + b2 + b3 ~ 1", "phi1 ~ 1 | tree"),
    ("menl y = {lc: x1 U0[id]} + {b1}*exp(-{b2}*t)", "y ~ lc + b1*exp(-b2*t)",
     {"lc": "~ x1", "b1": "~ 1", "b2": "~ 1"}, "lc ~ 1 | id"),
    ("menl y = {b0} + {U0[s]} + {S0[s>c]} + ({b1}+{U1[s]}+{S1[s>c]})*x, cov(U0 U1, un)", "y ~ b0 + b1*x",
     "b0 + b1 ~ 1", "b0 + b1 ~ 1 | s/c"),
]


@pytest.mark.parametrize("command, model, fixed, random", MENL)
def test_menl_translation(command, model, fixed, random):
    m = translate(command)
    assert m.function == "nlme" and norm(m.formula) == norm(model)
    assert (m.kwargs["fixed"], m.kwargs["random"], m.kwargs["method"]) == (fixed, random, "ML")
    assert m.kwargs["covariance"] == ("unstructured" if "un)" in command else "diagonal")


ERRORS = [
    ("xyz y x || id:", "unknown command 'xyz'.*mixed"),
    ("mixed y x || id: x, cov(un", r"unbalanced parentheses.*'\('.*never closed"),
    ("mixed y x) || id:", r"unbalanced parentheses.*'\)'"),
    ("mixed y x || id:, foo", "unknown option 'foo'.*covariance"),
    ("mixed y x || id: x, cov(banana)", "unknown covariance type 'banana'.*independent.*unstructured.*pattern"),
    ("mixed y x || id:, nocons", "noconstant and no variables"),
    ("mixed y x", "without a random-effects equation"),
    ("mixed y x || id", "needs a colon"),
    ("mixed y x if x > 1 || id:", "qualifiers are not supported"),
    ("mixed y x [pw=w] || id:", "weights"),
    ("melogit y x || id:, constraints(1)", "mixjax.glmm, which has none"),
    ("mixed y x || id:, constraints(a)", "write constraint numbers"),
    ("mixed y || id:, residuals(toeplitz, t(t))", "needs its order"),
    ("mixed y || id:, residuals(banded, t(t))", "needs its order"),
    ("melogit y x || id:, reml", "reml is an option of mixed"),
    ("meglm y x || id:, family(tweedie)", "unknown family"),
    ("meglm y x || id:, family(poisson) link(probit)", "does not suit family poisson"),
    ("mepoisson y x || id:, or", "or reports exp"),
    ("metobit y x || id:", r"needs ll\(\) and/or ul\(\)"),
    ("meintreg lo || id:", "two dependent variables"),
    ("mestreg x || id:, distribution(weibull)", "time='t', event='died'"),
    ("mixed y L.x || id:", "time-series"),
    ("mixed y x* || id:", "Wildcards"),
    ("mixed y || id: R.a b", "must stand alone"),
    ("melogit y x || a: || b:, intpoints(7)", "single random-effects term"),
    ("mixed y || id:, residuals(ar 1)", "needs the time variable"),
    ("menl y = {b0} * exp({U0[id]})", "must be added to a parameter"),
    ("menl y = {b0} + {U0[id]}, rescovariance(ar 1)", "not supported yet"),
    ("menl y = {phi:} + {U0[id]}", "refers to nothing"),
]


@pytest.mark.parametrize("command, message", ERRORS)
def test_errors(command, message):
    with pytest.raises(ValueError, match=message):
        translate(command)


def test_variable_names_match_the_data():
    orange = mixjax.datasets.load("Orange")
    data = with_stata_names(orange, ["tree", "circumf", "age"])
    assert (data["tree"] == orange["Tree"]).all() and (data["circumf"] == orange["circumference"]).all()
    assert list(orange.columns) == ["Tree", "age", "circumference"]  # the caller's frame is untouched
    with pytest.raises(ValueError, match="variable 'Dayz' is not in the data.*Did you mean 'Days'"):
        fit("mixed Reaction Dayz || Subject:", mixjax.datasets.load("sleepstudy"))


def test_base_level_of_a_categorical_is_quoted():
    cbpp = mixjax.datasets.load("cbpp")
    formula = translate("mepoisson incidence ib2.period size || herd:").formula
    assert "C(period, contr.treatment(base='2'))" in quote_bases(formula, cbpp)
    assert "C(size, contr.treatment(base=2))" in quote_bases(formula.replace("period", "size"), cbpp)


def test_fixed_covariance_needs_its_matrix():
    with pytest.raises(ValueError, match="needs the matrix"):
        fit("mixed Reaction Days || Subject: Days, cov(fixed(M))", mixjax.datasets.load("sleepstudy"))


def test_residuals_ar1():
    sleep, command = mixjax.datasets.load("sleepstudy"), "mixed Reaction Days || Subject:, residuals(ar 1, t(Days)) mle"
    if not hasattr(mixjax, "corAR1"):
        with pytest.raises(NotImplementedError, match="mixjax.corAR1"):
            fit(command, sleep)
        return
    assert fit(command, sleep).loglik == pytest.approx(-872.41504484297, abs=1e-6)  # nlme::lme, corAR1(~ Days | Subject)


# ------------------------------------------------------------------------------------------------ fits


def test_mixed_equals_lmm():
    sleep = mixjax.datasets.load("sleepstudy")
    ours = mixjax.stata("mixed Reaction Days || Subject: Days", sleep)
    theirs = mixjax.lmm("Reaction ~ Days + (Days || Subject)", sleep, reml=True)
    assert ours.loglik == pytest.approx(theirs.loglik, abs=1e-8)


def test_nested_mle():
    pastes = mixjax.datasets.load("Pastes")
    ours = fit("mixed strength || batch: || cask:, mle", pastes)
    assert ours.loglik == pytest.approx(-123.99723, abs=1e-5)  # mixjax.lmm("strength ~ 1 + (1 | batch) + (1 | batch:cask)", reml=False)


def test_melogit_equals_glmm():
    cbpp = mixjax.datasets.load("cbpp")
    ours = fit("melogit incidence i.period || herd:, binomial(size)", cbpp)
    theirs = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial", nagq=7)
    assert ours.loglik == pytest.approx(theirs.loglik, abs=1e-8)


def test_mepoisson_exposure_equals_offset():
    cbpp = mixjax.datasets.load("cbpp")
    ours = fit("mepoisson incidence i.period, exposure(size) || herd:, intmethod(laplace)", cbpp)
    theirs = mixjax.glmm("incidence ~ period + (1 | herd)", cbpp, family="poisson", offset=np.log(cbpp["size"]))
    assert ours.loglik == pytest.approx(theirs.loglik, abs=1e-8)


def test_menl_orange_reproduces_stata():
    fitted = fit("menl circumf = ({b1}+{U1[tree]})/(1+exp(-(age-{b2})/{b3}))", mixjax.datasets.load("Orange"))
    assert fitted.loglik == pytest.approx(-131.58458, abs=1e-3)
    assert dict(fitted.fixef) == pytest.approx({"b1": 191.049, "b2": 722.556, "b3": 344.1624}, rel=1e-3)


def test_summary_in_statas_layout():
    """fit.summary(style="stata"): Stata's coefficient table (z, 95% intervals, _cons last) and random-effects
    SDs and correlations with Wald intervals (Stata's `mixed ..., stddeviations`)."""
    sleep = mixjax.datasets.load("sleepstudy")
    fit = mixjax.stata("mixed Reaction Days || Subject: Days, covariance(unstructured) mle", sleep)
    s = fit.summary(style="stata")
    assert list(s.fixed.index) == ["Days", "_cons"]
    wald = fit.confint("wald")
    assert s.fixed.loc["Days", "[95% conf."] == pytest.approx(wald.loc["Days", "lower"], rel=1e-10)
    for piece in (f"Log likelihood = {fit.loglik:.8g}", "sd(_cons)", "sd(Days)", "corr(_cons,Days)", "sd(Residual)"):
        assert piece in s, piece
    random = s.random.set_index("parameter")
    assert random.loc["sd(Residual)", "Estimate"] == pytest.approx(fit.sigma)
    with pytest.raises(ValueError, match="style"):
        fit.summary(style="sas")


# ------------------------------------------------------------------------------------------------ residuals() of
# toeplitz #, banded #, by(); references: tests/reference/make_stata_residuals.R (direct maximization of the
# Gaussian (RE)ML likelihood in R; toeplitz 3 on four occasions: nlme's gls with corARMA(p = 3))

RESIDUAL_REFS = json.loads((Path(__file__).parent / "reference" / "extra_stata_residuals.json").read_text())


@pytest.fixture(scope="module")
def orthodont():
    o = mixjax.datasets.load("Orthodont")
    return o.assign(occ=(o["age"] - 8) // 2 + 1)


def _stata_params(fit) -> dict:
    """The fit's parameters under the reference's names: var_cons, var_e (per position / level), correlations."""
    vc = fit.varcorr
    out = {"var_cons": float(vc.loc[vc.group == "Subject", "vcov"].iloc[0]), **dict(fit.correlation)}
    ratios = {k: v for k, v in fit.variance_function.items() if k != "class"}
    strata = fit.residual.objective.spec.bound.variances
    levels = strata[0][1] if strata else ("",)
    for level in levels:
        name = {"": "var_e", "Female": "var_e.Female", "Male": "var_e.Male"}.get(level, f"var_e{level}")
        out[name] = fit.sigma**2 * ratios.get(level, 1.0) ** 2
    return out


@pytest.mark.parametrize("case", sorted(k for k in RESIDUAL_REFS if "params" in RESIDUAL_REFS[k]))
def test_residual_structures_reproduce_the_references(orthodont, case):
    ref = RESIDUAL_REFS[case]
    data = orthodont.drop(index=np.array(ref["dropped_rows"]) - 1) if "dropped_rows" in ref else orthodont
    fit = mixjax.stata(ref["stata"], data)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-4)
    ours = _stata_params(fit)
    for name, value in ref["params"].items():
        assert ours[name] == pytest.approx(value, rel=5e-3, abs=1e-5), name
    np.testing.assert_allclose(fit.fixef, list(ref["fixef"].values()), rtol=1e-4)


def test_toeplitz_of_every_lag_is_any_stationary_correlation(orthodont):
    """toeplitz 3 over four occasions: gls with corARMA(p = 3) (every stationary correlation); the random
    intercept adds a constant to a Toeplitz covariance, so only the marginal covariance is identified."""
    ref = RESIDUAL_REFS["toeplitz3_reml"]
    fit = mixjax.stata(ref["stata"], orthodont)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-4)
    np.testing.assert_allclose(fit.marginal_covariance("M01").to_numpy(), ref["marginal_cov"], rtol=5e-3)


def test_banded_of_every_lag_is_unstructured(orthodont):
    banded = mixjax.stata("mixed distance age || Subject:, residuals(banded 3, t(occ))", orthodont)
    unstructured = mixjax.stata("mixed distance age || Subject:, residuals(unstructured, t(occ))", orthodont)
    assert banded.loglik == pytest.approx(unstructured.loglik, abs=1e-8)
    assert {k: v for k, v in banded.correlation.items() if k != "class"} == pytest.approx(
        {k: v for k, v in unstructured.correlation.items() if k != "class"}, abs=1e-6)


RESIDUAL_OBJECTS = [
    ("toeplitz 2, t(t)", {"correlation": mixjax.corToeplitz(order=2, form="~ t | id")}),
    ("banded 1, t(t)", {"correlation": mixjax.corBanded(order=1, form="~ t | id"),
                        "weights": mixjax.varIdent(form="~ 1 | t")}),
    ("ar 1, t(t) by(g)", {"correlation": mixjax.corBy(mixjax.corAR1(form="~ t | id"), by="g"),
                          "weights": mixjax.varIdent(form="~ 1 | g")}),
    ("exchangeable, by(g)", {"correlation": mixjax.corBy(mixjax.corCompSymm(form="~ 1 | id"), by="g"),
                             "weights": mixjax.varIdent(form="~ 1 | g")}),
    ("un, t(t) by(g)", {"correlation": mixjax.corBy(mixjax.corSymm(form="~ t | id"), by="g"),
                        "weights": mixjax.varIdent(form="~ 1 | t#g")}),
    # without the new options, as before
    ("ar 1, t(t)", {"correlation": mixjax.corAR1(form="~ t | id")}),
    ("ma 2, t(t)", {"correlation": mixjax.corARMA(form="~ t | id", q=2)}),
    ("un, t(t)", {"correlation": mixjax.corSymm(form="~ t | id"), "weights": mixjax.varIdent(form="~ 1 | t")}),
    ("ind, by(g)", {"weights": mixjax.varIdent(form="~ 1 | g")}),
    ("exchangeable", {"correlation": mixjax.corCompSymm(form="~ 1 | id")}),
]


@pytest.mark.parametrize("option, objects", RESIDUAL_OBJECTS)
def test_residual_objects(option, objects):
    model = translate(f"mixed y || id:, residuals({option})")
    assert residual_objects(model.kwargs["residuals"]) == objects
    assert model.constraints == ()


def test_residual_structures_bad_input(orthodont):
    with pytest.raises(ValueError, match="order 4 needs lags up to 4.*4 positions.*order <= 3"):
        mixjax.stata("mixed distance age || Subject:, residuals(toeplitz 4, t(occ))", orthodont)
    with pytest.raises(ValueError, match="variable 'grp' is not in the data"):
        mixjax.stata("mixed distance age || Subject:, residuals(ar 1, t(occ) by(grp))", orthodont)
    with pytest.raises(ValueError, match="corBy: the column 'grp' of by= is not in the data"):
        mixjax.lmm("distance ~ age + (1 | Subject)", orthodont,
                   correlation=mixjax.corBy(mixjax.corAR1(form="~ occ | Subject"), by="grp"))
    with pytest.raises(ValueError, match="'age' must be constant within each group"):
        mixjax.lmm("distance ~ age + (1 | Subject)", orthodont,
                   correlation=mixjax.corBy(mixjax.corAR1(form="~ occ | Subject"), by="age"))
    with pytest.raises(ValueError, match="order must be a whole number >= 1"):
        mixjax.corToeplitz(order=0)
    with pytest.raises(ValueError, match="not a positive-definite Toeplitz"):
        mixjax.corToeplitz(order=2, value=(0.9, -0.9)).start(4)


def test_toeplitz_values_round_trip():
    cor = mixjax.corToeplitz(order=3, value=(0.5, 0.2, -0.1))
    assert cor.natural(cor.start(5), 5) == pytest.approx({"rho1": 0.5, "rho2": 0.2, "rho3": -0.1})


# ------------------------------------------------------------------------------------------------ constraints()


def test_constraint_numbers_and_expressions():
    assert numlist("1 3/5, 7") == (1, 3, 4, 5, 7)
    assert translate("mixed y x || id: x, constraints(1/2)").constraints == (1, 2)
    assert translate("mixed y x || id: x || id2:").effects == ((1, 1, "id", ("x", "_cons")), (2, 1, "id:id2", ("_cons",)))
    assert linear("-2*[lns1_1_1]_cons + 3 = _b[lnsig_e:_cons]") == ({"lns1_1_1:_cons": -2.0, "lnsig_e:_cons": -1.0},
                                                                    -3.0)
    for command, _ in FORMULAS:
        assert translate(command).constraints == ()


@pytest.fixture(scope="module")
def sleep():
    return mixjax.datasets.load("sleepstudy")


def test_constraints_hold_variance_components(sleep):
    held = mixjax.stata("mixed Reaction Days || Subject: Days, constraints(1)", sleep,
                        constraints={1: "_b[var(Days[Subject])] = 0"})
    assert not held.singular  # a variance held at 0 is not estimated, so it is no boundary
    assert held.loglik == pytest.approx(mixjax.lmm("Reaction ~ Days + (1 | Subject)", sleep).loglik, abs=1e-7)
    uncorrelated = mixjax.stata("mixed Reaction Days || Subject: Days, cov(un) constraints(1)", sleep,
                                constraints=["constraint 1 [cov(Days,_cons[Subject])]_cons = 0"])
    assert uncorrelated.loglik == pytest.approx(mixjax.lmm("Reaction ~ Days + (Days || Subject)", sleep).loglik,
                                                abs=1e-7)
    ratios = mixjax.stata("mixed Reaction Days || Subject: Days, constraints(1 2)", sleep, constraints=[
        "[lns1_1_2]_cons - [lnsig_e]_cons = 0", "_b[/var(Days[Subject])] = 0.04 * _b[/var(e.Reaction)]"])
    assert len(ratios.theta) == 0 and ratios.df == 3  # both SDs held: fixed effects and sigma are estimated
    sd = ratios.varcorr.sdcor.to_numpy()
    assert sd[:2] == pytest.approx([ratios.sigma, 0.2 * ratios.sigma])
    direct = mixjax.lmm("Reaction ~ Days + (Days || Subject)", sleep, fix={"Subject.Intercept": 1.0,
                                                                          "Subject.1.Days": 0.2})
    assert ratios.loglik == pytest.approx(direct.loglik, abs=1e-9)


@pytest.mark.parametrize("constraint, message", [
    ("_b[Days] = 0", r"constraint 1 \(_b\[Days\] = 0\).*Days is a fixed effect"),
    ("_b[var(_cons[Subject])] = 16", "constraint 1 .*relative to the residual variance"),
    ("_b[var(_cons[Foo])] = 0", "constraint 1 .*no random effect _cons at level Foo"),
    ("_b[lns2_1_1:_cons] = 0", "constraint 1 .*equation 1 of level 2"),
    ("Days Days = 1", "constraint 1 .*joined by"),
])
def test_constraints_that_do_not_map(sleep, constraint, message):
    with pytest.raises(ValueError, match=message):
        mixjax.stata("mixed Reaction Days || Subject:, constraints(1)", sleep, constraints={1: constraint})


def test_constraints_need_definitions_and_the_option(sleep):
    command = "mixed Reaction Days || Subject:"
    with pytest.raises(ValueError, match="constraint 1 is not defined; constraints= defines \\[2\\]"):
        mixjax.stata(command + ", constraints(1)", sleep, constraints={2: "_b[var(_cons[Subject])] = 0"})
    with pytest.raises(ValueError, match="needs their definitions"):
        mixjax.stata(command + ", constraints(1)", sleep)
    with pytest.raises(ValueError, match="the command applies none"):
        mixjax.stata(command, sleep, constraints={1: "_b[var(_cons[Subject])] = 0"})
