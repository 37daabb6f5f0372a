"""Inference after the fit, side by side: Satterthwaite and Kenward-Roger tables, type III F tests, profile intervals.

``python -m benchmarks.inference [--repeats 5] [--warm-budget 60] [--cases ...] [--engines ...]`` runs every
(engine, case, task) in its own fresh process (``--worker``; R through ``adapters/inference.R``), one after the
other, and prints one JSON line per run, a markdown table and the agreement of the numbers between programs.

Tasks, each after a REML fit that is not part of the task's time:

* ``satterthwaite`` / ``kenward-roger``: the coefficient table with degrees of freedom (mixjax
  ``fit.coef_table(ddf=...)``; lmerTest ``summary(m, ddf=...)``; pbkrtest ``vcovAdj`` + ``Lb_ddf``; lme-python
  ``fit.with_satterthwaite(data)`` / ``fit.with_kenward_roger(data)``; mixedlm ``fit.summary(ddf_method=...)``).
* ``anova-satterthwaite`` / ``anova-kenward-roger``: type III F tests (mixjax ``fit.anova(ddf=...)``; lmerTest
  ``anova(m, ddf=...)``; pbkrtest ``KRmodcomp`` per term; lme-python ``with_...`` + ``fit.anova(ddf_method=...)``;
  mixedlm ``mixedlm.anova_type3(fit, ddf_method=...)``).
* ``profile``: profile-likelihood intervals (mixjax ``fit.confint()``; lme4 ``confint(m, method="profile")``;
  lme-python ``fit.confint(method="profile", data=data, which="all")``; mixedlm ``fit.confint(method="profile")``,
  fixed effects only).

**first**: the first call in a fresh process, on the fit made there (for mixjax: tracing and compiling the
inference programs plus the work; the fit's own programs are compiled by then). **warm**: median over new fit
objects of the same model (mixjax caches the pieces per fit, ``fit._satterthwaite``, ``fit._kenward_roger``,
``fit._profile``, and reuses compiled programs across fits of the same shapes; mixedlm caches per fit object; the
fits are not timed). The engine ``mixjax-nocache`` is mixjax with ``MIXJAX_NO_CACHE=1`` (no persistent
compilation cache, no exported programs): its first call is the compile from nothing. lmerTest's Satterthwaite
time includes ``as_lmerModLmerTest(m)`` (what ``lmerTest::lmer`` adds to lme4's fit: its numerical Hessian and
Jacobian); its Kenward-Roger time does not (``convert_s`` in the JSON). InstEval's R and Python peers run under an
address-space limit (``--mem-limit-gb``) and, for Kenward-Roger, ``--kr-timeout`` seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import RESULT_MARK, run_marked

R_SCRIPT = Path(__file__).with_name("adapters") / "inference.R"

# name -> (dataset, formula, factor columns for R, tasks)
DDF_TASKS = ("satterthwaite", "kenward-roger", "anova-satterthwaite", "anova-kenward-roger")
CASES = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "Subject", DDF_TASKS + ("profile",)),
    "machines": ("Machines", "score ~ Machine + (1 | Worker/Machine)", "Worker,Machine", DDF_TASKS),
    # the InstEval model of benchmarks/cases.py, here by REML (Kenward-Roger is defined for REML fits)
    "insteval": ("InstEval", "y ~ 1 + service + (1 | s) + (1 | d) + (1 | dept:service)", "s,d,dept,service",
                 DDF_TASKS),
    "penicillin": ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", "plate,sample", ("profile",)),
}
# engines per task; R engines run through Rscript
ENGINES = {
    "satterthwaite": ("mixjax", "mixjax-nocache", "lmerTest", "lme-python", "mixedlm"),
    "kenward-roger": ("mixjax", "mixjax-nocache", "lmerTest", "pbkrtest", "lme-python", "mixedlm"),
    "anova-satterthwaite": ("mixjax", "mixjax-nocache", "lmerTest", "lme-python", "mixedlm"),
    "anova-kenward-roger": ("mixjax", "mixjax-nocache", "lmerTest", "pbkrtest", "lme-python", "mixedlm"),
    "profile": ("mixjax", "mixjax-nocache", "lme4", "lme-python", "mixedlm"),
}
R_ENGINES = ("lmerTest", "pbkrtest", "lme4")
LMEPYTHON_INSTEVAL = ("lme-python's REML fit of InstEval had not finished after 900 s (killed) in a probe on the "
                      "2-core machine, 2026-11-26; --lmepython-insteval tries it")
# mixjax's names of the variance parameters in the order of lme4's .sig01, .sig02, ...
LME4_SIG_ORDER = {
    "sleepstudy": ["Subject: sd(Intercept)", "Subject: cor(Intercept, Days)", "Subject: sd(Days)"],
    "penicillin": ["plate: sd(Intercept)", "sample: sd(Intercept)"],
}


# ------------------------------------------------------------------------------------------------ worker side
def _named(index, values) -> dict:
    return {str(k): float(v) for k, v in zip(index, values)}


def _mixjax_task(task: str):
    def coef(t):
        return {"df": _named(t.index, t["df"]), "se": _named(t.index, t["se"])}

    def anova(t):
        return {"den_df": _named(t.index, t["den_df"]), "F": _named(t.index, t["F"])}

    def ci(t):
        return {"lower": _named(t.index, t["lower"]), "upper": _named(t.index, t["upper"])}

    return {
        "satterthwaite": lambda f, d: coef(f.coef_table(ddf="satterthwaite")),
        "kenward-roger": lambda f, d: coef(f.coef_table(ddf="kenward-roger")),
        "anova-satterthwaite": lambda f, d: anova(f.anova(ddf="satterthwaite")),
        "anova-kenward-roger": lambda f, d: anova(f.anova(ddf="kenward-roger")),
        "profile": lambda f, d: ci(f.confint()),
    }[task]


def _lmepython_task(task: str):
    def coef(f, df):
        names = f.fixed_names
        return {"df": _named(names, df), "se": _named(names, f.std_errors)}

    def anova(a):
        return {"den_df": _named(a.terms, a.den_df), "F": _named(a.terms, a.f_value)}

    def satt(f, d):
        f.with_satterthwaite(d)
        return f

    def kr(f, d):
        f.with_kenward_roger(d)
        return f

    def profile(f, d):
        c = f.confint(method="profile", data=d, which="all")
        return {"lower": _named(c.names, c.lower), "upper": _named(c.names, c.upper)}

    return {
        "satterthwaite": lambda f, d: coef(satt(f, d), f.satterthwaite_dfs),
        "kenward-roger": lambda f, d: coef(kr(f, d), f.kenward_roger_dfs),
        "anova-satterthwaite": lambda f, d: anova(satt(f, d).anova(ddf_method="satterthwaite", anova_type="III")),
        "anova-kenward-roger": lambda f, d: anova(kr(f, d).anova(ddf_method="kenward-roger", anova_type="III")),
        "profile": profile,
    }[task]


def _mixedlm_task(task: str):
    import mixedlm

    def coef(f, method):
        f.summary(ddf_method=method)  # the user-facing table (a string); the df below come from its cache
        r = (mixedlm.satterthwaite_df if method == "Satterthwaite" else mixedlm.kenward_roger_df)(f)
        return {"df": _named(r.param_names, r.df), "se": _named(r.param_names, f.vcov().diagonal() ** 0.5)}

    def anova(f, method):
        a = mixedlm.anova_type3(f, ddf_method=method)
        return {"den_df": _named(a.terms, a.den_df), "F": _named(a.terms, a.f_value)}

    def profile(f, d):
        ci = f.confint(method="profile")
        return {"lower": {k: float(v[0]) for k, v in ci.items()}, "upper": {k: float(v[1]) for k, v in ci.items()}}

    return {
        "satterthwaite": lambda f, d: coef(f, "Satterthwaite"),
        "kenward-roger": lambda f, d: coef(f, "Kenward-Roger"),
        "anova-satterthwaite": lambda f, d: anova(f, "Satterthwaite"),
        "anova-kenward-roger": lambda f, d: anova(f, "Kenward-Roger"),
        "profile": profile,
    }[task]


def _worker(engine: str, case: str, task: str, repeats: int, budget: float) -> dict:
    import mixjax

    dataset, formula, _, _ = CASES[case]
    data = mixjax.datasets.load(dataset)
    out: dict = {}
    if engine.startswith("mixjax"):
        out["mixjax_file"] = mixjax.__file__
        make = lambda: mixjax.lmm(formula, data, reml=True)
        call = _mixjax_task(task)
    elif engine == "lme-python":
        import lme_python

        make = lambda: lme_python.lmer(formula, data, reml=True)
        call = _lmepython_task(task)
    elif engine == "mixedlm":
        import mixedlm

        make = lambda: mixedlm.lmer(formula, data, REML=True)
        call = _mixedlm_task(task)
    else:
        raise ValueError(f"unknown engine {engine!r}")
    t = time.perf_counter()
    fit = make()
    out["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    values = call(fit, data)
    out["first_s"] = time.perf_counter() - t
    warm, start = [], time.perf_counter()
    while len(warm) < repeats and (not warm or time.perf_counter() - start < budget):
        fit = make()  # a new fit object: nothing cached from the call before
        t = time.perf_counter()
        call(fit, data)
        warm.append(time.perf_counter() - t)
    out.update(warm_s=statistics.median(warm) if warm else None, n_warm=len(warm), **values)
    return out


# ------------------------------------------------------------------------------------------------ parent side


def run_one(engine, case, task, args, csv: Path) -> dict:
    _, formula, factors, _ = CASES[case]
    big = case == "insteval"
    kr = "kenward" in task
    timeout = args.kr_timeout if (big and kr and not engine.startswith("mixjax")) else args.timeout
    mem = args.mem_limit_gb if (big and not engine.startswith("mixjax")) else None
    repeats = 1 if engine == "mixjax-nocache" else args.repeats
    if big and engine == "lme-python" and not args.lmepython_insteval:
        return {"skipped": LMEPYTHON_INSTEVAL}
    if engine in R_ENGINES:
        if shutil.which("Rscript") is None:
            return {"skipped": "Rscript not found"}
        cmd = ["Rscript", str(R_SCRIPT), str(csv), formula, factors, engine, task, str(repeats),
               str(args.warm_budget)]
        return run_marked(cmd, timeout, mem_gb=mem)
    env = dict(os.environ)
    env.pop("MIXJAX_NO_CACHE", None)
    if engine == "mixjax-nocache":
        env["MIXJAX_NO_CACHE"] = "1"
    cmd = [sys.executable, "-m", "benchmarks.inference", "--worker", engine, case, task, str(repeats),
           str(args.warm_budget)]
    return run_marked(cmd, timeout, env=env, mem_gb=mem)


def _fmt(x, digits=3):
    if x is None:
        return ""
    return f"{x:.{digits}g}"


def table(rows: list[dict]) -> str:
    head = ("| case | task | engine | first (s) | warm median (s) | n warm | mixjax/peer first | mixjax/peer warm "
            "| note |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    lines = [head]
    mj = {(r["case"], r["task"]): r for r in rows if r["engine"] == "mixjax" and r.get("warm_s")}
    for r in rows:
        m = mj.get((r["case"], r["task"]))
        peer = not r["engine"].startswith("mixjax")
        rf = m["first_s"] / r["first_s"] if peer and m and r.get("first_s") else None
        rw = m["warm_s"] / r["warm_s"] if peer and m and r.get("warm_s") else None
        note = r.get("error") or r.get("skipped") or ""
        if _fell_back(r):
            note = "pbkrtest failed; lmerTest warns and gives Satterthwaite's df and SEs instead"
        if r.get("convert_s") is not None and r["engine"] == "lmerTest":
            note = (note + "; " if note else "") + f"as_lmerModLmerTest {r['convert_s']:.3g} s" + (
                " (in the time)" if r["task"] in ("satterthwaite", "anova-satterthwaite") else " (not in the time)")
        lines.append(f"| {r['case']} | {r['task']} | {r['engine']} | {_fmt(r.get('first_s'))} | "
                     f"{_fmt(r.get('warm_s'))} | {r.get('n_warm', '')} | {_fmt(rf)} | {_fmt(rw)} | {note} |")
    return "\n".join(lines)


def _by_position(d: dict | None) -> list[float]:
    return list(d.values()) if d else []


def agreement(rows: list[dict]) -> list[dict]:
    """Largest relative difference from the R reference (pbkrtest for Kenward-Roger, lmerTest for Satterthwaite,
    lme4 for profile intervals) of each engine's numbers, coefficients matched by position."""
    out = []
    for (case, task) in {(r["case"], r["task"]) for r in rows}:
        group = {r["engine"]: r for r in rows if r["case"] == case and r["task"] == task}
        ref_name = {"kenward-roger": "pbkrtest", "anova-kenward-roger": "pbkrtest", "profile": "lme4"}.get(
            task, "lmerTest")
        ref = group.get(ref_name)
        if not ref or ref.get("error") or (ref.get("df") is None and ref.get("den_df") is None
                                           and ref.get("lower") is None):
            ref_name, ref = "lmerTest", group.get("lmerTest")
        if not ref or ref.get("error") or _fell_back(ref):
            continue
        for eng, r in group.items():
            if eng == ref_name or r.get("error") or r.get("skipped"):
                continue
            row = {"case": case, "task": task, "engine": eng, "reference": ref_name}
            if task == "profile":
                row.update(_profile_diff(case, eng, r, ref))
            else:
                for key in ("df", "se", "den_df", "F"):
                    a, b = _by_position(r.get(key)), _by_position(ref.get(key))
                    if a and b and len(a) == len(b):
                        row[f"max_rel_{key}"] = max(abs(x - y) / abs(y) for x, y in zip(a, b))
                    elif a or b:
                        row[f"{key}_shape"] = f"{len(a)} values against {len(b)}"
                row["values"] = {k: r[k] for k in ("df", "den_df") if r.get(k)}
            out.append(row)
    return sorted(out, key=lambda r: (r["case"], r["task"], r["engine"]))


