"""The families of glmmTMB beyond lme4's (beta, betabinomial, genpois, tweedie, t, lognormal, zero-truncated counts):
fits against glmmTMB 1.1.5 (tests/reference/make_families.R and the shared tmb_* references), densities that sum or
integrate to 1 with glmmTMB's means and variances, the Tweedie series against brute force, exact GLMM gradients
against finite differences, per-row dispersions, draws, and the errors for responses a family cannot take."""
import functools
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, check_exact_derivatives, load_reference, r_name
from scipy import integrate
from scipy.special import gammaln, logsumexp

import mixjax
from mixjax import families
from mixjax.families import Response

EXTRA = load_reference("extra_families")
REFS = {**{f"extra_families:{k}": v for k, v in EXTRA.items()},
        "tmb_cbpp_betabinomial": load_reference("tmb_cbpp_betabinomial"),
        "tmb_salamanders_genpois": load_reference("tmb_salamanders_genpois")}
FAMILY_PARAMS = {"Tweedie power": "power", "Student-t df": "df"}
AT_BOUNDARY = {"tmb_cbpp_betabinomial"}  # the herd SD goes to 0 (glmmTMB stops at 1e-4): check only that it is ~0

_FITS: dict = {}


def _data(ref) -> pd.DataFrame:
    if ref["dataset"].endswith(".csv"):  # written by make_families.R
        data = pd.read_csv(REFERENCE / "data" / ref["dataset"].rsplit("/", 1)[1])
        return data.astype({"g": "category"})
    data = mixjax.datasets.load(ref["dataset"])
    return data.query(ref["subset"]).reset_index(drop=True) if ref.get("subset") else data


def fitted(rid):
    if rid not in _FITS:
        ref = REFS[rid]
        with warnings.catch_warnings():
            if rid in AT_BOUNDARY:
                warnings.filterwarnings("ignore", "boundary", mixjax.MixjaxWarning)
            fit = mixjax.glmm(ref["formula"], _data(ref), family=ref["family"],
                              link=ref["link"])
        _FITS[rid] = ref, fit
    return _FITS[rid]


def _sds(ref) -> dict:
    if "sd" in ref:
        return {(g, name): sd for g, sds in ref["sd"].items() for name, sd in sds.items()}
    return {(row["group"], name): sd for row in ref["varcorr"] for name, sd in row["sd"].items()}


@pytest.mark.parametrize("rid", list(REFS))
def test_against_glmmtmb(rid):
    ref, fit = fitted(rid)
    assert fit.converged, fit.optimizer
    assert ref["logLik"] - 1e-3 <= fit.loglik <= ref["logLik"] + 5e-3
    est = {r_name(k): v for k, v in fit.fixef.items()}
    se = {r_name(k): v for k, v in fit.fixef_se.items()}
    assert set(est) == set(ref["fixef"])
    for name, value in ref["fixef"].items():
        assert abs(est[name] - value) <= 0.02 * ref["fixef_se"][name], name
        assert se[name] == pytest.approx(ref["fixef_se"][name], rel=0.03), name
    ours = {(row.group, r_name(row.var1)): row.sdcor for row in fit.varcorr.itertuples() if pd.isna(row.var2)}
    for key, sd in _sds(ref).items():
        assert ours[key] == (pytest.approx(sd, abs=0.01) if rid in AT_BOUNDARY else pytest.approx(sd, rel=0.02)), key
    if ref["family"] != "truncated_poisson":  # glmmTMB's sigma() is 1 there
        assert fit.dispersion == pytest.approx(ref["dispersion"], rel=0.02)
    params = fit.family.family_params(fit.solution.x[-2:]) if ref.get("family_params") else {}
    for name, value in (ref.get("family_params") or {}).items():
        assert params[FAMILY_PARAMS[name]] == pytest.approx(value, rel=0.02), name


def _tweedie_aghq():
    """Tweedie with 5-point adaptive quadrature: the series inside lax.map and jax.checkpoint."""
    from mixjax.design import build
    from mixjax.objectives.glmm import make_glmm

    design = build("count ~ mined + (1 | site)", mixjax.datasets.load("Salamanders"), glmm=True)
    fam = families.get("tweedie")
    obj = make_glmm(design, fam, fam.response(design.y, design.weights, (), "count"), nagq=5)
    return obj, obj.start


