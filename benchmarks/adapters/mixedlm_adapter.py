"""mixedlm (PyPI, lme4 port with a Rust core): ``mixedlm.lmer(formula, data, REML=...)`` and
``mixedlm.glmer(formula, data, family=..., nAGQ=...)``.

mixedlm's formula parser takes neither ``cbind(successes, failures)`` nor a factor response: the first becomes a
proportion with the trials as weights, the second 0/1 (its second level is success), which is the same model.
"""

import re

import pandas as pd

from benchmarks.harness import time_fits

_CBIND = re.compile(r"^\s*cbind\(\s*(\w+)\s*,\s*(\w+)\s*-\s*(\w+)\s*\)\s*~(.*)$")


def _glmm_inputs(case, data: pd.DataFrame):
    """(formula, data, weights) that mixedlm reads."""
    m = _CBIND.match(case.formula)
    if m:
        successes, trials, _, rhs = m.groups()
        data = data.assign(_p=data[successes] / data[trials])
        return f"_p ~{rhs}", data, data[trials].to_numpy(float)
    response = case.formula.split("~", 1)[0].strip()
    if isinstance(data[response].dtype, pd.CategoricalDtype):
        data = data.assign(**{response: (data[response].cat.codes == 1).astype(float)})
    return case.formula, data, None


def run(case, repeats: int) -> dict:
    if case.nlme:
        return {"skipped": "nonlinear cases are compared with R's nlme"}
    import mixedlm

    data = case.data()
    if not case.glmm:
        return time_fits(lambda: float(mixedlm.lmer(case.formula, data, REML=case.reml).logLik()), repeats)
    if case.nagq > 1 and any(expr.strip() != "1" for expr, _ in case.random_terms):
        return {"skipped": "mixedlm allows nAGQ > 1 only for a single scalar random-effect term"}
    families = {"binomial": mixedlm.families.Binomial, "poisson": mixedlm.families.Poisson}
    if case.family not in families:
        return {"skipped": f"no {case.family} family in mixedlm's glmer"}
    formula, data, weights = _glmm_inputs(case, data)
    family = families[case.family]()
    return time_fits(lambda: float(mixedlm.glmer(formula, data, family=family, nAGQ=case.nagq,
                                                 weights=weights).logLik()), repeats)
