"""R's nlme (Lindstrom-Bates, ML) through Rscript (``lme4_bench.R`` with engine nlme); nonlinear cases only."""

from benchmarks.adapters.lme4_adapter import run_r


def run(case, repeats: int) -> dict:
    if not case.nlme:
        return {"skipped": "run for the nonlinear cases only"}
    spec = case.nlme
    start = ",".join(f"{k}={v}" for k, v in spec["start"].items())
    return run_r(case, repeats, "nlme", (spec["fixed"], spec["random"].split("~")[0].strip(), case.nlme_group, start,
                                         spec["covariance"]))
