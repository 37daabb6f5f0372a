"""Properties of the LMM objective and fit: exact derivatives, stationarity, invariances, jit == eager."""
import numpy as np
import pandas as pd
import pytest

import mixjax

FORMULAS = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
    ("Orthodont", "distance ~ age + Sex + (age | Subject) "),
]


def objective(name, formula, reml=True):
    design = mixjax.build_design(formula, mixjax.datasets.load(name))
    return design, mixjax.make_lmm(design, reml=reml)


@pytest.mark.parametrize("name,formula", FORMULAS)
@pytest.mark.parametrize("reml", [True, False])
def test_gradient_and_hessian_match_finite_differences(name, formula, reml):
    design, obj = objective(name, formula, reml)
    rng = np.random.default_rng(1)
    theta = obj.start * rng.uniform(0.3, 1.5, size=obj.start.shape) + rng.normal(0, 0.1, size=obj.start.shape) * (
        obj.lower == -np.inf
    )
    f, g, H = (np.asarray(v) for v in obj.value_grad_hess(theta))
    h = 1e-5
    fd_g = np.array([(obj.deviance(theta + h * e) - obj.deviance(theta - h * e)) / (2 * h) for e in np.eye(len(theta))])
    np.testing.assert_allclose(g, fd_g, rtol=1e-5, atol=1e-6)
    fd_H = np.array(
        [(obj.value_grad_hess(theta + h * e)[1] - obj.value_grad_hess(theta - h * e)[1]) / (2 * h) for e in np.eye(len(theta))]
    )
    np.testing.assert_allclose(H, fd_H, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(H, H.T, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name,formula", FORMULAS)
def test_gradient_vanishes_at_the_optimum(name, formula):
    fit = mixjax.lmm(formula, mixjax.datasets.load(name))
    assert fit.converged
    g = np.asarray(fit.objective.value_grad_hess(fit.solution.x)[1])
    free = ~fit.solution.at_bound
    assert np.max(np.abs(g[free])) < 1e-3
    assert fit.optimizer.hessian_min_eig > 0


def test_jit_equals_eager():
    import jax

    design, obj = objective("sleepstudy", "Reaction ~ Days + (Days | Subject)")
    theta = np.array([0.9, 0.02, 0.2])
    with jax.disable_jit():
        eager = float(obj.deviance(theta))
    assert float(obj.deviance(theta)) == pytest.approx(eager, rel=1e-12)


def test_invariant_to_row_order_and_level_labels():
    data = mixjax.datasets.load("sleepstudy")
    base = mixjax.lmm("Reaction ~ Days + (Days | Subject)", data)
    rng = np.random.default_rng(0)
    shuffled = data.iloc[rng.permutation(len(data))].reset_index(drop=True)
    relabelled = shuffled.assign(Subject=shuffled["Subject"].map(lambda s: f"subj_{int(s) * 7 % 1000}"))
    for frame in (shuffled, relabelled):
        fit = mixjax.lmm("Reaction ~ Days + (Days | Subject)", frame)
        assert fit.loglik == pytest.approx(base.loglik, abs=1e-8)
        np.testing.assert_allclose(fit.fixef, base.fixef, rtol=1e-7)
        np.testing.assert_allclose(fit.fixef_se, base.fixef_se, rtol=1e-6)
    # conditional modes follow their level, whatever the label
    fit = mixjax.lmm("Reaction ~ Days + (Days | Subject)", relabelled)
    mapping = {f"subj_{int(s) * 7 % 1000}": s for s in data["Subject"].unique()}
    modes = fit.ranef["Subject"].rename(index=mapping).loc[base.ranef["Subject"].index]
    np.testing.assert_allclose(modes.to_numpy(), base.ranef["Subject"].to_numpy(), rtol=1e-5, atol=1e-6)


def test_constant_weights_rescale_only_sigma():
    """Var(e_i) = sigma^2 / w_i: with every weight 4 the same data give sigma twice as large, the same
    random-effect SDs, fixed effects and log-likelihood (log|W| enters the deviance as in lme4)."""
    data = mixjax.datasets.load("sleepstudy")
    base = mixjax.lmm("Reaction ~ Days + (Days | Subject)", data, reml=False)
    fit = mixjax.lmm("Reaction ~ Days + (Days | Subject)", data, reml=False, weights=np.full(len(data), 4.0))
    np.testing.assert_allclose(fit.fixef, base.fixef, rtol=1e-6)
    assert fit.sigma == pytest.approx(2 * base.sigma, rel=1e-5)
    assert fit.loglik == pytest.approx(base.loglik, abs=1e-6)
    np.testing.assert_allclose(fit.varcorr["sdcor"].iloc[:3], base.varcorr["sdcor"].iloc[:3], rtol=1e-4)


def test_weights_column_name_equals_array():
    data = mixjax.datasets.load("sleepstudy").assign(w=lambda d: 1.0 + (d["Days"] % 3))
    by_name = mixjax.lmm("Reaction ~ Days + (Days | Subject)", data, weights="w")
    by_array = mixjax.lmm("Reaction ~ Days + (Days | Subject)", data, weights=data["w"].to_numpy())
    assert by_name.loglik == pytest.approx(by_array.loglik, abs=1e-10)
    assert by_name.loglik != pytest.approx(mixjax.lmm("Reaction ~ Days + (Days | Subject)", data).loglik, abs=1e-3)


def test_fitted_residuals_predict_agree():
    data = mixjax.datasets.load("sleepstudy")
    fit = mixjax.lmm("Reaction ~ Days + (Days | Subject)", data)
    np.testing.assert_allclose(fit.fitted() + fit.residuals(), data["Reaction"].to_numpy())
    np.testing.assert_allclose(fit.predict(data), fit.fitted())
    population = fit.predict(data, include_re=False)
    np.testing.assert_allclose(population, fit.fixef["Intercept"] + fit.fixef["Days"] * data["Days"].to_numpy())
    new = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["999", "308"]})
    with pytest.raises(ValueError, match="not seen in the fit"):
        fit.predict(new)
    pred = fit.predict(new, allow_new_levels=True)
    assert pred[0] == pytest.approx(population[1])
    assert pred[1] == pytest.approx(fit.fitted()[2])  # row 2: subject 308, day 2


