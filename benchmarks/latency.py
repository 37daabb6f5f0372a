"""Latency of a session (issue 15): the 17 shared reference models fitted one after another in one fresh process.

``python -m benchmarks.latency [--modes empty,other,same,r] [--json out.json] [--markdown] [--workdir DIR]``

The 17 models are the 11 ``lmm_*`` and 4 ``glmm_*`` references of ``tests/reference``, ``clmm_wine_ologit``
(cumulative logit, 10-point quadrature) and ``cens_sleepstudy_tobit`` (random-intercept tobit), each fitted with
the call its test uses (``tests/test_reference_lmm.py``, ``test_reference_glmm.py``, ``test_censored_survival.py``).
Every mixjax mode is one fresh ``python -m benchmarks.latency --worker fit17`` process that times ``import mixjax``,
the loading of the 17 data frames, and each ``mixjax.lmm`` / ``mixjax.glmm`` call from formula to the
log-likelihood as a float; the process's own wall time (interpreter start and exit included) is recorded beside.

Modes (each with a compilation cache of this run's own, ``MIXJAX_CACHE_DIR`` under ``--workdir``):

- ``empty``: a new, empty cache folder.
- ``other``: the cache first filled by a separate process (``--worker fill``) that fits, with the same calls, two
  *other* data sets per model and never the 17 themselves: for each model, its data with a random 70% of the
  levels of one grouping factor kept (``-70%``), and its data with 40% of that factor's levels added again as new
  levels (``+40%``; a continuous, uncensored response of the copies gets N(0, (0.1 sd(y))^2) noise). So the same
  formula, family, quadrature and covariance structure, on different numbers of rows and levels (and, where a
  factor level of the fixed part vanishes, of fixed-effect columns). Then a fresh process fits the 17.
- ``same``: the cache that ``empty`` left (the same 17 fitted before: a user's second session).
- ``r``: lme4 (``lmer`` / ``glmer``), ordinal (``clmm``) and, for the tobit, a random-intercept tobit likelihood
  written out in R (adaptive Gauss-Hermite quadrature, 15 nodes as mixjax, ``optim`` BFGS: R has no package for it
  here) in one ``Rscript adapters/latency.R`` process, on the same rows (CSV files written from the frames mixjax
  fits), timing ``library()``, the CSV reading and each fit the same way (``proc.time()``).

Every fit's log-likelihood is compared with the reference JSON (``true_marginal_logLik`` for cbpp's 25-point
quadrature, whose lme4 ``logLik`` is on another scale); differences over 1e-4 are flagged.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import RESULT_MARK, ROOT, peak_rss_mb, run_marked

REFERENCE = ROOT / "tests" / "reference"
R_SCRIPT = Path(__file__).with_name("adapters") / "latency.R"
SEED = 20261126
FLAG = 1e-4

# id -> (data, mixjax call keywords, grouping column the fill's data sets vary). ``data``: a bundled data set,
# or a CSV under tests/reference/data.
_LMM = [("lmm_dyestuff", "Batch"), ("lmm_exam_crosslevel", "school"), ("lmm_exam_slope", "school"),
        ("lmm_insteval_crossed_ml", "s"), ("lmm_machines_nested", "Worker"), ("lmm_orthodont", "Subject"),
        ("lmm_pastes_nested", "batch"), ("lmm_penicillin_crossed", "plate"), ("lmm_sleepstudy_ml", "Subject"),
        ("lmm_sleepstudy_reml", "Subject"), ("lmm_sleepstudy_uncorr", "Subject")]
_GLMM = [("glmm_cbpp_agq25", "herd"), ("glmm_cbpp_laplace", "herd"), ("glmm_grouseticks_poisson", "BROOD"),
         ("glmm_verbagg_crossed", "id"), ("clmm_wine_ologit", "judge")]
TOBIT = "cens_sleepstudy_tobit"
TOBIT_FORMULA = "cens(y, upper=400) ~ Days + (1 | Subject)"


def _ref(rid: str) -> dict:
    return json.loads((REFERENCE / f"{rid}.json").read_text())


def models() -> list[dict]:
    """The 17 models: id, dataset, kind ("lmm" / "glmm"), the keywords of the mixjax call, the reference logLik."""
    out = []
    for rid, vary in _LMM:
        ref = _ref(rid)
        out.append(dict(id=rid, dataset=ref["dataset"], kind="lmm", vary=vary, target=ref["logLik"],
                        r_target=ref["logLik"],
                        kwargs=dict(formula=ref["formula"], reml=ref["method"] == "REML")))
    for rid, vary in _GLMM:
        ref = _ref(rid)
        method = ref.get("method", "Laplace")
        out.append(dict(id=rid, dataset=ref["dataset"], kind="glmm", vary=vary,
                        target=ref.get("true_marginal_logLik", ref["logLik"]), r_target=ref["logLik"],
                        kwargs=dict(formula=ref["formula"], family=ref["family"], link=ref.get("link"),
                                    nagq=int(method[3:]) if method.startswith("AGQ") else 1)))
    ref = _ref(TOBIT)
    out.append(dict(id=TOBIT, dataset="sleepstudy_censored.csv", kind="glmm", vary="Subject", target=ref["logLik"],
                    r_target=ref["logLik"],
                    kwargs=dict(formula=TOBIT_FORMULA, family="censored_gaussian", nagq=15)))
    return out


def load_data(dataset: str):
    """The frame a test fits: a bundled data set, or (tobit) the CSV with ``Subject`` as text, as the test reads it."""
    import pandas as pd

    import mixjax

    if dataset.endswith(".csv"):
        return pd.read_csv(REFERENCE / "data" / dataset, dtype={"Subject": str})
    return mixjax.datasets.load(dataset)


def fit(mixjax, model: dict, data):
    kw = dict(model["kwargs"])
    formula = kw.pop("formula")
    return mixjax.lmm(formula, data, **kw) if model["kind"] == "lmm" else mixjax.glmm(formula, data, **kw)


def variants(model: dict, data, seed: int) -> list[tuple[str, object]]:
    """The fill's two other data sets of a model: ``-70%`` (70% of the levels of ``vary`` kept) and ``+40%`` (40%
    of them added again as new levels, a continuous uncensored response jittered)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    g = model["vary"]
    col = data[g].astype(str)
    levels = np.array(sorted(col.unique()))
    keep = rng.choice(levels, size=max(3, round(0.7 * len(levels))), replace=False)
    small = data[col.isin(keep).to_numpy()].copy()
    extra = rng.choice(levels, size=max(2, round(0.4 * len(levels))), replace=False)
    dup = data[col.isin(extra).to_numpy()].copy()
    dup[g] = dup[g].astype(str) + "_copy"
    response = model["kwargs"]["formula"].split("~")[0].strip()
    if response in dup and pd.api.types.is_numeric_dtype(dup[response]) and model["kind"] == "lmm":
        dup[response] = dup[response] + rng.normal(0, 0.1 * float(data[response].std()), len(dup))
    large = pd.concat([data.assign(**{g: data[g].astype(str)}), dup], ignore_index=True)
    out = []
    for label, frame in (("-70%", small), ("+40%", large)):
        frame = frame.reset_index(drop=True)
        # the varied factor as the model's own data has it: text for the tobit's CSV, else a categorical
        frame[g] = frame[g].astype(str) if model["id"] == TOBIT else frame[g].astype(str).astype("category")
        for c in frame.columns:
            if isinstance(frame[c].dtype, pd.CategoricalDtype):
                frame[c] = frame[c].cat.remove_unused_categories()
        out.append((label, frame))
    return out


