"""Size buckets (``mixjax.objectives.lmm_buckets``): the padded cross-products give every number of the unpadded
ones, and models of one structure class in one bucket share one compiled program."""
import jax
import numpy as np
import pandas as pd
import pytest

import mixjax
from mixjax.inference.satterthwaite import _derivatives
from mixjax.objectives import lmm as L
from mixjax.objectives.lmm_buckets import PAD_MAX_NR, bucket, pad
from mixjax.objectives.lmm_estimates import estimates

MODELS = {
    "slope": ("sleepstudy", "Reaction ~ Days + (Days | Subject)"),
    "three fixed": ("Orthodont", "distance ~ age + Sex + (1 | Subject)"),
    "crossed": ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    "nested": ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
    "uncorrelated": ("sleepstudy", "Reaction ~ Days + (Days || Subject)"),
}


def test_bucket_sizes():
    assert [bucket(n) for n in (0, 1, 2, 3, 4, 5, 9)] == [1, 1, 2, 4, 4, 8, 16]
    assert [bucket(n, 4, 16) for n in (1, 16, 17, 64, 65)] == [16, 16, 64, 64, 256]


@pytest.fixture(scope="module", params=[("slope", True), ("three fixed", False), ("crossed", True), ("nested", False),
                                        ("uncorrelated", True)],
                ids=lambda p: f"{p[0]}-{'REML' if p[1] else 'ML'}")
def objective(request):  # the fit
    name, reml = request.param
    data, formula = MODELS[name]
    return mixjax.lmm(formula, mixjax.datasets.load(data), reml=reml)


def test_padded_is_larger_and_same_structure(objective):
    obj = objective.objective
    data, spec = pad(obj.data, obj.spec)
    assert spec.covs == obj.spec.covs and spec.reml is None and float(data.reml) == float(obj.spec.reml)
    assert data.D0.shape[0] >= obj.data.D0.shape[0] and spec.p >= obj.spec.p and spec.qr >= obj.spec.qr
    assert data.D0.shape[0] % 16 == 0


def test_padding_changes_no_value_gradient_or_hessian(objective):
    obj, theta = objective.objective, objective.solution.x
    data, spec = pad(obj.data, obj.spec)
    rng = np.random.default_rng(1)
    for x in (theta, np.abs(theta) + rng.uniform(0.1, 1.0, len(theta))):
        f0, g0, H0 = L.value_grad_hess(x, obj.data, obj.spec)
        f1, g1, H1 = L.value_grad_hess(x, data, spec)
        np.testing.assert_allclose(f1, f0, rtol=1e-12)
        scale = 1e-10 * abs(float(f0))  # rounding of the deviance's terms (a gradient near 0 at the optimum)
        np.testing.assert_allclose(g1, g0, rtol=1e-9, atol=scale)
        np.testing.assert_allclose(H1, H0, rtol=1e-9, atol=scale)


def test_padded_estimates_and_satterthwaite_equal_unpadded(objective):
    obj, theta = objective.objective, objective.solution.x
    est = estimates(theta, obj.data, obj.spec)
    fit_est = mixjax.results.estimates.estimates(obj, objective.design, theta)  # through the padded program
    np.testing.assert_allclose(fit_est.beta, est.beta, rtol=1e-10)
    np.testing.assert_allclose(fit_est.vcov, est.vcov, rtol=1e-9)
    np.testing.assert_allclose(fit_est.sigma, est.sigma, rtol=1e-12)
    for a, b in zip(fit_est.b, est.b):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10 * np.max(np.abs(b)))
    varpar = np.append(theta, float(est.sigma))
    H0, C0, J0 = _derivatives(varpar, obj.data, spec=obj.spec)
    s = mixjax.inference.satterthwaite.satterthwaite(obj, theta, float(est.sigma))
    np.testing.assert_allclose(s.vcov, C0, rtol=1e-9)
    np.testing.assert_allclose(s.jacobian, np.moveaxis(np.asarray(J0), -1, 0), rtol=1e-7,
                               atol=1e-9 * np.max(np.abs(J0)))


def test_models_of_one_class_share_one_program():
    """sleepstudy (18 subjects) and Orthodont (27 subjects) with a correlated random slope and two fixed effects:
    one Newton program, one estimates program."""
    from mixjax.objectives.lmm import _NEWTON
    from mixjax.results.estimates import _ESTIMATES

    a = mixjax.lmm("Reaction ~ Days + (Days | Subject)", mixjax.datasets.load("sleepstudy"))
    a.fixef
    programs = (len(_NEWTON.programs), len(_ESTIMATES.programs))
    b = mixjax.lmm("distance ~ age + (age | Subject)", mixjax.datasets.load("Orthodont"))
    b.fixef
    assert (len(_NEWTON.programs), len(_ESTIMATES.programs)) == programs
    assert a.objective.bucketed()[1] == b.objective.bucketed()[1]
    assert b.loglik == pytest.approx(-221.318343, abs=1e-6)  # lme4: logLik(lmer(distance ~ age + (age|Subject)))


