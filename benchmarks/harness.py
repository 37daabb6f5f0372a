"""Shared timing, memory and subprocess helpers.

Parent side: :func:`run_worker` runs one engine on one case in a fresh Python
process (``python -m benchmarks.harness ENGINE CASE REPEATS``), with a wall-clock
limit that kills the whole process group (an Rscript child included).

Worker side: adapters call :func:`time_fits`, which times the first fit and the
warm repeats and reads the process's resident memory.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "@@BENCH_RESULT@@ "
# Warm repeats stop once they have used this many seconds (at least one always runs).
WARM_BUDGET_ENV = "BENCH_WARM_BUDGET_S"
DEFAULT_WARM_BUDGET_S = 120.0


def warm_budget_s() -> float:
    return float(os.environ.get(WARM_BUDGET_ENV, DEFAULT_WARM_BUDGET_S))


def rss_mb() -> float | None:
    """Current resident set size of this process in MB (Linux only)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB


def time_fits(fit: Callable[[], float], repeats: int) -> dict:
    """Time ``fit()`` once in this (fresh) process, then warm, up to ``repeats`` times.

    ``fit`` must return the log-likelihood as a Python float, so that any
    asynchronous work (JAX dispatch) has finished when the clock stops.
    Warnings raised by the first fit are recorded.
    """
    base = rss_mb()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        loglik = float(fit())
        first = time.perf_counter() - t0
    warm: list[float] = []
    budget, start = warm_budget_s(), time.perf_counter()
    while len(warm) < repeats and (not warm or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fit()
        warm.append(time.perf_counter() - t0)
    return {
        "first_s": first,
        "warm_median_s": statistics.median(warm) if warm else None,
        "warm_s": warm,
        "loglik": loglik,
        "base_rss_mb": base,
        "peak_rss_mb": peak_rss_mb(),
        "warnings": sorted({str(w.message)[:200] for w in caught}),
    }


def run_worker(engine: str, case: str, repeats: int, timeout_s: float) -> dict:
    """Run ``engine`` on ``case`` in a fresh subprocess and return its result dict."""
    result: dict = {"engine": engine, "case": case}
    cmd = [sys.executable, "-m", "benchmarks.harness", engine, case, str(repeats)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        result["error"] = f"timeout: no result within {timeout_s:g} s"
        return result
    except BaseException:  # Ctrl-C: take the worker (and its Rscript) down too
        _kill_group(proc)
        raise
    result["process_s"] = time.perf_counter() - t0
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            result.update(json.loads(line[len(RESULT_MARK):]))
            return result
    tail = " | ".join(err.strip().splitlines()[-5:])
    result["error"] = f"worker exited with code {proc.returncode}: {tail}"
    return result


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def _worker_main(engine: str, case_name: str, repeats: str) -> None:
    from benchmarks.adapters import load_adapter
    from benchmarks.cases import CASES

    result: dict = {}
    try:
        result = load_adapter(engine).run(CASES[case_name], int(repeats))
    except Exception as exc:  # report, never crash the runner
        result = {"error": f"{type(exc).__name__}: {exc}"[:1000],
                  "traceback": traceback.format_exc()[-3000:]}
    print(RESULT_MARK + json.dumps(result), flush=True)


def run_marked(cmd: list[str], timeout: float, env=None, mem_gb=None) -> dict:
    """Run ``cmd`` (a worker printing ``RESULT_MARK`` + JSON) in its own session, killed after ``timeout`` s; its
    last result dict with ``process_s``, or ``error``. A worker killed after printing a result (e.g. after its first
    fit, before its warm fits ended) keeps that result, with a ``note``. ``mem_gb``: an address-space limit
    (``ulimit -v``)."""
    if mem_gb:  # the shell's ulimit -v (KiB): an address-space limit for the command and its children
        cmd = ["bash", "-c", f'ulimit -v {int(mem_gb * 2**20)} && exec "$@"', "bash", *cmd]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)
    killed = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        killed = True
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    res = {"process_s": time.perf_counter() - t0}
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            res.update(json.loads(line[len(RESULT_MARK):]))
            if killed:
                res["note"] = f"did not finish within {timeout:g} s (the result printed before)"
            return res
    if killed:
        res["error"] = f"killed: no result within {timeout:g} s"
        return res
    tail = " | ".join(err.strip().splitlines()[-4:])
    res["error"] = f"exit code {proc.returncode}: {tail}"[:600]
    return res


def worker_report(work: Callable[[], dict]) -> dict:
    """Worker side: run ``work()`` and print its result (or the error) after ``RESULT_MARK``, never raising."""
    try:
        res = work()
    except Exception as e:  # noqa: BLE001 (report, never crash the runner)
        res = {"error": f"{type(e).__name__}: {e}"[:600]}
    print(RESULT_MARK + json.dumps(res), flush=True)
    return res


def run_cases(cases: list[str], engines: list[str], load: Callable, run_one: Callable) -> list[dict]:
    """Parent side: every (case, engine), each case's data written once to a CSV that R reads (``run_one(engine,
    case, csv, cache_dir)``), one JSON line per run; the rows."""
    import tempfile

    print(f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            csv = Path(tmp) / f"{case}.csv"
            load(case).to_csv(csv, index=False)
            for engine in engines:
                rows.append({"case": case, "engine": engine, **run_one(engine, case, csv, Path(tmp) / "cache")})
                print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    _worker_main(*sys.argv[1:])