def _fell_back(r: dict) -> bool:
    """lmerTest answers a Kenward-Roger request with Satterthwaite's numbers when pbkrtest fails (a warning)."""
    return "Satterthwaite instead" in (r.get("warnings") or "")


def _profile_diff(case, eng, r, ref) -> dict:
    """Each end's difference from lme4's, as a fraction of lme4's interval width: fixed effects by position, the
    residual SD, and (mixjax) the SDs and correlations by name."""
    lo, up = ref["lower"], ref["upper"]
    fixed_ref = [k for k in lo if not k.startswith(".")]
    if eng.startswith("mixjax"):
        names = list(r["lower"])
        p = len(fixed_ref)
        pairs = list(zip(names[:p], fixed_ref)) + [("Residual: sd", ".sigma")]
        pairs += [(n, f".sig{i + 1:02d}") for i, n in enumerate(LME4_SIG_ORDER.get(case, []))]
    elif eng == "lme-python":  # its .sigNN intervals are on its own theta scale: compare .sigma and fixed effects
        fixed = [k for k in r["lower"] if not k.startswith(".")]
        pairs = list(zip(fixed, fixed_ref)) + [(".sigma", ".sigma")]
    else:  # mixedlm: fixed effects only
        pairs = list(zip(r["lower"], fixed_ref))
    diffs = {}
    for mine, theirs in pairs:
        if mine not in r["lower"] or theirs not in lo:
            continue
        w = up[theirs] - lo[theirs]
        diffs[theirs] = max(abs(r["lower"][mine] - lo[theirs]), abs(r["upper"][mine] - up[theirs])) / w
    worst = max(diffs, key=diffs.get) if diffs else None
    return {"max_rel_to_width": diffs.get(worst), "worst": worst, "compared": sorted(diffs)}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warm-budget", type=float, default=60.0, help="seconds of warm repeats per run (>= 1 repeat)")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per fresh process")
    ap.add_argument("--kr-timeout", type=float, default=360.0,
                    help="seconds per process for the peers' Kenward-Roger on InstEval (the REML fit included)")
    ap.add_argument("--mem-limit-gb", type=float, default=10.0,
                    help="address-space limit of the peers' processes on InstEval")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--tasks", default=",".join(ENGINES))
    ap.add_argument("--engines", default="mixjax,mixjax-nocache,lmerTest,pbkrtest,lme4,lme-python,mixedlm")
    ap.add_argument("--lmepython-insteval", action="store_true", help="run lme-python on InstEval too")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--worker", nargs=5, metavar=("ENGINE", "CASE", "TASK", "REPEATS", "BUDGET"))
    args = ap.parse_args(argv)
    if args.worker:
        engine, case, task, repeats, budget = args.worker
        try:
            res = _worker(engine, case, task, int(repeats), float(budget))
        except Exception as e:  # noqa: BLE001 (report, never crash the runner)
            res = {"error": f"{type(e).__name__}: {e}"[:600]}
        print(RESULT_MARK + json.dumps(res), flush=True)
        return res

    import mixjax

    print(f"mixjax {mixjax.__version__} from {mixjax.__file__}; {os.cpu_count()} CPUs; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}", flush=True)
    engines = args.engines.split(",")
    tasks = args.tasks.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            dataset, _, _, case_tasks = CASES[case]
            csv = Path(tmp) / f"{case}.csv"
            mixjax.datasets.load(dataset).to_csv(csv, index=False)
            for task in (t for t in case_tasks if t in tasks):
                for engine in (e for e in ENGINES[task] if e in engines):
                    r = {"case": case, "task": task, "engine": engine, **run_one(engine, case, task, args, csv)}
                    rows.append(r)
                    print(json.dumps(r), flush=True)
    print()
    print(table(rows))
    print()
    for a in agreement(rows):
        print(json.dumps(a))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "agreement": agreement(rows)}, indent=1))
    return rows


if __name__ == "__main__":
    main()
