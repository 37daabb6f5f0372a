"""Weibull frailty models (a Weibull proportional-hazards model with a normal random intercept, Stata's ``mestreg ...
|| g:, distribution(weibull)``), mixjax against R's numerical integration and ``survreg``.

``python -m benchmarks.frailty [--repeats 3] [--cases kidney,sim20k]`` runs every (engine, case) in its own fresh
process and prints a markdown table. Engines: ``mixjax-laplace`` and ``mixjax-aghq15`` (``mixjax.glmm(..., family=
"weibull", nagq=1 | 15)``, a compilation cache of this run's own filled by one untimed fit in another process
first); ``R-numint`` (``adapters/frailty.R``: 60-node adaptive Gauss-Hermite per cluster, maximized by BFGS from
survreg's fit: the shared references' method); ``R-survreg`` (no random effect, for scale). Cases: ``kidney``
(survival's kidney, ``age + sex``, 38 patients) and ``sim20k`` (20,000 clusters of 5, one covariate, Weibull shape
1.5, frailty SD 0.5, about a third censored; seed ``SEED``).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks.harness import peak_rss_mb, run_cases, run_marked, worker_report

R_SCRIPT = Path(__file__).with_name("adapters") / "frailty.R"
SEED = 20261126
CASES = {"kidney": "Surv(time, status) ~ age + sex + (1 | g)", "sim20k": "Surv(time, status) ~ x + (1 | g)"}
ENGINES = ("mixjax-laplace", "mixjax-aghq15", "R-numint", "R-survreg")


def load(case: str):
    import numpy as np
    import pandas as pd

    import mixjax

    if case == "kidney":
        k = mixjax.datasets.load("kidney")
        return pd.DataFrame({"time": k.time, "status": k.status, "age": k.age, "sex": k.sex, "g": k.id.astype(str)})
    rng = np.random.default_rng(SEED)
    clusters, per = 20_000, 5
    x = rng.standard_normal(clusters * per)
    u = np.repeat(0.5 * rng.standard_normal(clusters), per)
    t = (-np.log(rng.uniform(size=x.size)) / np.exp(-2.0 + 0.5 * x + u)) ** (1 / 1.5)
    c = rng.exponential(8.0, size=x.size)
    return pd.DataFrame({"time": np.minimum(t, c), "status": (t <= c).astype(int), "x": x,
                         "g": np.repeat(np.arange(clusters), per).astype(str)})


def _worker(case: str, nagq: int, repeats: int) -> dict:
    import mixjax

    data = load(case)
    fit = lambda: mixjax.glmm(CASES[case], data, family="weibull", nagq=nagq)  # noqa: E731
    t = time.perf_counter()
    first = fit()
    out = {"first_s": time.perf_counter() - t, "loglik": float(first.loglik), "converged": bool(first.converged),
           "nobs": len(data), "par": dict(zip(first.objective.names, map(float, first.solution.x)))}
    warm, start = [], time.perf_counter()
    while len(warm) < repeats and (not warm or time.perf_counter() - start < 60):
        t = time.perf_counter()
        float(fit().loglik)
        warm.append(time.perf_counter() - t)
    return {**out, "warm_s": statistics.median(warm) if warm else None, "n_warm": len(warm),
            "peak_rss_mb": peak_rss_mb()}


def run_one(engine: str, case: str, repeats: int, csv: Path, cache: Path, timeout: float) -> dict:
    if engine.startswith("R-"):
        return run_marked(["Rscript", str(R_SCRIPT), str(csv), engine[2:], str(repeats)], timeout)
    nagq = "1" if engine == "mixjax-laplace" else "15"
    env = dict(os.environ, MIXJAX_CACHE_DIR=str(cache))
    cmd = [sys.executable, "-m", "benchmarks.frailty", "--worker", case, nagq]
    run_marked(cmd + ["0"], timeout, env=env)  # fills this run's cache: a user's second session
    return run_marked(cmd + [str(repeats)], timeout, env=env)


def table(rows: list[dict]) -> str:
    ref = {r["case"]: r for r in rows if r["engine"] == "R-numint"}
    lines = ["| case | engine | first (s) | warm median (s) | warm / R-numint | loglik | loglik - R-numint | "
             "peak RSS (MB) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    fmt = lambda v: "" if v is None else f"{v:.3g}"  # noqa: E731
    for r in rows:
        base = ref.get(r["case"], {})
        ratio = fmt(r["warm_s"] / base["warm_s"]) if r.get("warm_s") and base.get("warm_s") else ""
        diff = f"{r['loglik'] - base['loglik']:.2e}" if "loglik" in r and "loglik" in base else ""
        lines.append(f"| {r['case']} | {r['engine']} | {fmt(r.get('first_s'))} | {fmt(r.get('warm_s'))} | {ratio} | "
                     f"{r.get('loglik', r.get('error', ''))} | {diff} | {fmt(r.get('peak_rss_mb'))} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--worker", nargs=3, metavar=("CASE", "NAGQ", "REPEATS"))
    args = ap.parse_args(argv)
    if args.worker:
        return worker_report(lambda: _worker(args.worker[0], int(args.worker[1]), int(args.worker[2])))
    rows = run_cases(args.cases.split(","), args.engines.split(","), load,
                     lambda engine, case, csv, cache: run_one(engine, case, args.repeats, csv, cache, args.timeout))
    print()
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
