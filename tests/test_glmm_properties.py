"""GLMM properties: the exact outer gradient and Hessian against finite differences, quadrature against direct
numerical integration, Laplace = one-point quadrature, invariances."""
import numpy as np
import pandas as pd
import pytest
from conftest import check_exact_derivatives
from scipy import integrate
from scipy.special import expit, gammaln, log_expit

import mixjax
from mixjax import families
from mixjax.design import build
from mixjax.objectives.glmm import make_glmm

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def objective(formula, dataset, family, nagq=1, link=None, rows=None):
    data = mixjax.datasets.load(dataset)
    if rows is not None:
        data = data.iloc[rows].reset_index(drop=True)
    fam = families.get(family, link)
    design = build(formula, data, glmm=True)
    if not fam.has_intercept:
        import dataclasses

        keep = [i for i, n in enumerate(design.xnames) if n != "Intercept"]
        design = dataclasses.replace(design, X=design.X[:, keep], xnames=tuple(design.xnames[i] for i in keep))
    resp = fam.response(design.y, design.weights, design.response_levels, "y")
    return make_glmm(design, fam, resp, nagq)


CASES = {
    "cbpp laplace": (CBPP, "cbpp", "binomial", 1, None),
    "cbpp aghq": (CBPP, "cbpp", "binomial", 7, None),
    "cbpp probit": (CBPP, "cbpp", "binomial", 1, "probit"),
    "grouseticks crossed": ("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", "grouseticks", "poisson", 1, None),
    "salamanders nbinom2": ("count ~ mined + (1 | site)", "Salamanders", "nbinom2", 1, None),
    "wine ordinal": ("rating ~ temp + contact + (1 | judge)", "wine", "ordinal", 3, None),
    "contraception vector aghq": ("use ~ age + urban + (1 + urban | district)", "Contraception", "binomial", 3, None),
    "sleepstudy gamma": ("Reaction ~ Days + (Days | Subject)", "sleepstudy", "gamma", 1, "log"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_exact_gradient_and_hessian_against_finite_differences(case):
    formula, dataset, family, nagq, link = CASES[case]
    obj = objective(formula, dataset, family, nagq, link)
    rng = np.random.default_rng(1)
    psi = obj.start + 0.1 * rng.standard_normal(len(obj.start))
    psi[: len(psi)] = np.maximum(psi, obj.lower + 0.05)
    check_exact_derivatives(obj, psi)


def _cbpp_direct(psi):
    """cbpp's marginal log-likelihood by adaptive quadrature (scipy's quad), one herd at a time."""
    data = mixjax.datasets.load("cbpp")
    sigma, beta = psi[0], psi[1:]
    period = data.period.cat.codes.to_numpy()
    eta0 = beta[0] + np.where(period > 0, beta[np.maximum(period, 1)], 0.0)
    y, m = data.incidence.to_numpy(float), data["size"].to_numpy(float)
    const = gammaln(m + 1) - gammaln(y + 1) - gammaln(m - y + 1)
    total = 0.0
    for herd in data.herd.cat.codes.unique():
        rows = data.herd.cat.codes.to_numpy() == herd

        def log_integrand(u, rows=rows):  # spherical u ~ N(0, 1), b = sigma u
            eta = eta0[rows] + sigma * u
            return np.sum(const[rows] + y[rows] * log_expit(eta) + (m[rows] - y[rows]) * log_expit(-eta)) - 0.5 * u * u

        mode = max(np.linspace(-4, 4, 801), key=log_integrand)
        value, _ = integrate.quad(lambda u: np.exp(log_integrand(u) - log_integrand(mode)), mode - 12, mode + 12,
                                  epsabs=0, epsrel=1e-12, limit=200)
        total += log_integrand(mode) + np.log(value / np.sqrt(2 * np.pi))
    return total


@pytest.mark.parametrize("case", ["cbpp aghq", "wine ordinal"])
def test_forward_gradient_hessian_equals_the_reverse_one(case, monkeypatch):
    """One random term on few rows: ``value_grad_hess`` takes the gradient forward (forward over forward); the
    value, gradient and Hessian equal those of forward over reverse (the path of larger data) to rounding."""
    import jax

    from mixjax.objectives import glmm as G

    obj = objective(*CASES[case])
    psi = np.asarray(obj.start) + 0.1
    u1, ur = G._zeros(obj.spec)
    program = lambda: jax.jit(G.value_grad_hess.__wrapped__, static_argnames="spec")  # noqa: E731 (traced anew)
    forward = program()(psi, u1, ur, obj.data, spec=obj.spec)[:3]
    monkeypatch.setattr(G, "FORWARD_GRADIENT_ROWS", 0)
    reverse = program()(psi, u1, ur, obj.data, spec=obj.spec)[:3]
    for a, b in zip(forward, reverse):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11 * float(np.max(np.abs(b))))


@pytest.mark.parametrize("case", ["cbpp aghq", "grouseticks crossed"])
def test_steps_with_the_hessian_held_equal_full_newton_steps(case):
    """The mode's two steps hold ``H^{-1}`` at the mode constant; two full Newton steps (``H`` re-factored and
    differentiated at each) give the same value, gradient and Hessian."""
    import jax

    from mixjax.objectives import glmm as G

    obj = objective(*CASES[case])
    spec, data = obj.spec, obj.data
    psi = np.asarray(obj.start) + 0.1
    u1, ur = G._mode(psi, *G._zeros(spec), data, spec)

    def full_newton(p):
        A, fixed, fam = G._linear_parts(p, data, spec)
        v1, vr = jax.lax.stop_gradient(u1), jax.lax.stop_gradient(ur)
        for _ in range(2):
            s1, sr, _ = G._newton_step(v1, vr, fixed, A, fam, data, spec, clip=False)
            v1, vr = v1 + s1, vr + sr
        eta = G._eta(fixed, A, v1, vr, data, spec)
        F = G.block_factor(*G._hessian(G._derivs(eta, fam, data, spec)[1], A, data, spec))
        if spec.nagq == 1:
            return G._penalized(G._rows(eta, fam, data, spec), v1, vr) - 0.5 * G.block_logdet(F)
        return G._aghq(fixed, A[0], v1, F, fam, data, spec)

    def held(p):
        return G._loglik_at_mode(p, u1, ur, data, spec)[0]

    for fn in (lambda f: f, jax.grad, jax.hessian):
        a, b = jax.jit(fn(held))(psi), jax.jit(fn(full_newton))(psi)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(b))))


