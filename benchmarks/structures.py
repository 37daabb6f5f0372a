"""Residual structures (nlme's ``correlation=`` and ``weights=``), side by side with nlme's ``lme``.

``python -m benchmarks.structures [--repeats 5] [--warm-budget 60] [--cases ...] [--engines ...]`` runs every
(engine, case) in its own fresh process (``--worker``; nlme through ``adapters/structures.R``), one after the other,
prints one JSON line per run and a markdown table, and then (unless ``--no-profile``) breaks the large AR(1)
fit down in one more fresh process.

Cases (all REML):

* ``ovary_ar1``: ``lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), Ovary, random = ~1|Mare, correlation =
  corAR1())`` (308 rows).
* ``orthodont_varident``: ``lme(distance ~ age + Sex, Orthodont, random = ~1|Subject, weights = varIdent(form =
  ~1|Sex))`` (108 rows).
* ``bodyweight_car1``: ``lme(weight ~ Time * Diet, BodyWeight, random = ~ Time | Rat, correlation = corCAR1(form =
  ~ Time | Rat))`` (176 rows, ``tests/reference/data/BodyWeight.csv``).
* ``sim_ar1``: ``mixjax.lmm("y ~ x + (1 | g)", data, correlation=mixjax.corAR1(form="~ t | g"))`` on 100,000
  groups of 10 rows, ``y = 1 + 0.5 x + u_g + e``, ``u ~ N(0, 1)``, ``e`` AR(1) within groups with ``phi = 0.6`` and
  marginal SD 1 (``simulate``, seed ``SEED``). ``sim_id``: the same data with identity residuals,
  ``mixjax.lmm("y ~ x + (1 | g)", data)``. The goal: ``sim_ar1`` within 2x ``sim_id``.
* ``sim_ar1_sub10`` / ``sim_id_sub10``: the first 10,000 groups of the same simulation (100,000 rows), where nlme
  is timed with repeats (an nlme AR(1) fit grows linearly in the rows: about 5 s here, about 50 s on all of them,
  where nlme is timed by one fit, ``FULL``; ``--no-nlme-full`` skips those).

Engines: ``mixjax`` (with mixjax's persistent compilation cache, in a folder of this run's own,
``MIXJAX_CACHE_DIR``, filled by one untimed fit of the same case in another fresh process just before: a user's
second session), ``mixjax-nocache`` (``MIXJAX_NO_CACHE=1``: every program compiled from nothing, a user's very first
fit; first fit only), ``nlme`` (R). **first**: the first fit in a fresh process,
imports and data loading excluded (for mixjax: tracing and compiling included; ``jax compile (s)``: the tracing,
lowering and XLA compile times that JAX logs during that fit, ``jax_log_compiles``). **warm**: median of the
repeated fits of the same data in that process (formula to log-likelihood). Peak RSS: the whole process
(``getrusage``, R: ``VmHWM``), data included.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import RESULT_MARK, ROOT, peak_rss_mb, rss_mb, run_marked

R_SCRIPT = Path(__file__).with_name("adapters") / "structures.R"
BODYWEIGHT_CSV = ROOT / "tests" / "reference" / "data" / "BodyWeight.csv"
SEED = 20261126
GROUPS, PER_GROUP, PHI = 100_000, 10, 0.6
SIN_COS = "I(np.sin(2 * np.pi * Time)) + I(np.cos(2 * np.pi * Time))"

# name -> (data, description); the data: a mixjax dataset name, "BodyWeight" (the CSV) or ("sim", groups)
CASES = {
    "ovary_ar1": ("Ovary", "Ovary, lme + corAR1()"),
    "orthodont_varident": ("Orthodont", "Orthodont, lme + varIdent(~1|Sex)"),
    "bodyweight_car1": ("BodyWeight", "BodyWeight, lme (~Time|Rat) + corCAR1(~Time|Rat)"),
    "sim_id": (("sim", GROUPS), "1e6 rows, 1e5 groups, identity residuals"),
    "sim_ar1": (("sim", GROUPS), "1e6 rows, 1e5 groups, corAR1(~t|g)"),
    "sim_id_sub10": (("sim", GROUPS // 10), "1e5 rows (first 1e4 groups), identity residuals"),
    "sim_ar1_sub10": (("sim", GROUPS // 10), "1e5 rows (first 1e4 groups), corAR1(~t|g)"),
}
ENGINES = ("mixjax", "mixjax-nocache", "nlme")
FULL = ("sim_id", "sim_ar1")  # nlme fits these once, without warm repeats (--no-nlme-full skips them)
# which engines run where by default (nlme on the full simulation: one fit, see --nlme-full)
DEFAULT_ENGINES = {
    "ovary_ar1": ENGINES, "orthodont_varident": ENGINES, "bodyweight_car1": ENGINES,
    "sim_id": ENGINES, "sim_ar1": ENGINES,
    "sim_id_sub10": ("mixjax", "nlme"), "sim_ar1_sub10": ("mixjax", "nlme"),
}


# ------------------------------------------------------------------------------------------------ data and models
def simulate(groups: int = GROUPS):
    """The first ``groups`` groups of the simulation of ``GROUPS`` groups of ``PER_GROUP`` rows (same draws)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((GROUPS, PER_GROUP))
    u = rng.standard_normal(GROUPS)
    z = rng.standard_normal((GROUPS, PER_GROUP))
    e = np.empty_like(z)
    e[:, 0] = z[:, 0]
    for j in range(1, PER_GROUP):  # stationary AR(1), marginal SD 1
        e[:, j] = PHI * e[:, j - 1] + np.sqrt(1 - PHI**2) * z[:, j]
    x, u, e = x[:groups], u[:groups], e[:groups]
    y = 1.0 + 0.5 * x + u[:, None] + e
    g = np.repeat(np.arange(groups), PER_GROUP)
    return pd.DataFrame({"y": y.ravel(), "x": x.ravel(), "g": pd.Categorical(g),
                         "t": np.tile(np.arange(1.0, PER_GROUP + 1), groups)})