# ------------------------------------------------------------------------------------------------ workers


def _worker_fit17() -> dict:
    t0 = time.perf_counter()
    import mixjax

    import_s = time.perf_counter() - t0
    ms = models()
    frames, load_s = {}, {}
    for m in ms:
        t = time.perf_counter()
        frames[m["id"]] = load_data(m["dataset"])
        load_s[m["id"]] = time.perf_counter() - t
    rows = []
    import warnings

    for m in ms:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = time.perf_counter()
            try:
                f = fit(mixjax, m, frames[m["id"]])
                loglik = float(f.loglik)
                err = None
            except Exception as e:  # noqa: BLE001 (report, go on)
                loglik, err = None, f"{type(e).__name__}: {e}"[:300]
            s = time.perf_counter() - t
        rows.append(dict(id=m["id"], fit_s=s, nobs=len(frames[m["id"]]), loglik=loglik, error=err,
                         converged=None if err else bool(f.converged), target=m["target"],
                         diff=None if loglik is None else loglik - m["target"],
                         warnings=sorted({str(w.message)[:120] for w in caught})))
    import jax

    return dict(import_s=import_s, load_s=load_s, load_total_s=sum(load_s.values()), rows=rows,
                load_avg_end=os.getloadavg(),
                fit_total_s=sum(r["fit_s"] for r in rows), peak_rss_mb=peak_rss_mb(), device=str(jax.devices()[0]),
                jax=jax.__version__)


