import functools
import json
import re
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "reference"


def load_reference(rid: str) -> dict:
    return json.loads((REFERENCE / f"{rid}.json").read_text())


@functools.cache
def reference_fit(rid: str):
    """(reference, fit) of a reference model, fitted once per test session and shared by the test files:
    ``inf_*`` (REML LMMs), ``extra_boot_cbpp`` (binomial GLMM)."""
    import mixjax

    ref = load_reference(rid)
    data = mixjax.datasets.load(ref["dataset"])
    if ref.get("family"):
        return ref, mixjax.glmm(ref["formula"], data, family=ref["family"])
    return ref, mixjax.lmm(ref["formula"], data)


def check_exact_derivatives(obj, psi, rel: float = 1e-5):
    """The objective's exact gradient against central differences of its value, one column of its exact Hessian
    against forward differences of the gradient, and a symmetric Hessian (GLMM objectives: ``value_grad_hess``
    and ``deviance`` in ``psi``)."""
    import numpy as np

    f, g, H = (np.asarray(a) for a in obj.value_grad_hess(psi))
    assert np.isfinite(f) and f == pytest.approx(float(obj.deviance(psi)), rel=1e-12)
    fd = np.empty_like(psi)
    for i in range(len(psi)):
        h = 1e-5 * max(1.0, abs(psi[i]))
        up, down = psi.copy(), psi.copy()
        up[i] += h
        down[i] -= h
        fd[i] = (float(obj.deviance(up)) - float(obj.deviance(down))) / (2 * h)
    assert g == pytest.approx(fd, rel=rel, abs=rel * (1 + abs(f)) ** 0.5)
    i = int(np.argmax(np.abs(g)))
    h = 1e-6 * max(1.0, abs(psi[i]))
    up = psi.copy()
    up[i] += h
    column = (np.asarray(obj.value_grad_hess(up)[1]) - g) / h
    assert H[:, i] == pytest.approx(column, rel=1e-4, abs=1e-4 * np.abs(H).max())
    assert H == pytest.approx(H.T, abs=1e-8 * np.abs(H).max())


def r_name(name: str) -> str:
    """formulaic column name -> R's: 'Intercept' -> '(Intercept)', 'Sex[T.Female]' -> 'SexFemale'."""
    if name == "Intercept":
        return "(Intercept)"
    name = name.replace(" ** ", "^")
    return re.sub(r"([A-Za-z0-9_.]+)\[T\.([^\]]+)\]", r"\1\2", name)


@pytest.fixture(scope="session")
def reference():
    return load_reference


def _forbidden(*args, **kwargs):
    raise AssertionError("numerical work started before the bad input was rejected")


def rejected_before_work(fit, stages: tuple, data, match: str, *args, **kwargs) -> ValueError:
    """``fit(*args, data, **kwargs)`` raises ValueError matching ``match`` before any of ``stages`` (names in
    ``mixjax.api``: objective builders, optimizers) runs, and leaves ``data`` as it was."""
    import pandas as pd

    import mixjax.api

    before = data.copy(deep=True)
    with pytest.MonkeyPatch.context() as patch:
        for stage in stages:
            patch.setattr(mixjax.api, stage, _forbidden)
        with pytest.raises(ValueError, match=match) as info:
            fit(*args, data, **kwargs)
    pd.testing.assert_frame_equal(data, before)
    return info.value


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Drop JAX's in-memory compiled programs after each test file: a whole-suite process otherwise keeps every
    program it compiled (several GB), and XLA's CPU compiler was seen to crash once memory ran short."""
    yield
    import jax

    jax.clear_caches()