def load(case: str):
    import pandas as pd

    import mixjax

    spec = CASES[case][0]
    if isinstance(spec, tuple):
        return simulate(spec[1])
    if spec == "BodyWeight":
        bw = pd.read_csv(BODYWEIGHT_CSV)
        return bw.assign(Rat=bw.Rat.astype(str).astype("category"), Diet=bw.Diet.astype(str).astype("category"))
    return mixjax.datasets.load(spec)


def mixjax_call(case: str):
    """The mixjax fit of ``case`` as a function of the data."""
    import mixjax
    from mixjax import corAR1, corCAR1, lme, varIdent

    base = case.replace("_sub10", "")
    return {
        "ovary_ar1": lambda d: lme(f"follicles ~ {SIN_COS}", d, random="~ 1 | Mare", correlation=corAR1()),
        "orthodont_varident": lambda d: lme("distance ~ age + Sex", d, random="~ 1 | Subject",
                                            weights=varIdent(form="~ 1 | Sex")),
        "bodyweight_car1": lambda d: lme("weight ~ Time * Diet", d, random="~ Time | Rat",
                                         correlation=corCAR1(form="~ Time | Rat")),
        "sim_ar1": lambda d: mixjax.lmm("y ~ x + (1 | g)", d, correlation=corAR1(form="~ t | g")),
        "sim_id": lambda d: mixjax.lmm("y ~ x + (1 | g)", d),
    }[base]