def _worker_fill() -> dict:
    import warnings

    import mixjax

    rows = []
    t0 = time.perf_counter()
    for i, m in enumerate(models()):
        for label, frame in variants(m, load_data(m["dataset"]), SEED + i):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    f = fit(mixjax, m, frame)
                    loglik, err = float(f.loglik), None
                except Exception as e:  # noqa: BLE001
                    loglik, err = None, f"{type(e).__name__}: {e}"[:300]
            ngroups = frame[m["vary"]].nunique()
            rows.append(dict(id=m["id"], variant=label, nobs=len(frame), vary=m["vary"], levels=int(ngroups),
                             fit_s=time.perf_counter() - t, loglik=loglik, error=err))
    return dict(rows=rows, total_s=time.perf_counter() - t0)


def _worker(which: str) -> None:
    try:
        res = _worker_fit17() if which == "fit17" else _worker_fill()
    except Exception as e:  # noqa: BLE001
        import traceback

        res = {"error": f"{type(e).__name__}: {e}"[:600], "traceback": traceback.format_exc()[-2000:]}
    print(RESULT_MARK + json.dumps(res), flush=True)


# ------------------------------------------------------------------------------------------------ parent


def _count_files(path: Path) -> int:
    return sum(len(f) for _, _, f in os.walk(path)) if path.exists() else 0


