"""Batches of fits, side by side: parametric bootstrap and many responses (issue 11's speed goals).

``python -m benchmarks.batch [--nsim 1000] [--skip-r] [--skip-peers]``: each block runs in this process after a
first (compiling) call; warm times are the median of ``--repeats`` calls. Peers: lme4's ``bootMer`` through
``adapters/lme4_boot.R`` (serial), lme-python's ``boot_lmer`` (Rust, all cores; it conditions on the fitted random
effects, lme4's ``use.u = TRUE``) and mixedlm's ``bootMer`` (``peers_batch.py``). Prints JSON lines and a table.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import jax

import mixjax
from benchmarks import peers_batch
from benchmarks.harness import RESULT_MARK

R_BOOT = Path(__file__).with_name("adapters") / "lme4_boot.R"


def _timed(f, repeats):
    t = time.perf_counter()
    f()
    first = time.perf_counter() - t
    warm = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        warm.append(time.perf_counter() - t)
    return first, statistics.median(warm)


def mixjax_rows(nsim: int, repeats: int) -> list[dict]:
    sleep, cbpp = mixjax.datasets.load("sleepstudy"), mixjax.datasets.load("cbpp")
    fit = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    rows = []
    first, warm = _timed(lambda: fit.bootstrap(nsim, seed=1, progress=False), repeats)
    rows.append({"case": "sleepstudy bootstrap", "engine": "mixjax", "n": nsim, "first_s": first, "warm_s": warm})
    Y = fit.simulate(10_000, seed=2)
    first, warm = _timed(lambda: mixjax.lmm_many("~ Days + (Days | Subject)", sleep, Y.T), repeats)
    rows.append({"case": "sleepstudy lmm_many", "engine": "mixjax", "n": 10_000, "first_s": first, "warm_s": warm})
    g = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    first, warm = _timed(lambda: g.bootstrap(nsim, seed=1, progress=False), repeats)
    rows.append({"case": "cbpp bootstrap", "engine": "mixjax", "n": nsim, "first_s": first, "warm_s": warm})
    return rows


def insteval_rows(m: int = 20) -> list[dict]:
    """InstEval (ML): one fit against ``lmm_many`` of ``m`` simulated responses (time per fit)."""
    data = mixjax.datasets.load("InstEval")
    formula = "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)"
    fit = mixjax.lmm(formula, data, reml=False)  # compiles
    t = time.perf_counter()
    mixjax.lmm(formula, data, reml=False)
    single = time.perf_counter() - t  # warm
    Y = fit.simulate(m, seed=1)
    mixjax.lmm_many(formula, data, Y[:2].T, reml=False)  # compiles what the batch adds
    t = time.perf_counter()
    many = mixjax.lmm_many(formula, data, Y.T, reml=False)
    per_fit = (time.perf_counter() - t) / m
    return [{"case": "InstEval single fit (warm)", "engine": "mixjax", "n": 1, "warm_s": single},
            {"case": f"InstEval lmm_many ({m})", "engine": "mixjax", "n": m, "warm_s": per_fit * m,
             "per_fit_over_single": per_fit / single, "converged": int(many.converged.sum())}]


def lme4_row(case: str, nsim: int) -> dict:
    if shutil.which("Rscript") is None:
        return {"case": case, "engine": "lme4", "skipped": "Rscript not found"}
    name, formula, family, factors = (("sleepstudy", "Reaction ~ Days + (Days | Subject)", "", "Subject")
                                      if case.startswith("sleepstudy") else
                                      ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial",
                                       "herd,period"))
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        mixjax.datasets.load(name).to_csv(csv, index=False)
        out = subprocess.run(["Rscript", str(R_BOOT), str(csv), formula, "TRUE", family, str(nsim), factors],
                             capture_output=True, text=True).stdout
    res = json.loads(next(line for line in out.splitlines() if line.startswith(RESULT_MARK))[len(RESULT_MARK):])
    return {"case": case, "engine": "lme4 bootMer", "n": nsim, "warm_s": res.get("boot_s")}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--nsim", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-r", action="store_true")
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--skip-insteval", action="store_true")
    args = ap.parse_args(argv)
    rows = mixjax_rows(args.nsim, args.repeats)
    if not args.skip_peers:
        for name, f in [("sleepstudy bootstrap", peers_batch.lmepython_bootstrap),
                        ("sleepstudy bootstrap", peers_batch.mixedlm_bootstrap),
                        ("cbpp bootstrap", peers_batch.lmepython_glmm_bootstrap),
                        ("cbpp bootstrap", peers_batch.mixedlm_glmm_bootstrap)]:
            r = f(args.nsim)
            rows.append({"case": name, "engine": r.get("engine", f.__name__), "n": args.nsim,
                         "first_s": r.get("first_s"), "warm_s": r.get("warm_s"), "note": r.get("skipped", "")})
    if not args.skip_r:
        rows += [lme4_row("sleepstudy bootstrap", args.nsim), lme4_row("cbpp bootstrap", args.nsim)]
    if not args.skip_insteval:
        rows += insteval_rows()
    print(f"device: {jax.devices()[0].device_kind}")
    for r in rows:
        if r.get("warm_s"):
            r["fits_per_s"] = r["n"] / r["warm_s"]
        print(json.dumps(r))
    return rows


if __name__ == "__main__":
    main()