def test_exact_gradient_and_hessian_against_finite_differences():
    """At a point off the optimum of each reference model (and a Tweedie one by quadrature): the outer gradient
    (and one Hessian column) of -2 log L against central differences of the deviance."""
    rng = np.random.default_rng(3)
    for rid in [*REFS, "tweedie aghq"]:
        obj, at = _tweedie_aghq() if rid == "tweedie aghq" else (fitted(rid)[1].objective, fitted(rid)[1].solution.x)
        psi = np.maximum(at + 0.05 * rng.standard_normal(len(obj.start)), obj.lower + 0.05)
        check_exact_derivatives(obj, psi)


# ------------------------------------------------------------------------------------------ densities


@functools.cache
def _compiled_logpdf(name, link):
    import jax

    fam = families.get(name, link)
    return jax.jit(lambda y, trials, eta, params: fam.logpdf(Response(y, trials, jax.numpy.ones_like(y)), eta, params))


def _logpdf(name, y, eta, params, trials=None, link=None):
    """The family's log-density at each ``y``, one compiled program per family (scipy's quad calls it often)."""
    y = np.atleast_1d(np.asarray(y, dtype=float))
    trials = np.ones_like(y) if trials is None else np.broadcast_to(np.asarray(trials, dtype=float), y.shape)
    eta = np.broadcast_to(np.asarray(eta, dtype=float), y.shape)
    return np.asarray(_compiled_logpdf(name, link)(y, trials, eta, np.asarray(params, dtype=float)))


def _moments(p, y):
    mean = np.sum(p * y)
    return np.sum(p), mean, np.sum(p * (y - mean) ** 2)


COUNTS = [  # family, eta, params, mean, variance (untruncated)
    ("genpois", np.log(3.0), [np.log(2.5)], 3.0, 3.0 * 2.5),
    ("genpois", np.log(0.4), [np.log(1.3)], 0.4, 0.4 * 1.3),
    ("genpois", np.log(20.0), [np.log(6.0)], 20.0, 120.0),
    ("truncated_poisson", np.log(0.3), [], 0.3, 0.3),
    ("truncated_poisson", np.log(7.0), [], 7.0, 7.0),
    ("truncated_nbinom2", np.log(2.0), [np.log(0.7)], 2.0, 2.0 + 4.0 / 0.7),
    ("truncated_nbinom2", np.log(15.0), [np.log(4.0)], 15.0, 15.0 + 225 / 4.0),
    ("truncated_nbinom1", np.log(0.8), [np.log(2.0)], 0.8, 0.8 * 3.0),
    ("truncated_nbinom1", np.log(9.0), [np.log(0.5)], 9.0, 9.0 * 1.5),
    ("truncated_genpois", np.log(1.5), [np.log(2.0)], 1.5, 3.0),
]


@pytest.mark.parametrize("name, eta, params, mean, var", COUNTS)
def test_count_densities_sum_to_one(name, eta, params, mean, var):
    y = np.arange(0.0, 4000.0)
    p = np.exp(_logpdf(name, y, eta, params))
    if name.startswith("truncated"):
        fam = families.get(name)
        p0 = float(np.exp(fam.log_prob_zero(np.asarray(eta), np.asarray(params, dtype=float))))
        assert p[0] == 1.0  # log-density 0 at y = 0: zeros belong to a hurdle's zero part
        untruncated = families.get(name.removeprefix("truncated_"))
        base = np.exp(np.asarray(untruncated.logpdf(Response(y, np.ones_like(y), np.ones_like(y)),
                                                    np.full_like(y, eta), np.asarray(params, dtype=float))))
        assert p0 == pytest.approx(base[0], rel=1e-12)
        assert p[1:] == pytest.approx(base[1:] / (1 - p0), rel=1e-10)
        p = np.r_[0.0, p[1:]]
        mean, var = mean / (1 - p0), (var + mean**2) / (1 - p0) - (mean / (1 - p0)) ** 2
    total, m, v = _moments(p, y)
    assert total == pytest.approx(1.0, abs=1e-12)
    assert m == pytest.approx(mean, rel=1e-10)
    assert v == pytest.approx(var, rel=1e-9)