def test_large_or_device_data_are_not_padded(objective):
    obj = objective.objective
    assert pad(obj.data, obj.spec._replace(nr=PAD_MAX_NR + 1)) is None  # the L-BFGS-B class
    assert pad(obj.data._replace(D0=jax.device_put(obj.data.D0)), obj.spec) is None  # large data live on the device


GLMMS = {
    "binomial": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", {"family": "binomial"}),
    "binomial agq": ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     {"family": "binomial", "nagq": 25}),
    "crossed": ("VerbAgg", "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", {"family": "binomial"}),
    "zero-inflated": ("Salamanders", "count ~ mined + (1 | site)", {"family": "poisson", "zi": "~ mined"}),
}


@pytest.fixture(scope="module", params=list(GLMMS))
def glmm_fit(request):
    data, formula, kwargs = GLMMS[request.param]
    return mixjax.glmm(formula, mixjax.datasets.load(data), **kwargs)


def test_glmm_padding_changes_no_value_gradient_or_hessian(glmm_fit):
    from mixjax.objectives import glmm as G

    obj, psi = glmm_fit.objective, glmm_fit.solution.x
    padded = obj.bucketed()
    assert padded is not None and padded.spec.levels[0] >= obj.spec.levels[0] and len(padded.data.y) in (64, 256, 1024, 4096, 16384)
    full = np.zeros(padded.spec.n_theta + padded.spec.p + padded.spec.n_family)
    full[padded.index] = psi
    f0, g0, H0, *_ = G.value_grad_hess(psi, *G._zeros(obj.spec), obj.data, obj.spec)
    f1, g1, H1, *_ = G.value_grad_hess(full, *G._zeros(padded.spec), padded.data, padded.spec)
    scale = 1e-10 * abs(float(f0))
    np.testing.assert_allclose(f1, f0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g1)[padded.index], g0, rtol=1e-9, atol=scale)
    np.testing.assert_allclose(np.asarray(H1)[np.ix_(padded.index, padded.index)], H0, rtol=1e-8, atol=scale)
    added = np.setdiff1d(np.arange(len(full)), padded.index)  # added fixed effects: gradient 1, no curvature
    np.testing.assert_array_equal(np.asarray(g1)[added], 1.0)
    np.testing.assert_array_equal(np.asarray(H1)[added], 0.0)


@pytest.mark.parametrize("name", ["binomial", "crossed"])
def test_glmm_padded_fit_is_the_unpadded_fit(name, monkeypatch):
    """The same optimizer path: the compiled loop on the padded and on the real arrays takes the same iterations to
    the same optimum. (The padded sums add in another order: where the likelihood is flat, as VerbAgg's, whose loop
    stops on a negligible predicted decrease, the last step lands up to 2e-6 apart at the same deviance to 1e-12.)"""
    from mixjax.objectives import glmm_buckets

    data, formula, kwargs = GLMMS[name]
    obj = mixjax.glmm(formula, mixjax.datasets.load(data), **kwargs).objective
    monkeypatch.setattr(glmm_buckets, "PAD_BELOW_BYTES", 0)
    plain = obj._replace(last_mode={"u": obj.last_mode["u"]}).minimize(obj.start, radius0=0.5)
    monkeypatch.undo()
    padded = obj._replace(last_mode={"u": obj.last_mode["u"]}).minimize(obj.start, radius0=0.5)
    assert padded.iterations == plain.iterations and padded.status == plain.status
    np.testing.assert_allclose(padded.fun, plain.fun, rtol=1e-12)
    np.testing.assert_allclose(padded.x, plain.x, rtol=1e-5)
    np.testing.assert_allclose(padded.hessian_min_eig, plain.hessian_min_eig, rtol=1e-5)


def test_compile_notice_is_said_once_per_program_kind(tmp_path, monkeypatch, capsys):
    import jax.numpy as jnp

    from mixjax import _config, _exported

    monkeypatch.setattr(_config, "EXPORT_DIR", str(tmp_path))
    monkeypatch.setattr(_exported, "_ANNOUNCED", set())
    cached = _exported.DiskCached(mixjax._config.jit(lambda x, spec: jnp.sum(x) * spec, static_argnames="spec"),
                                  notice="a test program")
    assert float(cached(np.ones(3), spec=2)) == 6.0  # a new shape: compiled, said
    assert float(cached(np.ones(4), spec=2)) == 8.0  # another new shape: compiled, not said again
    err = capsys.readouterr().err
    assert err.count("mixjax: compiling a test program for a new model shape") == 1
    monkeypatch.setattr(_exported, "_ANNOUNCED", set())
    assert float(cached(np.ones(3), spec=2)) == 6.0  # on disk already: nothing said
    assert capsys.readouterr().err == ""


