"""statsmodels ``MixedLM``.

One grouping factor maps to ``groups=`` plus ``re_formula=`` (random slopes
allowed). Several intercept-only factors map to variance components on a single
all-ones group, which makes statsmodels work with dense matrices over all
levels: feasible for Penicillin, not for thousands of levels or 1e6 rows.
"""

from benchmarks.harness import time_fits

MAX_ROWS = 200_000
MAX_VC_LEVELS = 500


def run(case, repeats: int) -> dict:
    if case.nlme:
        return {"skipped": "nonlinear cases are compared with R's nlme"}
    if case.glmm:
        return {"skipped": "statsmodels has no Laplace or quadrature GLMM (its Bayes mixed GLMs are variational)"}
    import statsmodels.formula.api as smf

    data = case.data()
    terms = case.random_terms
    if len(data) > MAX_ROWS:
        return {"skipped": f"{len(data):,} rows: statsmodels MixedLM would take far too long"}
    if len(terms) == 1:
        expr, group = terms[0]
        if ":" in group:
            return {"skipped": "interaction grouping factor not mapped for statsmodels"}

        def model():
            return smf.mixedlm(case.fixed_formula, data, groups=group, re_formula=f"~{expr}")
    else:
        if any(expr != "1" for expr, _ in terms):
            return {"skipped": "statsmodels cannot fit crossed random slopes"}
        levels = sum(data.groupby(g.split(":"), observed=True).ngroups for _, g in terms)
        if levels > MAX_VC_LEVELS:
            return {"skipped": f"crossed factors with {levels:,} levels: statsmodels' variance "
                               "components on one all-ones group are dense, infeasible"}
        data = data.assign(_all=1)
        vc = {g.replace(":", "_"): "0 + " + ":".join(f"C({c})" for c in g.split(":")) for _, g in terms}

        def model():
            return smf.mixedlm(case.fixed_formula, data, groups="_all", re_formula="0", vc_formula=vc)

    return time_fits(lambda: float(model().fit(reml=case.reml).llf), repeats)