@pytest.mark.parametrize("n, mu, phi", [(1, 0.3, 2.0), (12, 0.2, 0.5), (30, 0.85, 40.0)])
def test_betabinomial_sums_to_one(n, mu, phi):
    y = np.arange(0.0, n + 1)
    p = np.exp(_logpdf("betabinomial", y, np.log(mu / (1 - mu)), [np.log(phi)], trials=n))
    total, m, v = _moments(p, y)
    assert total == pytest.approx(1.0, abs=1e-13)
    assert m == pytest.approx(n * mu, rel=1e-12)
    assert v == pytest.approx(n * mu * (1 - mu) * (phi + n) / (phi + 1), rel=1e-11)


def _integrate(fun, lower, upper, points=None):
    return integrate.quad(fun, lower, upper, points=points, epsabs=1e-13, epsrel=1e-11, limit=500)[0]


CONTINUOUS = [  # family, link, eta, params, support, mean, variance
    ("beta", "logit", 0.4, [np.log(5.0)], (0, 1), 1 / (1 + np.exp(-0.4)), None),
    ("beta", "logit", -2.5, [np.log(60.0)], (0, 1), 1 / (1 + np.exp(2.5)), None),
    ("t", "identity", 1.5, [np.log(2.0), np.log(4.5)], (-np.inf, np.inf), 1.5, 4.0 * 4.5 / 2.5),
    ("t", "identity", -3.0, [np.log(0.3), np.log(40.0)], (-np.inf, np.inf), -3.0, 0.09 * 40 / 38),
    ("lognormal", "log", np.log(30.0), [np.log(10.0)], (0, np.inf), 30.0, 100.0),
    ("lognormal", "log", np.log(0.2), [np.log(0.5)], (0, np.inf), 0.2, 0.25),
]


@pytest.mark.parametrize("name, link, eta, params, support, mean, var", CONTINUOUS)
def test_continuous_densities_integrate_to_one(name, link, eta, params, support, mean, var):
    def density(y, power=0):
        return y**power * float(np.exp(_logpdf(name, y, eta, params, link=link))[0])

    if name == "beta":
        var = mean * (1 - mean) / (1 + np.exp(params[0]))
    pieces = [(support[0], mean), (mean, support[1])]
    total = sum(_integrate(density, a, b) for a, b in pieces)
    m = sum(_integrate(lambda y: density(y, 1), a, b) for a, b in pieces)
    v = sum(_integrate(lambda y: (y - mean) ** 2 * density(y), a, b) for a, b in pieces)
    assert total == pytest.approx(1.0, abs=1e-9)
    assert m == pytest.approx(mean, rel=1e-8, abs=1e-9)
    assert v == pytest.approx(var, rel=1e-7)


@pytest.mark.parametrize("mu, phi, power", [(2.0, 1.0, 1.5), (0.3, 0.5, 1.1), (10.0, 3.0, 1.9), (40.0, 0.05, 1.3)])
def test_tweedie_is_a_distribution_with_glmmtmb_moments(mu, phi, power):
    """P(0) plus the integral of the continuous part is 1; mean mu, variance phi mu^p."""
    params = [np.log(phi), np.log((power - 1) / (2 - power))]

    def density(y, k=0):
        return y**k * float(np.exp(_logpdf("tweedie", y, np.log(mu), params))[0])

    def integral(k):  # near 0 the density behaves as y^(a - 1), a = (2 - p) / (p - 1): quad's algebraic weight
        a = (2 - power) / (power - 1)
        near = (integrate.quad(lambda y: density(max(y, 1e-200), k) / max(y, 1e-200) ** (a - 1), 0, mu / 4,
                               weight="alg", wvar=(a - 1, 0), epsabs=1e-13, epsrel=1e-11, limit=500)[0] if a < 1
                else _integrate(lambda y: density(y, k), 0, mu / 4))
        edges = [mu / 4, mu / 2, mu, 2 * mu, 4 * mu, 10 * mu + 20 * phi, np.inf]
        return near + sum(_integrate(lambda y: density(y, k), a, b) for a, b in zip(edges[:-1], edges[1:]))

    p0 = density(0.0)
    assert p0 == pytest.approx(np.exp(-mu ** (2 - power) / (phi * (2 - power))), rel=1e-13)
    total, m, m2 = p0 + integral(0), integral(1), integral(2)
    assert total == pytest.approx(1.0, abs=1e-9)
    assert m == pytest.approx(mu, rel=1e-8)
    assert m2 - mu**2 == pytest.approx(phi * mu**power, rel=1e-7)