def test_warmup_cases_cover_their_buckets():
    from mixjax.warmup import cases, simulate

    assert len(cases()) == 19  # the README's count: 3 LMMs, 8 binomial and 8 Poisson GLMMs
    all_cases = cases(("binomial",))
    assert {c.family for c in all_cases} == {None, "binomial"}
    for case in all_cases[:3] + all_cases[-2:]:
        data = simulate(case)
        assert len(data) == case.n_rows and data["g"].nunique() == case.n_groups
        assert data.shape[1] == case.n_fixed + 1 + ("h" in data)  # covariates, y, g (and h)
    assert {bucket(c.n_groups, 4, 16) for c in all_cases} == {16, 64}


def test_ml_and_reml_and_one_class_of_sizes_share_one_program():
    """The LMM's buckets are coarse (term 1 from 256 levels, fixed effects from 4, later terms from 64 levels, the
    coupling's entries from 256 and pairs from 2,048) and REML and ML share the program: Penicillin (crossed,
    REML and ML) and Pastes (nested, ML) fit by one Newton program, each to lme4's log-likelihood."""
    from mixjax.objectives.lmm import _NEWTON

    crossed = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    a = mixjax.lmm(crossed, mixjax.datasets.load("Penicillin"))
    programs = len(_NEWTON.programs)
    b = mixjax.lmm(crossed, mixjax.datasets.load("Penicillin"), reml=False)
    c = mixjax.lmm("strength ~ 1 + (1 | batch/cask)", mixjax.datasets.load("Pastes"), reml=False)
    assert len(_NEWTON.programs) == programs
    assert a.objective.bucketed()[1] == b.objective.bucketed()[1] == c.objective.bucketed()[1]
    assert a.loglik == pytest.approx(-165.4303, abs=1e-4)  # lme4: logLik(lmer(...)), REML
    assert b.loglik == pytest.approx(-166.0942, abs=1e-4)  # lme4: logLik(lmer(..., REML = FALSE))
    assert c.loglik == pytest.approx(-123.9972, abs=1e-4)  # lme4, ML


def test_warmup_compiles_the_program_a_real_model_then_uses(monkeypatch, capsys):
    """``mixjax warmup`` (one simulated case here) fills the programs that Dyestuff's model (6 batches, intercept
    only) then uses: its fit adds no Newton program."""
    from mixjax import cli, warmup
    from mixjax.objectives.lmm import _NEWTON

    one = [c for c in warmup.cases(()) if c.formula == "y ~ x1 + (1 | g)"]
    monkeypatch.setattr(warmup, "cases", lambda families: one)
    assert cli.main(["warmup", "--families", ""]) == 0
    out = capsys.readouterr().out
    assert "lmm (1 | g), 2 fixed, 48 groups:" in out and "1 models compiled or loaded in" in out
    programs = len(_NEWTON.programs)
    fit = mixjax.lmm("Yield ~ 1 + (1 | Batch)", mixjax.datasets.load("Dyestuff"))
    assert len(_NEWTON.programs) == programs
    assert fit.loglik == pytest.approx(-159.8271, abs=1e-4)  # lme4's REML logLik


def test_warmup_crossed_case_serves_crossed_and_nested_models():
    """The warmup's two crossed intercepts (48 x 4 levels) fill the Newton program that Penicillin (crossed) and
    Machines (nested, 3 fixed effects) then use."""
    from mixjax import warmup
    from mixjax.objectives.lmm import _NEWTON

    case = next(c for c in warmup.cases(()) if "(1 | h)" in c.formula)
    mixjax.lmm(case.formula, warmup.simulate(case))
    programs = len(_NEWTON.programs)
    a = mixjax.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", mixjax.datasets.load("Penicillin"))
    b = mixjax.lmm("score ~ Machine + (1 | Worker/Machine)", mixjax.datasets.load("Machines"))
    assert len(_NEWTON.programs) == programs
    assert a.loglik == pytest.approx(-165.4303, abs=1e-4) and b.loglik == pytest.approx(-107.8438, abs=1e-4)  # lme4


def test_crossed_models_of_one_class_share_one_program():
    """Penicillin (24 plates x 6 samples) and the same with 9 more plates (copies under new names): one Newton
    program (levels, coupling entries and pairs in the same buckets)."""
    from mixjax.objectives.lmm import _NEWTON

    d = mixjax.datasets.load("Penicillin")
    more = d[d["plate"].isin(d["plate"].unique()[:9])].assign(plate=lambda f: "x" + f["plate"].astype(str))
    bigger = pd.concat([d.assign(plate=d["plate"].astype(str)), more], ignore_index=True)
    a = mixjax.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", d)
    programs = len(_NEWTON.programs)
    b = mixjax.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", bigger)
    assert len(_NEWTON.programs) == programs and b.ngroups["plate"] == 33
    assert a.objective.bucketed()[1] == b.objective.bucketed()[1]
