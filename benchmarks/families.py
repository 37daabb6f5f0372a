"""GLMM families with distributional formulas (issue 14), side by side with glmmTMB and R's survival code.

``python -m benchmarks.families [--repeats 5] [--cases ...] [--engines mixjax,R]`` runs every (engine, case) in its
own fresh process, one after the other, prints one JSON line per run and a markdown table. ``mixjax`` fills a
compilation cache of this run's own with one untimed fit in another fresh process first (a user's second
session); ``mixjax-nocache`` compiles everything (first fit only). ``R``: the case's R call (glmmTMB, or for
survival cases ``survreg`` without the random effect, for scale) through ``adapters/families.R`` on the same rows.
**first**: the first fit in a fresh process (imports and data excluded); **warm**: the median of the repeats.

Each case is ``(data, mixjax keyword arguments of glmm, R call)``; the data a bundled dataset, a CSV under
``tests/reference/data`` or a simulation of ``simulate_*`` (written to a CSV that R reads, so both fit the same
rows).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from benchmarks.harness import ROOT, peak_rss_mb, run_cases, run_marked, worker_report

R_SCRIPT = Path(__file__).with_name("adapters") / "families.R"
SEED = 20261126
SAL = "count ~ spp + mined + (1 | site)"

# name -> (data, mixjax glmm kwargs, R call on data frame `d`, factor columns)
CASES = {
    "salamanders_zip": ("Salamanders", dict(formula=SAL, family="poisson", zi="~ spp + mined"),
                        "glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ spp + mined, family = poisson, "
                        "data = d)", ["spp", "mined", "site"]),
    "salamanders_zinb2": ("Salamanders", dict(formula=SAL, family="nbinom2", zi="~ spp + mined"),
                          "glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ spp + mined, family = nbinom2, "
                          "data = d)", ["spp", "mined", "site"]),
    "salamanders_nb2_disp": ("Salamanders", dict(formula=SAL, family="nbinom2", disp="~ mined"),
                             "glmmTMB(count ~ spp + mined + (1 | site), dispformula = ~ mined, family = nbinom2, "
                             "data = d)", ["spp", "mined", "site"]),
    "salamanders_hurdle_nb2": ("Salamanders", dict(formula=SAL, family="truncated_nbinom2", zi="~ spp + mined"),
                               "glmmTMB(count ~ spp + mined + (1 | site), ziformula = ~ spp + mined, "
                               "family = truncated_nbinom2, data = d)", ["spp", "mined", "site"]),
    "cbpp_betabinomial": ("cbpp", dict(formula="cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                       family="betabinomial"),
                          "glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), family = betabinomial, "
                          "data = d)", ["period", "herd"]),
    "salamanders_tweedie": ("Salamanders", dict(formula=SAL, family="tweedie"),
                            "glmmTMB(count ~ spp + mined + (1 | site), family = tweedie, data = d)",
                            ["spp", "mined", "site"]),
    "beta_sim": ("beta_sim.csv", dict(formula="y ~ x + (1 | g)", family="beta"),
                 "glmmTMB(y ~ x + (1 | g), family = beta_family(), data = d)", ["g"]),
}
ENGINES = ("mixjax", "mixjax-nocache", "R")


def load(case: str):
    import pandas as pd

    import mixjax

    source = CASES[case][0]
    if source.endswith(".csv"):
        return pd.read_csv(ROOT / "tests" / "reference" / "data" / source)
    return mixjax.datasets.load(source)


def _worker(case: str, repeats: int) -> dict:
    import mixjax

    data = load(case)
    kwargs = dict(CASES[case][1])
    formula = kwargs.pop("formula")

    def fit():
        return mixjax.glmm(formula, data, **kwargs)

    t = time.perf_counter()
    first = fit()
    out = {"first_s": time.perf_counter() - t, "loglik": float(first.loglik), "nobs": len(data)}
    warm, start = [], time.perf_counter()
    while len(warm) < repeats and (not warm or time.perf_counter() - start < 60):
        t = time.perf_counter()
        float(fit().loglik)
        warm.append(time.perf_counter() - t)
    out.update(warm_s=statistics.median(warm) if warm else None, n_warm=len(warm), peak_rss_mb=peak_rss_mb(),
               converged=bool(first.converged))
    return out


def run_one(engine: str, case: str, repeats: int, csv: Path, cache: Path, timeout: float) -> dict:
    if engine == "R":
        _, _, call, factors = CASES[case]
        return run_marked(["Rscript", str(R_SCRIPT), str(csv), call, ",".join(factors), str(repeats)], timeout)
    env = dict(os.environ, MIXJAX_CACHE_DIR=str(cache))
    env.pop("MIXJAX_NO_CACHE", None)
    cmd = [sys.executable, "-m", "benchmarks.families", "--worker", case, str(repeats)]
    if engine == "mixjax-nocache":
        env["MIXJAX_NO_CACHE"] = "1"
        cmd[-1] = "0"
    else:
        run_marked(cmd[:-1] + ["0"], timeout, env=env)  # fills this run's cache: a user's second session
    return run_marked(cmd, timeout, env=env)


def table(rows: list[dict]) -> str:
    r_by_case = {r["case"]: r for r in rows if r["engine"] == "R"}
    head = ("| case | engine | first (s) | warm median (s) | mixjax/R warm | loglik | loglik - R | peak RSS (MB) |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- |")
    lines = [head]
    for r in rows:
        ref = r_by_case.get(r["case"], {})
        ratio = (f"{r['warm_s'] / ref['warm_s']:.3g}" if r["engine"] != "R" and r.get("warm_s") and ref.get("warm_s")
                 else "")
        diff = (f"{r['loglik'] - ref['loglik']:.2e}" if r["engine"] != "R" and "loglik" in r and "loglik" in ref
                else "")
        fmt = lambda v: "" if v is None else f"{v:.3g}"  # noqa: E731
        lines.append(f"| {r['case']} | {r['engine']} | {fmt(r.get('first_s'))} | {fmt(r.get('warm_s'))} | {ratio} | "
                     f"{r.get('loglik', r.get('error', ''))} | {diff} | {fmt(r.get('peak_rss_mb'))} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "REPEATS"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_report(lambda: _worker(args.worker[0], int(args.worker[1])))
    rows = run_cases(args.cases.split(","), args.engines.split(","), load,
                     lambda engine, case, csv, cache: run_one(engine, case, args.repeats, csv, cache, args.timeout))
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