def test_quadrature_converges_to_direct_integral():
    psi = np.array([0.9, -1.2, -1.0, -1.1, -1.6])
    direct = _cbpp_direct(psi)
    errors = [abs(-0.5 * float(objective(CBPP, "cbpp", "binomial", n).deviance(psi)) - direct) for n in (1, 3, 7, 25)]
    assert errors[-1] < 1e-8
    assert errors[0] > 1e-3  # Laplace is an approximation
    assert all(b < a for a, b in zip(errors, errors[1:]))


@pytest.mark.parametrize("formula,dataset", [(CBPP, "cbpp"), ("use ~ age + urban + (1 + urban | district)",
                                                               "Contraception")])
def test_one_point_quadrature_is_laplace(formula, dataset):
    from mixjax.objectives import glmm as G
    from mixjax.objectives.lmm import _factors

    obj = objective(formula, dataset, "binomial", 1)
    psi = obj.start + 0.1
    laplace, (u1, _, F) = G._loglik_at_mode(psi, *G._mode(psi, *G._zeros(obj.spec), obj.data, obj.spec), obj.data, obj.spec)
    theta, beta, fam = G._unpack(psi, obj.spec)
    A1 = obj.data.Z[0] @ _factors(theta, obj.spec.covs)[0]
    one_point = G._aghq(obj.data.X @ beta + obj.data.offset, A1, u1, F, fam, obj.data, obj.spec)
    assert float(one_point) == pytest.approx(float(laplace), rel=1e-13)


def test_vector_quadrature_matches_2d_integral_of_one_district():
    """Product-rule AGHQ over a 2-dimensional random effect against scipy's dblquad, for one district."""
    data = mixjax.datasets.load("Contraception")
    first = data.district.cat.categories[:2]
    rows = np.flatnonzero(data.district.isin(first).to_numpy())
    formula = "use ~ urban + (1 + urban | district)"
    obj = objective(formula, "Contraception", "binomial", 15, rows=rows)
    psi = np.array([0.6, -0.4, 0.5, -0.8, 0.7])  # theta (3), beta (2)
    sub = data.iloc[rows].reset_index(drop=True)
    y = (sub.use == "Y").to_numpy(float)
    urban = (sub.urban == "Y").to_numpy(float)
    T = np.array([[psi[0], 0.0], [psi[1], psi[2]]])
    total = 0.0
    for level in sub.district.unique():
        r = (sub.district == level).to_numpy()

        def dens(u2, u1, r=r):
            b = T @ np.array([u1, u2])
            p = expit(psi[3] + psi[4] * urban[r] + b[0] + b[1] * urban[r])
            return np.exp(np.sum(y[r] * np.log(p) + (1 - y[r]) * np.log1p(-p)) - 0.5 * (u1 * u1 + u2 * u2)) / (2 * np.pi)

        value, _ = integrate.dblquad(dens, -8, 8, -8, 8, epsabs=1e-13, epsrel=1e-10)
        total += np.log(value)
    assert -0.5 * float(obj.deviance(psi)) == pytest.approx(total, abs=1e-6)