def _brute_log_w(y, log_phi, p, terms=400_000):
    a = (2 - p) / (p - 1)
    j = np.arange(1, terms + 1.0)
    z = a * (np.log(y) - np.log(p - 1)) - (1 + a) * log_phi - np.log(2 - p)
    return logsumexp(j * z - gammaln(j + 1) - gammaln(a * j))


@pytest.mark.parametrize("power", [1.02, 1.3, 1.7, 1.98])
def test_tweedie_series_against_brute_force(power):
    """The adaptive series against every term up to j = 400000, from tiny to huge series (small phi, large y)."""
    from mixjax.families.tweedie import log_w

    y = np.array([1e-3, 0.2, 1.0, 7.0, 60.0, 2000.0])
    for log_phi in (-5.0, -1.0, 0.5, 3.0):
        got = np.asarray(log_w(y, log_phi, power))
        expected = np.array([_brute_log_w(v, log_phi, power) for v in y])
        assert got == pytest.approx(expected, rel=1e-13, abs=1e-12)


def test_tweedie_series_derivatives_to_second_order():
    """Exact first and second derivatives of log W in (log phi, p), forward and reverse, against differences."""
    import jax

    from mixjax.families.tweedie import log_w

    y = np.array([0.05, 1.0, 4.0, 30.0, 500.0])

    def f(x):
        return jax.numpy.sum(log_w(y, x[0], x[1]))

    x, h = np.array([-0.7, 1.45]), 1e-6
    g = np.asarray(jax.grad(f)(x))
    fd = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(2)]
    assert g == pytest.approx(np.array(fd, dtype=float), rel=1e-7)
    H_fwd, H_rev = (np.asarray(jax.jacfwd(jax.grad(f))(x)), np.asarray(jax.jacrev(jax.grad(f))(x)))
    fd2 = np.array([(np.asarray(jax.grad(f)(x + h * e)) - np.asarray(jax.grad(f)(x - h * e))) / (2 * h)
                    for e in np.eye(2)])
    assert H_fwd == pytest.approx(H_rev, rel=1e-12)
    assert H_fwd == pytest.approx(fd2, rel=1e-6)


PER_ROW = [  # family, link, y, params (the dispersion first)
    ("beta", "logit", [0.2, 0.5, 0.9], [np.log(8.0)]),
    ("betabinomial", "logit", [0.0, 3.0, 7.0], [np.log(3.0)]),
    ("genpois", "log", [0.0, 2.0, 9.0], [np.log(2.0)]),
    ("tweedie", "log", [0.0, 0.7, 12.0], [np.log(1.5), 0.3]),
    ("t", "identity", [-1.0, 0.5, 3.0], [np.log(0.8), np.log(5.0)]),
    ("lognormal", "log", [0.3, 1.0, 8.0], [np.log(2.0)]),
    ("truncated_poisson", "log", [0.0, 1.0, 4.0], []),
    ("truncated_nbinom1", "log", [0.0, 1.0, 4.0], [np.log(1.7)]),
    ("truncated_nbinom2", "log", [0.0, 1.0, 4.0], [np.log(1.7)]),
    ("truncated_genpois", "log", [0.0, 1.0, 4.0], [np.log(1.7)]),
]


