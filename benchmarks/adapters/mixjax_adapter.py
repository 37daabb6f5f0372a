"""mixjax: ``mixjax.lmm(formula, data, reml=...)`` or ``mixjax.glmm(formula, data, family=..., nagq=...)``.

``first_s`` is JIT compilation plus the first fit; ``warm_median_s`` re-fits the
same data with compiled code.
"""

from benchmarks.harness import time_fits


def run(case, repeats: int) -> dict:
    import jax

    import mixjax

    data = case.data()
    if case.nlme:
        fit = lambda: mixjax.nlme(case.formula, data, **case.nlme)  # noqa: E731
    elif case.glmm:
        fit = lambda: mixjax.glmm(case.formula, data, family=case.family, nagq=case.nagq)  # noqa: E731
    else:
        fit = lambda: mixjax.lmm(case.formula, data, reml=case.reml)  # noqa: E731
    result = time_fits(lambda: float(fit().loglik), repeats)
    result["device"] = str(jax.devices()[0])
    result["x64"] = bool(jax.config.jax_enable_x64)
    return result
