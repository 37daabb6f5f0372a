"""lme4 (R) through Rscript: ``lmer``, ``glmer`` (``glmer.nb`` for nbinom2).

The case's data go to a temporary CSV; ``lme4_bench.R`` reads it, makes the
categorical columns factors, and times the fit itself (first and warm fits
in one fresh R process), reporting R's own resident memory.
"""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.harness import RESULT_MARK, warm_budget_s

R_SCRIPT = Path(__file__).with_name("lme4_bench.R")


def run(case, repeats: int) -> dict:
    if case.nlme:
        return {"skipped": "nonlinear cases are compared with R's nlme"}
    if case.glmm and case.nagq > 1 and any(expr.strip() != "1" for expr, _ in case.random_terms):
        return {"skipped": "lme4 allows nAGQ > 1 only for a single scalar random intercept"}
    return run_r(case, repeats, "lme4")


def run_r(case, repeats: int, engine: str, extra: tuple = ()) -> dict:
    """Run ``lme4_bench.R`` with ``engine`` (lme4, glmmTMB or nlme, whose arguments are ``extra``) on the case."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"skipped": "Rscript not found on PATH"}
    data = case.data()
    factors = [c for c in data.columns if isinstance(data[c].dtype, pd.CategoricalDtype)]
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        data.to_csv(csv, index=False)
        proc = subprocess.run(
            [rscript, str(R_SCRIPT), str(csv), case.formula, "TRUE" if case.reml else "FALSE",
             str(repeats), str(warm_budget_s()), ",".join(factors), case.family or "", str(case.nagq), engine,
             *extra],
            capture_output=True, text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
    raise RuntimeError(f"Rscript exited with code {proc.returncode}: {tail}")
