"""R's nlme (Lindstrom-Bates, ML) through Rscript; nonlinear cases only."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from benchmarks.harness import RESULT_MARK, warm_budget_s

R_SCRIPT = Path(__file__).with_name("nlme_bench.R")


def run(case, repeats: int) -> dict:
    if not case.nlme:
        return {"skipped": "run for the nonlinear cases only"}
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"skipped": "Rscript not found on PATH"}
    data = case.data()
    factors = [c for c in data.columns if isinstance(data[c].dtype, pd.CategoricalDtype)]
    spec = case.nlme
    random_params, group = spec["random"].split("~")[0].strip(), case.nlme_group
    start = ",".join(f"{k}={v}" for k, v in spec["start"].items())
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "data.csv"
        data.to_csv(csv, index=False)
        proc = subprocess.run(
            [rscript, str(R_SCRIPT), str(csv), case.formula, spec["fixed"], random_params, group, start,
             spec["covariance"], str(repeats), str(warm_budget_s()), ",".join(factors)],
            capture_output=True, text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    tail = " | ".join(proc.stderr.strip().splitlines()[-5:])
    raise RuntimeError(f"Rscript exited with code {proc.returncode}: {tail}")