def _run_python(which: str, cache: Path, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MIXJAX_NO_CACHE"}
    env["MIXJAX_CACHE_DIR"] = str(cache)
    before, load = _count_files(cache.parent), os.getloadavg()
    res = run_marked([sys.executable, "-m", "benchmarks.latency", "--worker", which], timeout, env=env)
    res["cache_files_before"], res["cache_files_after"] = before, _count_files(cache.parent)
    res["load_avg_start"] = load  # 1, 5, 15 minutes: the machine's load when the process started
    return res


def _write_r_inputs(folder: Path) -> Path:
    """One CSV per model (the rows mixjax fits) and a TSV manifest for latency.R."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id\tcsv\tformula\tengine\treml\tfamily\tnagq\tfactors\tordered"]
    written = {}
    for m in models():
        data = load_data(m["dataset"])
        csv = folder / f"{m['dataset'].removesuffix('.csv')}.csv"
        if m["dataset"] not in written:
            data.to_csv(csv, index=False)
            written[m["dataset"]] = csv
        factors = [c for c in data.columns if isinstance(data[c].dtype, pd.CategoricalDtype)]
        if m["id"] == TOBIT:
            factors = ["Subject"]
        kw = m["kwargs"]
        if m["kind"] == "lmm":
            engine = "lmer"
        elif kw["family"] == "ordinal":
            engine = "clmm"
        elif kw["family"] == "censored_gaussian":
            engine = "tobit"
        else:
            engine = "glmer"
        ordered = kw["formula"].split("~")[0].strip() if engine == "clmm" else ""
        formula = "y ~ Days + (1 | Subject)" if engine == "tobit" else kw["formula"]
        lines.append("\t".join([m["id"], str(csv), formula, engine, "TRUE" if kw.get("reml") else "FALSE",
                                kw.get("family") or "", str(kw.get("nagq", 1)), ",".join(factors), ordered]))
    manifest = folder / "manifest.tsv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def _run_r(folder: Path, timeout: float) -> dict:
    import shutil

    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"error": "Rscript not found"}
    manifest = _write_r_inputs(folder)
    load = os.getloadavg()
    res = run_marked([rscript, str(R_SCRIPT), str(manifest)], timeout)
    res["load_avg_start"], res["load_avg_end"] = load, os.getloadavg()
    ms = {m["id"]: m for m in models()}
    for r in res.get("rows", []):
        if r.get("loglik") is not None:
            r["target"] = ms[r["id"]]["r_target"]  # the reference's own logLik (lme4's scale for cbpp AGQ25)
            r["diff"] = r["loglik"] - r["target"]
    return res


def machine() -> dict:
    def cmd(*args):
        try:
            return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""

    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except Exception:  # noqa: BLE001
        pass
    commit = cmd("git", "rev-parse", "--short", "HEAD")  # BENCH_COMMIT: a copy without .git (git archive)
    return dict(date=time.strftime("%Y-%m-%d %H:%M:%S %Z"), commit=commit or os.environ.get("BENCH_COMMIT", ""),
                dirty=bool(cmd("git", "status", "--porcelain", "--untracked-files=no")) if commit else None,
                source=str(ROOT), cpu=cpu,
                cpus=os.cpu_count(), python=platform.python_version(), load_avg=os.getloadavg(),
                r=cmd("Rscript", "-e", "cat(R.version.string, 'lme4', format(packageVersion('lme4')))"))


def _fmt(x, digits=3) -> str:
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:.0f}"


def markdown(result: dict) -> str:
    modes = [m for m in ("empty", "other", "same") if m in result["modes"]]
    r = result["modes"].get("r")
    ms = models()
    by = {mode: {row["id"]: row for row in result["modes"][mode].get("rows", [])} for mode in modes}
    rby = {row["id"]: row for row in (r or {}).get("rows", [])}
    head = ["model", "rows"] + [f"mixjax {m} (s)" for m in modes] + (["lme4 etc. (s)"] if r else [])
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for m in ms:
        any_row = next((by[mode][m["id"]] for mode in modes if m["id"] in by[mode]), {})
        cells = [m["id"], str(any_row.get("nobs", ""))]
        cells += [_fmt(by[mode].get(m["id"], {}).get("fit_s")) for mode in modes]
        if r:
            cells.append(_fmt(rby.get(m["id"], {}).get("fit_s")))
        lines.append("| " + " | ".join(cells) + " |")

    def total(res, key):
        return res.get(key) if res else None

    for label, key in (("**fits, total**", "fit_total_s"), ("import / library()", "import_s"),
                       ("data loading", "load_total_s"), ("process wall (start to exit)", "process_s")):
        cells = [label, ""] + [_fmt(total(result["modes"][mode], key)) for mode in modes]
        if r:
            cells.append(_fmt(total(r, key)))
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["load average (1 min) at start / end", ""] + [
        "/".join(_fmt(x[0], 2) for x in (result["modes"][mode].get("load_avg_start"), result["modes"][mode].get(
            "load_avg_end")) if x) for mode in modes]
    if r:
        cells.append("/".join(_fmt(x[0], 2) for x in (r.get("load_avg_start"), r.get("load_avg_end")) if x))
    if any(cells[2:]):
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["compilation cache files before / after", ""] + [
        f"{result['modes'][mode].get('cache_files_before')} / {result['modes'][mode].get('cache_files_after')}"
        for mode in modes] + ([""] if r else [])
    lines.append("| " + " | ".join(cells) + " |")
    if r and r.get("fit_total_s"):
        cells = ["**mixjax / R, fits**", ""] + [_fmt(result["modes"][mode].get("fit_total_s", 0) / r["fit_total_s"])
                                              for mode in modes] + [""]
        lines.append("| " + " | ".join(cells) + " |")
        rp = r.get("process_s")
        if rp:
            cells = ["mixjax / R, process wall", ""] + [
                _fmt(result["modes"][mode].get("process_s", 0) / rp) for mode in modes] + [""]
            lines.append("| " + " | ".join(cells) + " |")
    # log-likelihood check
    lines += ["", "| model | reference logLik | " + " | ".join(f"mixjax {m} - ref" for m in modes)
              + (" | R - ref |" if r else " |"), "|" + " --- |" * (2 + len(modes) + (1 if r else 0))]
    for m in ms:
        cells = [m["id"], f"{m['target']:.4f}"]
        for mode in modes:
            row = by[mode].get(m["id"], {})
            d = row.get("diff")
            cells.append("error: " + row["error"][:60] if row.get("error") else
                         ("" if d is None else f"{d:.2e}" + (" **>1e-4**" if abs(d) > FLAG else "")))
        if r:
            d = rby.get(m["id"], {}).get("diff")
            cells.append("" if d is None else f"{d:.2e}")
        lines.append("| " + " | ".join(cells) + " |")
    fill = result["modes"].get("other", {}).get("fill")
    if fill and fill.get("rows"):
        lines += ["", "What filled the cache of `other` (one process, "
                  f"{_fmt(fill.get('total_s'))} s in all):", "",
                  "| model | data set | rows | levels of the varied factor | fit (s) | note |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for row in fill["rows"]:
            lines.append(f"| {row['id']} | {row['variant']} | {row['nobs']} | {row['vary']}: {row['levels']} | "
                         f"{_fmt(row['fit_s'])} | {row.get('error') or ''} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", choices=["fit17", "fill"], help=argparse.SUPPRESS)
    ap.add_argument("--modes", default="empty,other,same,r")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--workdir", type=Path, help="caches and CSVs (default: a new temporary folder)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per process")
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args.worker)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mixjax-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    result = dict(machine=machine(), modes={}, workdir=str(work),
                  command="python -m benchmarks.latency " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(json.dumps(result["machine"]), flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    same_cache = work / f"cache-empty-{stamp}" / "jax"

    def show(mode):
        res = result["modes"][mode]
        brief = {k: v for k, v in res.items() if k not in ("rows", "fill", "load_s")}
        print(mode, json.dumps(brief), flush=True)
        for row in res.get("rows", []):
            print("   ", json.dumps({k: row.get(k) for k in ("id", "fit_s", "loglik", "diff", "error")}), flush=True)

    if "empty" in modes or "same" in modes:
        res = _run_python("fit17", same_cache, args.timeout)
        if "empty" in modes:
            result["modes"]["empty"] = res
            show("empty")
    if "other" in modes:
        cache = work / f"cache-other-{stamp}" / "jax"
        fill = _run_python("fill", cache, args.timeout)
        res = _run_python("fit17", cache, args.timeout)
        res["fill"] = fill
        result["modes"]["other"] = res
        show("other")
    if "same" in modes:
        result["modes"]["same"] = _run_python("fit17", same_cache, args.timeout)
        show("same")
    if "r" in modes:
        result["modes"]["r"] = _run_r(work / "r-data", args.timeout)
        show("r")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.markdown:
        print(markdown(result))


if __name__ == "__main__":
    main()
