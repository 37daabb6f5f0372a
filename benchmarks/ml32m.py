"""A synthetic model of ml-32m's shape (issue 15): ``y ~ 1 + (1 | user) + (1 | movie)``, ML.

``python -m benchmarks.ml32m --scale 0.1 [--engines mixjax,mixedlm,lme4] [--warm 1] [--timeout 1800] [--json F]
[--markdown] [--workdir DIR]``; ``--scale 1`` is the full size (32,000,000 rows, 200,948 users, 84,432 movies,
as MovieLens ml-32m), meant for a GPU machine with ``--engines mixjax``.

Data (``generate``, fixed seed, vectorized numpy, in chunks of users so that the temporaries stay small):

- every user has at least 20 ratings (as in ml-32m); the counts are ``20 + Y`` with ``Y`` lognormal (sigma 1.4:
  median about 73, mean 159 ratings per user, as ml-32m), scaled to the target number of rows, each capped at 80%
  of the movies;
- movie popularity is lognormal (sigma 2.8) with the most popular movie capped at half the users (ml-32m's most
  rated movie has about 103,000 ratings of 200,948 users): most movies have few ratings, a few have very many;
  every movie gets at least one rating (one rating per movie is given to a random user first);
- no (user, movie) pair twice: a user's movies are drawn from the popularity weights and duplicates redrawn (heavy
  users: without replacement, by Gumbel top-k);
- ``y = 3.5 + u_user + v_movie + e`` with SDs 0.5, 0.4 and 0.85 (total SD 1.06, as ml-32m's ratings; ``y`` is not
  rounded to half stars, so the model is the one that generated the data).

Engines, each in its own fresh process, one after another, with a wall-clock limit (``--timeout``, default 30 min):
``mixjax`` (``mixjax.lmm(FORMULA, df, reml=False)``), ``mixedlm`` (``mixedlm.lmer(FORMULA, df, REML=False)``) and
``lme4`` (``lmer(FORMULA, d, REML = FALSE)`` in ``Rscript adapters/ml32m.R``, on a CSV of the same rows read by
``data.table::fread``). Each reports the data loading time, the first fit (compilation included for mixjax, whose
compilation cache is a new folder in ``--workdir`` unless ``--cache-dir`` is given), the
warm fits (``--warm``), peak RSS, the log-likelihood and the variance components. mixjax also reports its stages
after the fit: ``build_design``, ``make_lmm`` (the cross-products on the host) and one warm value-and-gradient
evaluation of the deviance, and before the fit an estimate of its memory (the dense ``movies x movies`` block and
the list of coupling pairs, ``sum over users c(c+1)/2`` of them); where that estimate exceeds the memory available
it stops with the numbers instead of running the machine out of memory (``--force`` runs it anyway).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.harness import RESULT_MARK, ROOT, peak_rss_mb, run_marked

FORMULA = "y ~ 1 + (1 | user) + (1 | movie)"
FULL = dict(rows=32_000_000, users=200_948, movies=84_432)
SEED = 20261126
MU, SD_USER, SD_MOVIE, SD_E = 3.5, 0.5, 0.4, 0.85
CHUNK_USERS = 16_384  # users generated together (fixed: the data do not depend on the machine)
R_SCRIPT = Path(__file__).with_name("adapters") / "ml32m.R"


def sizes(scale: float) -> dict:
    return {k: int(round(v * scale)) for k, v in FULL.items()}


def mem_available_gb() -> float:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _user_counts(rng, n_users: int, n_rows: int, cap: int) -> np.ndarray:
    """20 + lognormal extra ratings per user, summing to ``n_rows``, none above ``cap``."""
    if n_rows < 20 * n_users or n_rows > cap * n_users:
        raise ValueError(f"{n_rows} rows cannot be spread over {n_users} users with 20 to {cap} ratings each")
    w = rng.lognormal(0.0, 1.4, n_users)
    extra = np.zeros(n_users, dtype=np.int64)
    room = np.full(n_users, cap - 20, dtype=np.int64)
    left = n_rows - 20 * n_users
    for _ in range(100):  # hand out what is left in proportion to w among users below the cap
        open_ = room > 0
        share = np.floor(left * w * open_ / np.sum(w[open_])).astype(np.int64)
        share = np.minimum(share, room)
        extra += share
        room -= share
        left -= int(share.sum())
        if left < n_users:
            break
    while left > 0:  # the last few, one each to random users with room
        idx = rng.choice(np.flatnonzero(room > 0), size=min(left, int(np.sum(room > 0))), replace=False)
        extra[idx] += 1
        room[idx] -= 1
        left -= len(idx)
    return 20 + extra


def _movie_weights(rng, n_movies: int, n_users: int, n_rows: int) -> np.ndarray:
    """Lognormal popularity, the largest expected count capped at half the users; sums to 1."""
    w = rng.lognormal(0.0, 2.8, n_movies)
    cap = 0.5 * n_users / n_rows
    p = w / w.sum()
    for _ in range(50):
        over = p > cap
        if not over.any():
            break
        p[over] = cap
        free = ~over
        p[free] *= (1.0 - cap * over.sum()) / p[free].sum()
    return p / p.sum()


def generate(scale: float, seed: int = SEED, verbose: bool = False) -> dict:
    """The data at ``scale``: int32 ``user``, ``movie`` codes and float64 ``y`` (see the module docstring)."""
    s = sizes(scale)
    n_rows, n_users, n_movies = s["rows"], s["users"], s["movies"]
    rng = np.random.default_rng([seed, 0])
    counts = _user_counts(rng, n_users, n_rows, cap=max(20, int(0.8 * n_movies)))
    p = _movie_weights(rng, n_movies, n_users, n_rows)
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    logp = np.log(p)
    # one rating per movie first, to a random user (in proportion to the user's count)
    ucdf = np.cumsum(counts / counts.sum())
    ucdf[-1] = 1.0
    g_user = np.minimum(np.searchsorted(ucdf, rng.random(n_movies)), n_users - 1)
    order = np.argsort(g_user, kind="stable")
    g_user, g_movie = g_user[order], np.arange(n_movies)[order]
    g_start = np.searchsorted(g_user, np.arange(n_users + 1))
    g_count = np.diff(g_start)
    if np.any(g_count > counts):
        raise ValueError("too few ratings per user for one rating per movie")
    users = np.empty(n_rows, dtype=np.int32)
    movies = np.empty(n_rows, dtype=np.int32)
    heavy_at = max(64, n_movies // 50)  # users with more ratings than this draw without replacement (Gumbel top-k)
    pos, dropped = 0, 0
    for c0 in range(0, n_users, CHUNK_USERS):
        c1 = min(c0 + CHUNK_USERS, n_users)
        crng = np.random.default_rng([seed, 1, c0])
        cu = np.arange(c0, c1)
        need = counts[c0:c1] - g_count[c0:c1]
        gu, gm = g_user[g_start[c0]:g_start[c1]], g_movie[g_start[c0]:g_start[c1]]
        heavy = counts[c0:c1] > heavy_at
        # light users: draw, redraw duplicates
        lu = np.repeat(cu[~heavy], need[~heavy])
        lm = np.searchsorted(cdf, crng.random(len(lu))).astype(np.int64)
        glight = ~heavy[gu - c0]
        gk = gu[glight].astype(np.int64) * n_movies + gm[glight]
        for _ in range(200):
            keys = np.concatenate([gk, lu.astype(np.int64) * n_movies + lm])
            _, first = np.unique(keys, return_index=True)
            keep = np.zeros(len(keys), dtype=bool)
            keep[first] = True
            dup = ~keep[len(gk):]
            if not dup.any():
                break
            lm[dup] = np.searchsorted(cdf, crng.random(int(dup.sum())))
        else:
            lu, lm = lu[~dup], lm[~dup]
            dropped += int(dup.sum())
        parts_u, parts_m = [gu, lu], [gm, lm]
        # heavy users: without replacement, the given movie excluded
        for u in cu[heavy]:
            given = gm[gu == u]
            key = logp - np.log(-np.log(crng.random(n_movies)))
            key[given] = -np.inf
            k = int(counts[u] - len(given))
            chosen = np.argpartition(-key, k - 1)[:k] if k > 0 else np.zeros(0, dtype=np.int64)
            parts_u.append(np.full(k, u))
            parts_m.append(chosen)
        cu_all = np.concatenate(parts_u)
        cm_all = np.concatenate(parts_m)
        n = len(cu_all)
        users[pos:pos + n] = cu_all
        movies[pos:pos + n] = cm_all
        pos += n
        if verbose:
            print(f"  users {c1}/{n_users}, rows {pos}", file=sys.stderr, flush=True)
    users, movies = users[:pos], movies[:pos]
    u_eff = rng.normal(0.0, SD_USER, n_users)
    v_eff = rng.normal(0.0, SD_MOVIE, n_movies)
    y = MU + u_eff[users] + v_eff[movies]
    y += rng.normal(0.0, SD_E, pos)
    return dict(user=users, movie=movies, y=y, n_users=n_users, n_movies=n_movies, dropped=dropped)


def describe(data: dict) -> dict:
    """Shape of the data: rows, levels, ratings per user and per movie (quantiles), mixjax's coupling pairs."""
    cu = np.bincount(data["user"], minlength=data["n_users"])
    cm = np.bincount(data["movie"], minlength=data["n_movies"])

    def q(c):
        return {k: float(v) for k, v in zip(("min", "p10", "median", "mean", "p90", "p99", "max"),
                                            [c.min(), *np.percentile(c, [10, 50]), c.mean(),
                                             *np.percentile(c, [90, 99]), c.max()])}

    # term 1 is the factor with more levels (lme4's order): users; its heavy levels' pairs are not listed
    from mixjax.linalg.crossprod import PAIR_BUDGET, heavy_levels

    c1, qr = (cu, data["n_movies"]) if data["n_users"] >= data["n_movies"] else (cm, data["n_users"])
    heavy = heavy_levels(c1, qr, PAIR_BUDGET)
    light = np.ones(len(c1), dtype=bool)
    light[heavy] = False
    pairs = int(np.sum(c1[light].astype(np.int64) * (c1[light] + 1) // 2))
    return dict(rows=int(len(data["y"])), users=int((cu > 0).sum()), movies=int((cm > 0).sum()),
                per_user=q(cu), per_movie=q(cm), dropped_duplicates=data.get("dropped", 0),
                movies_with_1_rating=int((cm == 1).sum()), movies_with_at_most_10=int((cm <= 10).sum()),
                sd_y=float(np.std(data["y"])), mixjax_pairs=pairs, mixjax_heavy_levels=int(len(heavy)),
                all_pairs=int(np.sum(c1.astype(np.int64) * (c1 + 1) // 2)))


def mixjax_memory_gb(desc: dict) -> dict:
    """A rough peak for mixjax's crossed path: the coupling pairs it lists (about 60 bytes each while they are
    built: int64 indices, their products, the int32 copies kept), the heavy levels' dense coupling rows (three
    ``n_heavy x qr`` float64 arrays: the rows, scaled, times the derivative's block; at most 1 GiB each, in blocks) and about six dense ``qr x qr``
    float64 arrays (the cross-products, the Schur complement, its factor, the inverse and the derivative's blocks),
    plus rows."""
    qr = min(desc["users"], desc["movies"])
    heavy_gb = min(3 * desc["mixjax_heavy_levels"] * qr * 8, 3 * 2**30) / 2**30  # blocks of 1 GiB (lmm_scalar)
    pairs_gb = desc["mixjax_pairs"] * 60 / 2**30 + heavy_gb
    dense_gb = 6 * (qr + 2) ** 2 * 8 / 2**30
    rows_gb = desc["rows"] * 120 / 2**30
    return dict(pairs_gb=pairs_gb, dense_gb=dense_gb, rows_gb=rows_gb, total_gb=pairs_gb + dense_gb + rows_gb,
                dense_block=qr + 2, flat_index="int32" if (qr + 2) ** 2 < 2**31 else "int64")


def frame(data: dict):
    import pandas as pd

    return pd.DataFrame({
        "y": data["y"],
        "user": pd.Categorical.from_codes(data["user"], categories=np.arange(data["n_users"])),
        "movie": pd.Categorical.from_codes(data["movie"], categories=np.arange(data["n_movies"])),
    })


def load(path: Path) -> dict:
    with np.load(path) as z:
        return {k: (z[k] if z[k].ndim else z[k].item()) for k in z.files}


# ------------------------------------------------------------------------------------------------ workers


def _varcomp_from_theta(theta, sigma) -> dict:
    theta = [float(t) for t in theta]
    return dict(sd_user=theta[0] * sigma, sd_movie=theta[1] * sigma, sigma=sigma, theta=theta)


def _worker_mixjax(path: Path, warm: int, force: bool) -> dict:
    t0 = time.perf_counter()
    import jax

    import mixjax

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = load(path)
    df = frame(data)
    load_s = time.perf_counter() - t0
    desc = describe(data)
    est = mixjax_memory_gb(desc)
    avail = mem_available_gb()
    out = dict(import_s=import_s, load_s=load_s, memory_estimate=est, mem_available_gb=avail,
               device=str(jax.devices()[0]))
    if est["total_gb"] > 0.9 * avail and not force:
        out["error"] = (f"not run: mixjax's crossed path would need about {est['total_gb']:.0f} GB here "
                        f"({desc['mixjax_pairs']:,} coupling pairs: {est['pairs_gb']:.0f} GB; dense "
                        f"{est['dense_block']:,}^2 block: {est['dense_gb']:.1f} GB in six copies), "
                        f"{avail:.0f} GB available (--force runs it anyway)")
        return out
    del data
    t0 = time.perf_counter()
    fit = mixjax.lmm(FORMULA, df, reml=False)
    loglik = float(fit.loglik)
    out["first_s"] = time.perf_counter() - t0
    out.update(loglik=loglik, converged=bool(fit.converged), optimizer=str(fit.optimizer)[:300],
               fixef=float(fit.fixef.iloc[0]), **_varcomp_from_theta(fit.theta.to_numpy(), float(fit.sigma)),
               theta_names=list(map(str, fit.theta.index)))
    out["peak_rss_first_mb"] = peak_rss_mb()
    print(RESULT_MARK + json.dumps(out), flush=True)  # kept if the warm fits run past the time limit
    warm_s = []
    for _ in range(warm):
        t0 = time.perf_counter()
        float(mixjax.lmm(FORMULA, df, reml=False).loglik)
        warm_s.append(time.perf_counter() - t0)
    out["warm_s"] = warm_s
    # the stages, warm: design, cross-products (host), one value-and-gradient evaluation
    t0 = time.perf_counter()
    design = mixjax.build_design(FORMULA, df)
    out["build_design_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    obj = mixjax.make_lmm(design, reml=False)
    out["make_lmm_s"] = time.perf_counter() - t0
    theta = np.asarray(fit.theta.to_numpy(), dtype=float)
    if hasattr(obj, "value_grad"):
        evals = []
        for _ in range(2):
            t0 = time.perf_counter()
            v, g = obj.value_grad(theta)
            float(v)
            np.asarray(g)
            evals.append(time.perf_counter() - t0)
        out["value_grad_s"] = evals
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _worker_mixedlm(path: Path, warm: int) -> dict:
    t0 = time.perf_counter()
    import mixedlm

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    df = frame(load(path))
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = mixedlm.lmer(FORMULA, df, REML=False)
    loglik = float(m.logLik())
    first = time.perf_counter() - t0
    sigma = m.sigma() if callable(m.sigma) else m.sigma
    theta = m.theta() if callable(m.theta) else m.theta
    out = dict(import_s=import_s, load_s=load_s, first_s=first, loglik=loglik, peak_rss_first_mb=peak_rss_mb(),
               fixef=float(next(iter(m.fixef().values()))),
               **_varcomp_from_theta(np.asarray(theta).ravel(), float(sigma)))
    print(RESULT_MARK + json.dumps(out), flush=True)  # kept if the warm fits run past the time limit
    warm_s = []
    for _ in range(warm):
        t0 = time.perf_counter()
        float(mixedlm.lmer(FORMULA, df, REML=False).logLik())
        warm_s.append(time.perf_counter() - t0)
    out["warm_s"] = warm_s
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _worker(engine: str, path: Path, warm: int, force: bool) -> None:
    try:
        res = _worker_mixjax(path, warm, force) if engine == "mixjax" else _worker_mixedlm(path, warm)
    except Exception as e:  # noqa: BLE001 (report, never crash the runner)
        import traceback

        res = {"error": f"{type(e).__name__}: {e}"[:800], "traceback": traceback.format_exc()[-2000:]}
    print(RESULT_MARK + json.dumps(res), flush=True)


# ------------------------------------------------------------------------------------------------ parent


def _run_lme4(csv: Path, warm: int, timeout: float) -> dict:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"error": "Rscript not found"}
    res = run_marked([rscript, str(R_SCRIPT), str(csv), FORMULA, str(warm)], timeout)
    if "theta" in res:
        res.update(_varcomp_from_theta(res["theta"], res["sigma"]))
    return res


def _fmt(x, digits=3) -> str:
    if x is None or x == []:
        return ""
    if isinstance(x, list):
        return ", ".join(_fmt(v, digits) for v in x)
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:.0f}"


def markdown(result: dict) -> str:
    d = result["data"]
    lines = [f"Data (scale {result['scale']}): {d['rows']:,} rows, {d['users']:,} users, {d['movies']:,} movies; "
             f"ratings per user min {d['per_user']['min']:.0f} / median {d['per_user']['median']:.0f} / mean "
             f"{d['per_user']['mean']:.0f} / p99 {d['per_user']['p99']:.0f} / max {d['per_user']['max']:.0f}; per "
             f"movie median {d['per_movie']['median']:.0f} / mean {d['per_movie']['mean']:.0f} / p99 "
             f"{d['per_movie']['p99']:.0f} / max {d['per_movie']['max']:.0f} ({d['movies_with_at_most_10']:,} movies "
             f"with at most 10); generated in {result['generate_s']:.1f} s; mixjax's coupling pairs "
             f"(sum over users of c(c+1)/2): {d['all_pairs']:,}, of which mixjax lists {d['mixjax_pairs']:,} "
             f"({d['mixjax_heavy_levels']:,} heavy users' coupling kept as dense rows).", "",
             "| engine | load (s) | first fit (s) | warm fit (s) | peak RSS (MB) | logLik | logLik - lme4 | "
             "sd user | sd movie | sigma | note |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    ref = result["engines"].get("lme4", {}).get("loglik")
    for name, r in result["engines"].items():
        ll = r.get("loglik")
        diff = "" if ll is None or ref is None or name == "lme4" else f"{ll - ref:.2e}"
        note = " ".join(x for x in (r.get("error"), r.get("note")) if x)
        if name == "mixjax" and r.get("value_grad_s"):
            note = (note + f" stages (warm): build_design {_fmt(r.get('build_design_s'))} s, make_lmm "
                    f"{_fmt(r.get('make_lmm_s'))} s, value+gradient {_fmt(r['value_grad_s'])} s").strip()
        lines.append(f"| {name} | {_fmt(r.get('load_s'))} | {_fmt(r.get('first_s'))} | {_fmt(r.get('warm_s'))} | "
                     f"{_fmt(r.get('peak_rss_mb'))} | {'' if ll is None else f'{ll:.4f}'} | {diff} | "
                     f"{_fmt(r.get('sd_user'), 5)} | {_fmt(r.get('sd_movie'), 5)} | {_fmt(r.get('sigma'), 5)} | "
                     f"{note} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", choices=["mixjax", "mixedlm"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--scale", type=float, default=0.1, help="fraction of ml-32m's size (1: full size)")
    ap.add_argument("--engines", default="mixjax,mixedlm,lme4")
    ap.add_argument("--warm", type=int, default=1, help="warm fits after the first (0: none)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per engine")
    ap.add_argument("--force", action="store_true", help="run mixjax even where its memory estimate is too large")
    ap.add_argument("--cache-dir", type=Path, help="mixjax's MIXJAX_CACHE_DIR (default: a new one in the workdir, "
                    "so that the first fit compiles)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--workdir", type=Path, help="data files (default: a new temporary folder, removed after)")
    args = ap.parse_args(argv)
    if args.worker:
        return _worker(args.worker, args.data, args.warm, args.force)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    s = sizes(args.scale)
    need_gb = s["rows"] * 40 / 2**30  # codes, y, keys and the chunk's temporaries
    avail = mem_available_gb()
    print(f"scale {args.scale}: {s}; about {need_gb:.1f} GB to generate, {avail:.1f} GB available", flush=True)
    if need_gb > 0.9 * avail:
        sys.exit(f"not enough memory to generate the data: about {need_gb:.1f} GB needed, {avail:.1f} GB available")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mixjax-ml32m-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = generate(args.scale, verbose=True)
    gen_s = time.perf_counter() - t0
    desc = describe(data)
    result = dict(scale=args.scale, sizes=s, generate_s=gen_s, data=desc, engines={},
                  mixjax_memory_estimate=mixjax_memory_gb(desc), date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                  command="python -m benchmarks.ml32m " + " ".join(argv if argv is not None else sys.argv[1:]),
                  cpus=os.cpu_count(), source=str(ROOT))
    print(json.dumps({k: result[k] for k in ("generate_s", "data", "mixjax_memory_estimate")}), flush=True)
    npz = work / f"ml32m-{args.scale:g}.npz"
    np.savez(npz, user=data["user"], movie=data["movie"], y=data["y"], n_users=data["n_users"],
             n_movies=data["n_movies"], dropped=data["dropped"])
    if "lme4" in engines:
        import pandas as pd

        csv = work / f"ml32m-{args.scale:g}.csv"
        t0 = time.perf_counter()
        pd.DataFrame({"user": data["user"], "movie": data["movie"], "y": data["y"]}).to_csv(csv, index=False)
        result["csv_write_s"] = time.perf_counter() - t0
    del data
    for engine in engines:
        print(f"{engine} ...", flush=True)
        if engine == "lme4":
            res = _run_lme4(csv, args.warm, args.timeout)
        else:
            cmd = [sys.executable, "-m", "benchmarks.ml32m", "--worker", engine, "--data", str(npz),
                   "--warm", str(args.warm)] + (["--force"] if args.force else [])
            env = dict(os.environ, MIXJAX_CACHE_DIR=str(args.cache_dir or work / "cache" / "jax"))
            res = run_marked(cmd, args.timeout, env)
        result["engines"][engine] = res
        print(engine, json.dumps({k: v for k, v in res.items() if k != "traceback"}), flush=True)
        if args.json:
            args.json.write_text(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    if args.markdown:
        print(markdown(result))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
