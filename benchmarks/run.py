"""Run every engine on every case, each pair in a fresh subprocess.

    python -m benchmarks.run [--cases a,b] [--engines x,y] [--repeats N]
                             [--out benchmarks/results.json] [--timeout S] [--warm-budget S]

Prints a Markdown table and writes all results plus machine info as JSON.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.adapters import ENGINES
from benchmarks.cases import CASES
from benchmarks.harness import WARM_BUDGET_ENV, run_worker

REFERENCE = "lme4"  # the loglik column is compared with this engine's


def machine_info() -> dict:
    info = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": _memory_gb(),
        "versions": {},
    }
    for pkg in ("mixjax", "jax", "jaxlib", "mixedlm", "statsmodels", "numpy", "scipy", "pandas"):
        try:
            info["versions"][pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            info["versions"][pkg] = None
    if info["versions"]["mixjax"] is None and importlib.util.find_spec("mixjax") is not None:
        info["versions"]["mixjax"] = _mixjax_version()
    info["versions"].update(_r_versions())
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _mixjax_version() -> str:
    try:
        import mixjax

        return getattr(mixjax, "__version__", "unknown (not installed, imported from source)")
    except Exception as exc:
        return f"import failed: {type(exc).__name__}"


def _r_versions() -> dict:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"R": None, "lme4": None, "R_BLAS": None}
    expr = ('cat(R.version.string, '
            'tryCatch(as.character(packageVersion("lme4")), error = function(e) ""), '
            'extSoftVersion()[["BLAS"]], sep = "\\n")')
    try:
        out = subprocess.run([rscript, "-e", expr], capture_output=True, text=True, timeout=60).stdout
    except (subprocess.SubprocessError, OSError):
        out = ""
    values = [v.strip() or None for v in (out.splitlines() + ["", "", ""])[:3]]
    return dict(zip(("R", "lme4", "R_BLAS"), values))


def _fmt(x: float | None, spec: str = ".3g") -> str:
    return "" if x is None else format(x, spec)


def _ratio(num: float | None, den: float | None) -> str:
    return f"{num / den:.3g}" if num and den else ""


def markdown_table(results: list[dict]) -> str:
    """One row per (case, engine); ratios are mixjax time / this engine's time."""
    header = ["case", "engine", "first (s)", "warm median (s)", "n warm", "mixjax/peer first",
              "mixjax/peer warm", "loglik", f"loglik - {REFERENCE}", "peak RSS (MB)", "note"]
    rows = [header, ["---"] * len(header)]
    by_key = {(r["case"], r["engine"]): r for r in results}
    for r in results:
        mj = by_key.get((r["case"], "mixjax"), {})
        ref = by_key.get((r["case"], REFERENCE), {})
        peer = r["engine"] != "mixjax"
        ll, ref_ll = r.get("loglik"), ref.get("loglik")
        note = r.get("error") or (f"skipped: {r['skipped']}" if r.get("skipped") else "")
        if not note and r.get("warnings"):
            note = "warning: " + "; ".join(r["warnings"])
        rows.append([
            r["case"], r["engine"], _fmt(r.get("first_s")), _fmt(r.get("warm_median_s")),
            str(len(r.get("warm_s") or [])) if "warm_s" in r else "",
            _ratio(mj.get("first_s"), r.get("first_s")) if peer else "",
            _ratio(mj.get("warm_median_s"), r.get("warm_median_s")) if peer else "",
            _fmt(ll, ".4f"),
            _fmt(ll - ref_ll, ".2e") if ll is not None and ref_ll is not None and r is not ref else "",
            _fmt(r.get("peak_rss_mb"), ".0f"),
            note.replace("|", "/").replace("\n", " ")[:160],
        ])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _pick(arg: str | None, known, what: str) -> list[str]:
    names = list(known) if not arg else [s.strip() for s in arg.split(",") if s.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)} (choose from {', '.join(known)})")
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", help=f"comma-separated, default all: {','.join(CASES)}")
    ap.add_argument("--engines", help=f"comma-separated, default all: {','.join(ENGINES)}")
    ap.add_argument("--repeats", type=int, default=5, help="warm fits after the first (default 5)")
    ap.add_argument("--out", default="benchmarks/results.json", help="JSON output path")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per engine and case (default 600)")
    ap.add_argument("--warm-budget", type=float, default=120,
                    help="stop warm repeats after this many seconds, keeping at least one (default 120)")
    args = ap.parse_args(argv)
    cases = _pick(args.cases, CASES, "cases")
    engines = _pick(args.engines, ENGINES, "engines")
    os.environ[WARM_BUDGET_ENV] = str(args.warm_budget)

    machine = machine_info()
    print(json.dumps(machine), file=sys.stderr)
    results = []
    for case in cases:
        for engine in engines:
            print(f"[{case}] {engine} ...", end=" ", file=sys.stderr, flush=True)
            r = run_worker(engine, case, args.repeats, args.timeout)
            status = r.get("error") or (f"skipped: {r['skipped']}" if r.get("skipped") else None) or (
                f"first {r['first_s']:.3g} s, warm {_fmt(r['warm_median_s'])} s, loglik {r['loglik']:.4f}")
            print(status, file=sys.stderr, flush=True)
            results.append(r)

    print(markdown_table(results))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"repeats": args.repeats, "timeout_s": args.timeout, "warm_budget_s": args.warm_budget}
    out.write_text(json.dumps({"machine": machine, "settings": settings, "results": results}, indent=2) + "\n")
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