def test_fit_is_invariant_to_row_order_and_level_labels():
    data = mixjax.datasets.load("cbpp")
    fit = mixjax.glmm(CBPP, data, family="binomial")
    shuffled = data.sample(frac=1.0, random_state=3).reset_index(drop=True)
    shuffled["herd"] = shuffled.herd.cat.rename_categories(lambda s: f"h{s}")
    other = mixjax.glmm(CBPP, shuffled, family="binomial")
    assert other.loglik == pytest.approx(fit.loglik, abs=1e-8)
    assert other.fixef.to_numpy() == pytest.approx(fit.fixef.to_numpy(), abs=1e-6)
    assert other.ranef["herd"].loc["h3"].iloc[0] == pytest.approx(fit.ranef["herd"].loc["3"].iloc[0], abs=1e-6)


def test_response_forms_agree():
    """cbind(successes, failures), a proportion with weights as trials, and one 0/1 row per trial: same fit."""
    data = mixjax.datasets.load("cbpp")
    a = mixjax.glmm(CBPP, data, family="binomial")
    prop = data.assign(p=data.incidence / data["size"])
    b = mixjax.glmm("p ~ period + (1 | herd)", prop, family="binomial", weights="size")
    long = data.loc[data.index.repeat(data["size"])].reset_index(drop=True)
    long["y"] = np.concatenate([np.r_[np.ones(i), np.zeros(s - i)] for i, s in zip(data.incidence, data["size"])])
    c = mixjax.glmm("y ~ period + (1 | herd)", long, family="binomial")
    assert b.loglik == pytest.approx(a.loglik, abs=1e-8)
    assert b.fixef.to_numpy() == pytest.approx(a.fixef.to_numpy(), abs=1e-6)
    assert c.fixef.to_numpy() == pytest.approx(a.fixef.to_numpy(), abs=1e-6)
    # the 0/1 form lacks the binomial coefficients of the grouped form: log-likelihoods differ by exactly them
    const = np.sum(gammaln(data["size"] + 1) - gammaln(data.incidence + 1) - gammaln(data["size"] - data.incidence + 1))
    assert c.loglik + const == pytest.approx(a.loglik, abs=1e-6)


def test_offset_argument_equals_formula_offset():
    data = mixjax.datasets.load("cbpp")
    a = mixjax.glmm("incidence ~ period + offset(log(size)) + (1 | herd)", data, family="poisson")
    b = mixjax.glmm("incidence ~ period + (1 | herd)", data, family="poisson", offset=np.log(data["size"]))
    assert a.loglik == pytest.approx(b.loglik, abs=1e-9)
    assert a.predict(type="link") == pytest.approx(b.predict(type="link"), abs=1e-9)
    new = data.iloc[:3]
    assert a.predict(new, type="response") == pytest.approx(a.fitted()[:3], rel=1e-10)


def test_gaussian_identity_glmm_is_the_ml_lmm():
    """For a Gaussian response with the identity link the Laplace approximation is exact: the GLMM is the LMM
    fitted by maximum likelihood (same log-likelihood, estimates, SDs; the dispersion is sigma)."""
    sleep = mixjax.datasets.load("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    g = mixjax.glmm(formula, sleep, family="gaussian")
    m = mixjax.lmm(formula, sleep, reml=False)
    assert g.loglik == pytest.approx(m.loglik, abs=1e-6)
    assert g.fixef.to_numpy() == pytest.approx(m.fixef.to_numpy(), abs=1e-5)
    assert g.dispersion == pytest.approx(m.sigma, rel=1e-6)
    assert g.varcorr.sdcor.to_numpy() == pytest.approx(m.varcorr.sdcor.to_numpy()[:-1], rel=1e-5)


def test_prior_weights_equal_repeated_rows():
    data = mixjax.datasets.load("grouseticks")
    formula = "TICKS ~ YEAR + (1 | BROOD)"
    weighted = mixjax.glmm(formula, data, family="poisson", weights=np.full(len(data), 2.0))
    doubled = mixjax.glmm(formula, pd.concat([data, data], ignore_index=True), family="poisson")
    assert weighted.loglik == pytest.approx(doubled.loglik, abs=1e-6)
    assert weighted.fixef.to_numpy() == pytest.approx(doubled.fixef.to_numpy(), abs=1e-6)