# ------------------------------------------------------------------------------------------------ worker side
class _CompileLog(logging.Handler):
    """Sums the tracing, lowering and XLA compile seconds that JAX logs (``jax_log_compiles``)."""

    PATTERN = re.compile(r"Finished (tracing|jaxpr to MLIR module conversion|XLA compilation) .*? in ([0-9.]+) sec")

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.seconds, self.programs, self.cache_hits = {}, 0, 0

    def emit(self, record):
        msg = record.getMessage()
        m = self.PATTERN.search(msg)
        if m:
            kind = {"tracing": "trace", "XLA compilation": "compile"}.get(m.group(1), "lower")
            self.seconds[kind] = self.seconds.get(kind, 0.0) + float(m.group(2))
            self.programs += kind == "compile"
        elif "cache hit" in msg.lower():
            self.cache_hits += 1


def _extra(fit) -> dict:
    out = {}
    if getattr(fit, "residual", None) is not None:
        res = fit.residual
        if res.correlation is not None:
            out["correlation"] = {k: v for k, v in fit.correlation.items() if k not in ("class", "unconstrained")}
        if res.variance is not None:
            out["variance"] = {k: v for k, v in fit.variance_function.items()
                               if not k.startswith("class") and isinstance(v, float)}
    solution = getattr(fit, "solution", None)
    if solution is not None and hasattr(solution, "iterations"):
        out["iterations"] = int(solution.iterations)
    out["fixef"] = {str(k): float(v) for k, v in fit.fixef.items()}
    out["sigma"] = float(fit.sigma)
    return json.loads(json.dumps(out, default=float))


def _worker(engine: str, case: str, repeats: int, budget: float) -> dict:
    import jax

    log = _CompileLog()
    jax_logger = logging.getLogger("jax")
    jax_logger.addHandler(log)
    jax_logger.propagate = False
    import mixjax

    data = load(case)
    call = mixjax_call(case)
    out: dict = {"mixjax_file": mixjax.__file__, "nobs": len(data), "rss_before_fit_mb": rss_mb()}
    jax.config.update("jax_log_compiles", True)
    t = time.perf_counter()
    fit = call(data)
    loglik = float(fit.loglik)
    out["first_s"] = time.perf_counter() - t
    jax.config.update("jax_log_compiles", False)
    out["jax_compile_s"] = sum(log.seconds.values())
    out["jax_compile_parts_s"] = log.seconds
    out["jax_programs_compiled"] = log.programs
    out["jax_cache_hits"] = log.cache_hits
    warm, start = [], time.perf_counter()
    while len(warm) < repeats and (not warm or time.perf_counter() - start < budget):
        t = time.perf_counter()
        float(call(data).loglik)
        warm.append(time.perf_counter() - t)
    out.update(warm_s=statistics.median(warm) if warm else None, warm_all_s=warm, n_warm=len(warm), loglik=loglik,
               peak_rss_mb=peak_rss_mb(), **_extra(fit))
    return out


