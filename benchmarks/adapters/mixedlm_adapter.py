"""mixedlm (PyPI, lme4 port with a Rust core): ``mixedlm.lmer(formula, data, REML=...)``."""

from benchmarks.harness import time_fits


def run(case, repeats: int) -> dict:
    import mixedlm

    data = case.data()
    return time_fits(lambda: float(mixedlm.lmer(case.formula, data, REML=case.reml).logLik()), repeats)
