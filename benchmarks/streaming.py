"""Streamed data: a nested LMM ``y ~ x + (1 | school/class)`` fitted from a Parquet file of up to 100 million rows.

``python -m benchmarks.streaming --rows 100000000 [--schools 1000 --classes 100 --batch-rows 1000000]
[--check-rows 2000000] [--folder /tmp/mixjax_streaming]``:

1. writes the Parquet file under ``--folder`` chunk by chunk (``--batch-rows`` rows at a time, never all rows in
   memory): ``school`` (``--schools`` levels), ``class`` (``--classes`` per school, so ``class:school`` has
   ``schools x classes`` levels), ``x ~ N(0, 1)``, ``y = 1 + 0.5 x + u_school + u_class + e`` with SDs 1, 0.7, 2;
2. fits it in a fresh process (``mixjax.lmm(formula, path)``) and reports the wall time of the call, the peak RSS
   of that process (``resource.getrusage``) and the estimates;
3. with ``--check-rows m``: a file of ``m`` rows fitted in a fresh process both streamed and in memory
   (``pandas.read_parquet``), reporting the largest relative differences (logLik, fixef, SEs, theta, sigma).

Prints JSON lines, then a Markdown table for ``RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

FORMULA = "y ~ x + (1 | school/class)"
MARK = "RESULT "


def generate(path: Path, rows: int, schools: int, classes: int, batch_rows: int, seed: int = 20261126) -> None:
    """Write ``rows`` rows to ``path`` in chunks of ``batch_rows`` (pyarrow's ParquetWriter, one row group each)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    u_school, u_class = rng.normal(0, 1.0, schools), rng.normal(0, 0.7, schools * classes)
    schema = pa.schema([("y", pa.float64()), ("x", pa.float64()), ("school", pa.int32()), ("class", pa.int32())])
    tmp = path.with_suffix(".partial")
    with pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, rows, batch_rows):
            m = min(batch_rows, rows - start)
            school = rng.integers(0, schools, m, dtype=np.int32)
            klass = rng.integers(0, classes, m, dtype=np.int32)
            x = rng.normal(size=m)
            y = 1 + 0.5 * x + u_school[school] + u_class[school * classes + klass] + rng.normal(0, 2.0, m)
            writer.write_table(pa.table({"y": y, "x": x, "school": school, "class": klass}, schema=schema))
    tmp.rename(path)


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _estimates(fit) -> dict:
    return {"loglik": fit.loglik, "fixef": fit.fixef.tolist(), "fixef_se": fit.fixef_se.tolist(),
            "theta": fit.theta.tolist(), "sigma": fit.sigma, "nobs": fit.nobs, "ngroups": fit.ngroups,
            "converged": fit.converged}


def child_fit(path: str, batch_rows: int, in_memory: bool) -> None:
    """In a fresh process: the streamed fit (timed, peak RSS), and with ``in_memory`` the DataFrame fit too."""
    import mixjax

    t = time.perf_counter()
    fit = mixjax.lmm(FORMULA, mixjax.streaming.source(path, batch_rows=batch_rows))
    out = {"wall_s": time.perf_counter() - t, "peak_rss_gib": _peak_rss_gib(), "streamed": _estimates(fit)}
    if in_memory:
        import pandas as pd

        out["memory"] = _estimates(mixjax.lmm(FORMULA, pd.read_parquet(path)))
    print(MARK + json.dumps(out), flush=True)


def _fresh(path: Path, batch_rows: int, in_memory: bool) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.streaming", "--child", str(path), "--batch-rows", str(batch_rows)]
    done = subprocess.run(cmd + (["--in-memory"] if in_memory else []), capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith(MARK))
    return json.loads(line[len(MARK):])


def _max_rel(a, b) -> float:
    a, b = np.atleast_1d(np.asarray(a, dtype=float)), np.atleast_1d(np.asarray(b, dtype=float))
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def run(rows: int, schools: int, classes: int, batch_rows: int, folder: Path, in_memory: bool) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"nested_{rows}_{schools}x{classes}.parquet"
    t = time.perf_counter()
    if not path.exists():
        generate(path, rows, schools, classes, batch_rows)
    gen_s = time.perf_counter() - t
    out = {"rows": rows, "schools": schools, "classes": schools * classes, "file_gib": path.stat().st_size / 2**30,
           "generate_s": gen_s, **_fresh(path, batch_rows, in_memory)}
    if in_memory:
        s, m = out["streamed"], out["memory"]
        out["max_rel_diff"] = {k: _max_rel(s[k], m[k]) for k in ("loglik", "fixef", "fixef_se", "theta", "sigma")}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000_000])
    ap.add_argument("--schools", type=int, default=1000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--batch-rows", type=int, default=1_000_000)
    ap.add_argument("--check-rows", type=int, default=0)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/mixjax_streaming"))
    ap.add_argument("--child", default=None)
    ap.add_argument("--in-memory", action="store_true")
    args = ap.parse_args()
    if args.child:
        return child_fit(args.child, args.batch_rows, args.in_memory)
    results = []
    if args.check_rows:
        results.append(run(args.check_rows, args.schools, args.classes, args.batch_rows, args.folder, True))
    for rows in args.rows:
        results.append(run(rows, args.schools, args.classes, args.batch_rows, args.folder, False))
    print(f"\nDate: {date.today()}; machine: {platform.node()}, {platform.processor() or platform.machine()}, "
          f"Python {platform.python_version()}; command: python -m benchmarks.streaming {' '.join(sys.argv[1:])}\n")
    print("| rows | schools | classes | file (GiB) | fit wall (s) | peak RSS (GiB) | logLik | fixef x | "
          "max rel. diff vs in memory |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        diff = max(r["max_rel_diff"].values()) if "max_rel_diff" in r else None
        print(f"| {r['rows']:,} | {r['schools']:,} | {r['classes']:,} | {r['file_gib']:.2f} | {r['wall_s']:.1f} | "
              f"{r['peak_rss_gib']:.2f} | {r['streamed']['loglik']:.4f} | {r['streamed']['fixef'][1]:.5f} | "
              f"{'' if diff is None else f'{diff:.1e}'} |")


if __name__ == "__main__":
    main()