@pytest.mark.parametrize("name, link, y, params", PER_ROW)
def test_dispersion_per_row_is_elementwise(name, link, y, params):
    """disp= gives the dispersion parameter one value per row: the log-density of each row at its own value."""
    fam = families.get(name, link)
    y = np.asarray(y)
    eta, trials = np.array([0.3, -0.2, 0.8]), np.full(3, 10.0)
    resp = Response(y, trials, np.ones(3))
    if fam.dispersion_param is None:
        assert name == "truncated_poisson"
        return
    i = fam.dispersion_param
    per_row = np.array([params[i] - 0.4, params[i], params[i] + 0.5])
    rows = np.asarray(fam.logpdf(resp, eta, [*params[:i], per_row, *params[i + 1:]]))
    for r in range(3):
        one = Response(y[r : r + 1], trials[r : r + 1], np.ones(1))
        value = fam.logpdf(one, eta[r : r + 1], np.array([*params[:i], per_row[r], *params[i + 1:]]))
        assert rows[r] == pytest.approx(float(np.asarray(value)[0]), rel=1e-13)


@pytest.mark.parametrize("name, link, y, params", PER_ROW)
def test_draws_have_the_family_mean(name, link, y, params):
    import jax

    fam = families.get(name, link)
    n = 20_000
    eta = np.full(n, {"identity": 1.2, "logit": 0.4}.get(link, np.log(2.5)))
    resp = Response(np.ones(n), np.full(n, 10.0), np.ones(n))
    params = np.asarray(params, dtype=float)
    draws = np.asarray(fam.sample(jax.random.PRNGKey(5), eta, params, resp))
    mean = float(np.asarray(fam.mean(eta[:1], params))[0]) * (10.0 if name == "betabinomial" else 1.0)
    if fam.truncated:
        mean /= -np.expm1(float(np.asarray(fam.log_prob_zero(eta[:1], params))[0]))
        assert draws.min() >= 1
    assert np.isfinite(draws).all()
    assert abs(draws.mean() - mean) < 5 * draws.std() / np.sqrt(n)


# ------------------------------------------------------------------------------------------ bad responses

BAD = [  # family, response values, message
    ("beta", [0.2, 0.0, 0.5, 0.7], r"strictly between 0 and 1.*3 row\(s\).*row 1.*\(y \(n - 1\) \+ 0.5\) / n"),
    ("beta", [0.2, 0.4, 1.0, 0.7], r"strictly between 0 and 1.*row 2"),
    ("tweedie", [0.0, 1.5, -0.1, 3.0], r"tweedie family needs non-negative values.*row 2"),
    ("lognormal", [1.0, 0.0, 2.0, 3.0], r"lognormal family needs positive values.*row 1"),
    ("genpois", [1.0, 2.5, 0.0, 3.0], r"genpois family needs non-negative integer counts.*row 1"),
    ("truncated_nbinom2", [1.0, 2.0, -1.0, 3.0], r"truncated_nbinom2 family needs non-negative integer.*row 2"),
]


@pytest.mark.parametrize("family, values, match", BAD)
def test_bad_responses_are_refused_clearly(family, values, match):
    data = pd.DataFrame({"y": np.tile(values, 3), "x": np.arange(12.0), "g": list("aabbccddeeff")})
    with pytest.raises(ValueError, match=match):
        mixjax.glmm("y ~ x + (1 | g)", data, family=family)


def test_betabinomial_takes_the_binomial_responses():
    cbpp = mixjax.datasets.load("cbpp")
    with pytest.raises(ValueError, match="cbind.*negative or non-integer"):
        mixjax.glmm("cbind(incidence - 3, size - incidence) ~ period + (1 | herd)", cbpp, family="betabinomial")
    fam = families.get("betabinomial")
    resp = fam.response(np.c_[[1.0, 2.0], [3.0, 0.0]], np.ones(2), (), "y")
    assert list(resp.y) == [1.0, 2.0] and list(resp.trials) == [4.0, 2.0]


def test_registry():
    for name in ("beta", "betabinomial", "genpois", "tweedie", "t", "lognormal", "truncated_poisson",
                 "truncated_nbinom1", "truncated_nbinom2", "truncated_genpois"):
        assert families.get(name).name == name
    assert families.get("beta_family").link.name == "logit" and families.get("t_family").link.name == "identity"
    assert all(families.get(n).truncated for n in ("truncated_poisson", "truncated_nbinom1", "truncated_nbinom2"))
    assert families.get("tweedie").dispersion_param == 0 and families.get("truncated_poisson").dispersion_param is None
    with pytest.raises(ValueError, match="does not suit family 'beta'"):
        families.get("beta", "log")
