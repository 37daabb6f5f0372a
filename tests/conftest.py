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