def test_summary_shows_the_lme4_sections():
    fit = mixjax.lmm("Reaction ~ Days + (Days | Subject)", mixjax.datasets.load("sleepstudy"))
    text = str(fit.summary())
    for piece in ["REML criterion at convergence: 1743.6", "Scaled residuals", "Random effects", "Residual",
                  "Number of obs: 180, groups:  Subject, 18", "Fixed effects", "t value", "Correlation of Fixed"]:
        assert piece in text
    assert "<table" in fit._repr_html_()
    assert not fit.singular


def test_singular_fit_is_reported():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(10), 5)
    frame = pd.DataFrame({"y": rng.normal(size=50), "g": g.astype(str)})  # no group effect at all
    with pytest.warns(mixjax.MixjaxWarning, match="singular"):
        fit = mixjax.lmm("y ~ 1 + (1 | g)", frame)
    assert fit.singular and fit.converged
    assert fit.theta.iloc[0] < 1e-6


@pytest.mark.parametrize("name,formula", FORMULAS + [("Machines", "score ~ Machine + (Machine | Worker)")])
@pytest.mark.parametrize("reml", [True, False])
def test_fast_gradient_equals_autodiff_gradient(name, formula, reml):
    """value_grad uses a hand-written reverse rule (and LAPACK on the CPU); it must equal plain autodiff."""
    design, obj = objective(name, formula, reml)
    theta = obj.start * 0.7 + 0.05 * (obj.lower == -np.inf)
    f, g = obj.value_grad(theta)
    f2, g2, _ = obj.value_grad_hess(theta)
    assert float(f) == pytest.approx(float(f2), rel=1e-12)
    np.testing.assert_allclose(np.asarray(g), np.asarray(g2), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("name,formula", FORMULAS)
def test_quasi_newton_path_agrees_with_newton(name, formula):
    """The path taken for large dense blocks (L-BFGS-B + Newton polish), run here on small models."""
    from mixjax.optim.lbfgs import minimize_lbfgs

    design, obj = objective(name, formula)
    newton = mixjax.minimize(obj.value_grad_hess, obj.start, obj.lower)
    quasi = minimize_lbfgs(obj.value_grad, obj.start, obj.lower)
    assert quasi.converged and newton.converged
    assert quasi.fun == pytest.approx(newton.fun, abs=1e-8)
    np.testing.assert_allclose(quasi.x, newton.x, rtol=1e-5)
    assert quasi.hessian_min_eig == pytest.approx(newton.hessian_min_eig, rel=1e-3)


def test_hessian_formed_on_demand_matches_autodiff():
    """Without polishing, the L-BFGS path leaves the Hessian to LmmFit.hessian (differences of the exact
    gradient); it must agree with the autodiff Hessian, and the optimum with Newton's."""
    from mixjax.optim.lbfgs import minimize_lbfgs

    design, obj = objective("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)")
    quasi = minimize_lbfgs(obj.value_grad, obj.start, obj.lower, polish=0)
    assert quasi.hessian is None and quasi.converged
    fit = mixjax.LmmFit(design, obj, quasi)
    np.testing.assert_allclose(fit.hessian, np.asarray(obj.value_grad_hess(quasi.x)[2]), rtol=1e-4, atol=1e-4)
    assert fit.optimizer.hessian_min_eig > 0
    newton = mixjax.minimize(obj.value_grad_hess, obj.start, obj.lower)
    assert quasi.fun == pytest.approx(newton.fun, abs=1e-6)


def test_random_effects_table_is_aligned_as_lme4():
    """Group and term names left-aligned under their headers, numbers right-aligned (LMM and GLMM summaries)."""
    cbpp = mixjax.datasets.load("cbpp")
    glmm = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    lmm = mixjax.lmm("Reaction ~ Days + (Days | Subject)", mixjax.datasets.load("sleepstudy"))
    for fit, first in ((glmm, "herd"), (lmm, "Subject")):
        lines = str(fit.summary()).split("Random effects:\n")[1].splitlines()
        head, row = lines[0], lines[1]
        assert head.startswith("Groups") and row.startswith(first)
        assert head.index("Name") == row.index("Intercept")
        sd_end = head.index("Std.Dev.") + len("Std.Dev.")
        assert row[:sd_end].rstrip()[-1].isdigit() and row[sd_end:sd_end + 1] in ("", " ")  # SD right-aligned


def test_varcorr_names_have_one_missing_marker():
    """varcorr's var1 / var2 are text with NaN (R's NA) where a name does not apply, in LMM and GLMM fits alike."""
    lmm = mixjax.lmm("Reaction ~ Days + (Days | Subject)", mixjax.datasets.load("sleepstudy"))
    glmm = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", mixjax.datasets.load("cbpp"),
                       family="binomial")
    for vc in (lmm.varcorr, glmm.varcorr):
        missing = [v for v in (*vc.var1, *vc.var2) if not isinstance(v, str)]
        assert missing and all(isinstance(v, float) and np.isnan(v) for v in missing)
