"""A known covariance over the levels of a grouping factor (``relmat=``, a relationship matrix as pedigreemm and
lme4qtl fit it), against lme4 with the relationship factor put into Zt (`tests/reference/make_relmat.R`)."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference

import mixjax

REF = load_reference("extra_relmat")
DATA = Path(__file__).parent / "reference" / "data"
MODELS = {"relmat_animal_herd_reml": ("y ~ sex + (1 | animal) + (1 | herd)", True),
          "relmat_animal_ml": ("y ~ sex + (1 | animal)", False)}


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(DATA / "relmat_data.csv"), pd.read_csv(DATA / "relmat_K.csv", index_col=0)


@pytest.fixture(scope="module")
def fits(data):
    d, K = data
    return {key: mixjax.lmm(formula, d, reml=reml, relmat={"animal": K}) for key, (formula, reml) in MODELS.items()}


@pytest.mark.parametrize("key", list(MODELS))
def test_against_lme4_with_relationship_factor(fits, key):
    fit, ref = fits[key], REF[key]
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    ref_beta, ref_se = np.array(list(ref["fixef"].values())), np.array(list(ref["fixef_se"].values()))
    assert np.all(np.abs(fit.fixef.to_numpy() - ref_beta) <= 0.01 * ref_se)
    np.testing.assert_allclose(fit.fixef_se.to_numpy(), ref_se, rtol=1e-3)
    np.testing.assert_allclose(fit.theta.to_numpy(), ref["theta"], rtol=2e-3)
    assert fit.sigma == pytest.approx(ref["sd"]["Residual"], rel=2e-3)
    b = fit.ranef["animal"].iloc[:, 0]
    ref_b = pd.Series(ref["ranef_animal"])[b.index]
    np.testing.assert_allclose(b.to_numpy(), ref_b.to_numpy(), atol=1e-4 * np.abs(ref_b).max())
    ref_cv = pd.Series(ref["condvar_animal"])[b.index]
    np.testing.assert_allclose(fit.condvar["animal"][:, 0, 0], ref_cv.to_numpy(), rtol=1e-3)


@pytest.mark.parametrize("group", ["animal", "herd"])
def test_a_multiple_of_the_identity_rescales_the_plain_fit(data, group):
    """K = 4 I: the same model as without relmat, with the term's SD halved relative to sqrt(K)'s scale (the
    animal term is the largest, so it also takes the path with an empty first term; herd is a later term)."""
    d, _ = data
    formula = "y ~ sex + (1 | animal) + (1 | herd)"
    levels = sorted(d[group].astype(str).unique())
    K = pd.DataFrame(4.0 * np.eye(len(levels)), index=levels, columns=levels)
    plain = mixjax.lmm(formula, d)
    related = mixjax.lmm(formula, d, relmat={group: K})
    assert related.loglik == pytest.approx(plain.loglik, abs=1e-6)
    np.testing.assert_allclose(related.fixef, plain.fixef, rtol=1e-6)
    scale = np.where(np.array(related.objective.names) == f"{group}.Intercept", 2.0, 1.0)
    np.testing.assert_allclose(related.theta.to_numpy() * scale, plain.theta.to_numpy(), rtol=1e-4)
    np.testing.assert_allclose(related.ranef[group].to_numpy(), plain.ranef[group].to_numpy(), atol=1e-5)


def test_only_the_levels_in_the_data_are_used(data, fits):
    """K over 280 animals, 240 with records: the fit equals the one with K cut to those 240."""
    d, K = data
    levels = sorted(d.animal.unique())
    cut = mixjax.lmm("y ~ sex + (1 | animal)", d, reml=False, relmat={"animal": K.loc[levels, levels]})
    assert len(K) == 280 and len(levels) == 240
    assert cut.loglik == pytest.approx(fits["relmat_animal_ml"].loglik, abs=1e-9)


def _bad(K, levels):
    return pd.DataFrame(K, index=levels, columns=levels)


@pytest.mark.parametrize("make, message", [
    (lambda K: K.to_numpy(), "must be a pandas DataFrame"),
    (lambda K: K.iloc[5:, 5:], r"has no row for 4 level\(s\) of 'animal' in the data: 'a001'"),
    (lambda K: _bad(K.to_numpy() + np.triu(np.full(K.shape, 0.1), 1), K.index), "not symmetric"),
    (lambda K: _bad(K.to_numpy() - 0.5 * np.eye(len(K)), K.index), "not positive definite"),
    (lambda K: K.iloc[:, ::-1], "same labels"),
])
def test_bad_relationship_matrix(data, make, message):
    d, K = data
    with pytest.raises(ValueError, match=message):
        mixjax.lmm("y ~ sex + (1 | animal)", d, relmat={"animal": make(K)})


def test_relmat_bad_group_and_unsupported_uses(data, fits):
    d, K = data
    with pytest.raises(ValueError, match="relmat= names the grouping factor 'sire'"):
        mixjax.lmm("y ~ sex + (1 | animal)", d, relmat={"sire": K})
    with pytest.raises(ValueError, match="cannot be combined with residual structures"):
        mixjax.lmm("y ~ sex + (1 | animal)", d, relmat={"animal": K}, correlation=mixjax.corAR1())
    fit = fits["relmat_animal_ml"]
    with pytest.raises(ValueError, match="relmat"):
        fit.simulate(2, seed=1)
    with pytest.raises(ValueError, match="relmat"):
        fit.refit(d.y.to_numpy())


def test_satterthwaite_and_likelihood_ratio_tests(data, fits):
    d, _ = data
    fit = fits["relmat_animal_ml"]
    table = fit.summary().fixed
    assert np.all(np.isfinite(table["df"])) and np.all(table["df"] > 1)
    reduced = mixjax.lmm("y ~ 1 + (1 | animal)", d, reml=False, relmat={"animal": data[1]})
    lrt = mixjax.anova(reduced, fit)
    assert lrt["chisq"].iloc[1] == pytest.approx(2 * (fit.loglik - reduced.loglik), rel=1e-9)
