"""glmmTMB (R, TMB's Laplace approximation with automatic differentiation) through Rscript; GLMM cases only."""

from benchmarks.adapters.lme4_adapter import run_r


def run(case, repeats: int) -> dict:
    if case.nlme:
        return {"skipped": "nonlinear cases are compared with R's nlme"}
    if not case.glmm:
        return {"skipped": "run for the GLMM cases only (the LMM cases compare with lme4)"}
    if case.nagq > 1:
        return {"skipped": "glmmTMB has no adaptive quadrature (Laplace only)"}
    return run_r(case, repeats, "glmmTMB")