# ------------------------------------------------------------------------------------------------ profile
def _profile_worker(repeats: int) -> dict:
    """Where the warm AR(1) fit of ``sim_ar1`` spends its time."""
    import jax
    import numpy as np

    from mixjax.objectives import lmm_residual as LR
    from mixjax.objectives.lmm_lags import host_lag_stats, lag_classes

    def timed(fn, k=repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        first = time.perf_counter() - t
        ts = []
        for _ in range(k):
            t = time.perf_counter()
            jax.block_until_ready(fn())
            ts.append(time.perf_counter() - t)
        return {"first_s": first, "median_s": statistics.median(ts)}

    out: dict = {}
    data = load("sim_ar1")
    call, call_id = mixjax_call("sim_ar1"), mixjax_call("sim_id")
    fit, _ = call(data), call_id(data)  # compiles (not timed here: see the table)
    out["warm_fit"] = timed(lambda: call(data).loglik, k=3)
    out["warm_fit_identity"] = timed(lambda: call_id(data).loglik, k=3)
    obj, sol = fit.residual.objective, fit.residual.solution
    spec, x = obj.spec, np.asarray(sol.x)
    out["lag_statistics_path"] = bool(spec.lags)
    out["newton_iterations"] = int(sol.iterations)
    out["minimize"] = timed(lambda: obj.minimize(obj.start).fun, k=3)
    gaps, klass = lag_classes(np.asarray(obj.data.arrays.gap))
    out["lag_statistics_host"] = timed(lambda: host_lag_stats(obj.data.rows, np.asarray(obj.data.arrays.prev), klass,
                                                              gaps, spec.l1).counts, k=3)
    data_on_device = jax.device_put(obj.data)
    out["deviance"] = timed(lambda: LR.deviance(x, data_on_device, spec))
    out["value_grad_hess"] = timed(lambda: LR.value_grad_hess(x, data_on_device, spec))
    rows_path = spec._replace(lags=False)
    out["deviance_whitening_the_rows"] = timed(lambda: LR.deviance(x, data_on_device, rows_path))
    out["value_grad_hess_whitening_the_rows"] = timed(lambda: LR.value_grad_hess(x, data_on_device, rows_path))
    return out


# ------------------------------------------------------------------------------------------------ parent side


def run_one(engine: str, case: str, args, csvs: dict, cache_dir: Path) -> dict:
    repeats = args.repeats
    if engine == "nlme":
        if shutil.which("Rscript") is None:
            return {"skipped": "Rscript not found"}
        if case in FULL:
            repeats = 0  # one fit (AR(1): about 50 s on the 2-core machine)
        return run_marked(["Rscript", str(R_SCRIPT), str(csvs[case]), case, str(repeats), str(args.warm_budget)],
                    args.timeout)
    env = dict(os.environ)
    env.pop("MIXJAX_NO_CACHE", None)
    env["MIXJAX_CACHE_DIR"] = str(cache_dir)
    if engine == "mixjax-nocache":
        env["MIXJAX_NO_CACHE"] = "1"
        repeats = 0
    cmd = [sys.executable, "-m", "benchmarks.structures", "--worker", engine, case]
    prime = {}
    if engine == "mixjax":  # one untimed fit in another fresh process fills this run's own cache first
        primed = run_marked(cmd + ["0", "0"], args.timeout, env=env)
        prime = {"prime_first_s": primed.get("first_s"), "prime_error": primed.get("error")}
    return {**run_marked(cmd + [str(repeats), str(args.warm_budget)], args.timeout, env=env), **prime}


def _fmt(x, digits=3):
    if x is None:
        return ""
    return f"{x:.{digits}g}"


def table(rows: list[dict]) -> str:
    head = ("| case | engine | first (s) | jax compile in first (s) | warm median (s) | n warm | mixjax/nlme first "
            "| mixjax/nlme warm | loglik | loglik - nlme | peak RSS (MB) | note |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    lines = [head]
    by = {(r["case"], r["engine"]): r for r in rows}
    for r in rows:
        nl = by.get((r["case"], "nlme"), {})
        mine = r["engine"].startswith("mixjax")
        rf = r["first_s"] / nl["first_s"] if mine and r.get("first_s") and nl.get("first_s") else None
        nl_warm = nl.get("warm_s") or (nl.get("first_s") if r["case"] in FULL else None)
        rw = r["warm_s"] / nl_warm if mine and r.get("warm_s") and nl_warm else None
        dl = r["loglik"] - nl["loglik"] if mine and r.get("loglik") is not None and nl.get("loglik") is not None \
            else None
        note = r.get("error") or r.get("skipped") or ""
        if r["engine"] == "nlme" and r["case"] in FULL and r.get("first_s"):
            note = "one fit (no warm repeats); mixjax/nlme warm uses it"
        if r.get("correlation"):
            note = (note + "; " if note else "") + ", ".join(f"{k} {v:.4g}" for k, v in r["correlation"].items())
        if r.get("warnings"):
            note = (note + "; " if note else "") + f"warns: {str(r['warnings'])[:120]}"
        ll = "" if r.get("loglik") is None else f"{r['loglik']:.4f}"
        lines.append(f"| {r['case']} | {r['engine']} | {_fmt(r.get('first_s'))} | {_fmt(r.get('jax_compile_s'))} | "
                     f"{_fmt(r.get('warm_s'))} | {r.get('n_warm', '')} | {_fmt(rf)} | {_fmt(rw)} | {ll} | "
                     f"{'' if dl is None else f'{dl:.2e}'} | {_fmt(r.get('peak_rss_mb'), 4)} | {note} |")
    return "\n".join(lines)


def goal(rows: list[dict]) -> str:
    """AR(1) against identity residuals on the same data, per engine and size."""
    by = {(r["case"], r["engine"]): r for r in rows}
    out = ["| data | engine | AR(1) / identity first | AR(1) / identity warm | AR(1) / identity peak RSS |",
           "| --- | --- | --- | --- | --- |"]
    for size, ar, ident in (("1e6 rows", "sim_ar1", "sim_id"), ("1e5 rows", "sim_ar1_sub10", "sim_id_sub10")):
        for eng in ENGINES:
            a, i = by.get((ar, eng), {}), by.get((ident, eng), {})
            if not (a.get("first_s") and i.get("first_s")):
                continue
            q = {k: a[k] / i[k] if a.get(k) and i.get(k) else None for k in ("first_s", "warm_s", "peak_rss_mb")}
            out.append(f"| {size} | {eng} | {_fmt(q['first_s'])} | {_fmt(q['warm_s'])} | {_fmt(q['peak_rss_mb'])} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warm-budget", type=float, default=60.0, help="seconds of warm repeats per run (>= 1 repeat)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per fresh process")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--no-nlme-full", action="store_true", help="skip nlme's single fits of sim_id and sim_ar1 (about 60 s)")
    ap.add_argument("--no-profile", action="store_true", help="skip the breakdown of the sim_ar1 fit")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--worker", nargs=4, metavar=("ENGINE", "CASE", "REPEATS", "BUDGET"))
    ap.add_argument("--profile-worker", type=int, metavar="REPEATS")
    args = ap.parse_args(argv)
    if args.worker or args.profile_worker is not None:
        try:
            if args.worker:
                engine, case, repeats, budget = args.worker
                res = _worker(engine, case, int(repeats), float(budget))
            else:
                res = _profile_worker(args.profile_worker)
        except Exception as e:  # noqa: BLE001 (report, never crash the runner)
            import traceback

            res = {"error": f"{type(e).__name__}: {e}"[:600], "traceback": traceback.format_exc()[-2000:]}
        print(RESULT_MARK + json.dumps(res), flush=True)
        return res

    import mixjax

    started = time.perf_counter()
    print(f"mixjax {mixjax.__version__} from {mixjax.__file__}; {os.cpu_count()} CPUs; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}", flush=True)
    engines = args.engines.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        csvs = {}
        for case in args.cases.split(","):
            if "nlme" in engines and "nlme" in DEFAULT_ENGINES[case] and not (case in FULL and args.no_nlme_full):
                csvs[case] = Path(tmp) / f"{case}.csv"
                load(case).to_csv(csvs[case], index=False)
        for case in args.cases.split(","):
            for engine in (e for e in DEFAULT_ENGINES[case] if e in engines):
                if engine == "nlme" and case in FULL and args.no_nlme_full:
                    continue
                r = {"case": case, "engine": engine, **run_one(engine, case, args, csvs, Path(tmp) / "mixjax-cache")}
                rows.append(r)
                print(json.dumps(r), flush=True)
    print()
    print(table(rows))
    print()
    print(goal(rows))
    profile = None
    if not args.no_profile and "sim_ar1" in args.cases.split(","):
        profile = run_marked([sys.executable, "-m", "benchmarks.structures", "--profile-worker", str(args.repeats)],
                       args.timeout)
        print()
        print("profile of sim_ar1 (seconds):", json.dumps(profile, indent=1))
    print(f"\ntotal {time.perf_counter() - started:.0f} s; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "profile": profile}, indent=1))
    return rows


if __name__ == "__main__":
    main()
