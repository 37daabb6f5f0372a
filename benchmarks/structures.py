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
    """Where the warm AR(1) fit of ``sim_ar1`` spends its time, and two prototypes of a faster evaluation."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from mixjax.linalg.crossprod import crossproducts, device_crossproducts
    from mixjax.objectives import lmm_residual as LR
    from mixjax.objectives.lmm import LmmData, _deviance
    from mixjax.optim import trust_region
    from mixjax.optim.newton import start as newton_start
    from mixjax.residual import whiten

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
    call = mixjax_call("sim_ar1")
    fit = call(data)  # compiles (not timed here: see the table)
    out["warm_fit"] = timed(lambda: call(data).loglik, k=3)
    fit_id = mixjax_call("sim_id")(data)
    out["warm_fit_identity"] = timed(lambda: mixjax_call("sim_id")(data).loglik, k=3)
    out["identity_host_crossproducts"] = timed(lambda: crossproducts(fit_id.design), k=3)

    obj, sol = fit.residual.objective, fit.residual.solution
    spec, dd = obj.spec, jax.device_put(obj.data)
    x = np.asarray(sol.x)
    nt = spec.n_theta
    out["newton_iterations"] = int(sol.iterations)
    out["x_hat"] = x.tolist()
    index = np.flatnonzero(obj.free)
    x0 = obj.start.copy()
    z0, r0 = newton_start(x0[index], obj.lower[index], None)
    state = LR.newton(z0, obj.lower[index], r0, np.int32(300), index, x0, dd, spec)
    out["newton_from_start"] = {"iterations": int(state.iterations), "evaluations": int(state.evaluations)}
    out["newton_loop"] = timed(lambda: LR.newton(z0, obj.lower[index], r0, np.int32(300), index, x0, dd, spec).f, k=2)
    out["minimize_host_data"] = timed(lambda: obj.minimize(obj.start).fun, k=2)
    out["deviance"] = timed(lambda: LR.deviance(x, dd, spec))
    out["value_grad_hess"] = timed(lambda: LR.value_grad_hess(x, dd, spec))
    lmm_data = jax.jit(LR.lmm_data, static_argnames="spec")
    out["lmm_data"] = timed(lambda: lmm_data(x, dd, spec))
    r = dd.rows
    E = jnp.concatenate([r.X, r.y[:, None], r.Z1, r.Zr], axis=1)
    wj = jax.jit(whiten, static_argnames="bound")
    out["whiten"] = timed(lambda: wj(x[nt:], E, dd.arrays, spec.bound))
    dc = jax.jit(device_crossproducts, static_argnums=(1, 2, 3))
    out["device_crossproducts"] = timed(lambda: dc(r, spec.l1, spec.lmm.qr, spec.n_entries))
    L = lmm_data(x, dd, spec)
    dev = jax.jit(lambda th, L: _deviance(th, L, spec.lmm))
    out["deviance_given_crossproducts"] = timed(lambda: dev(x[:nt], L))
    hess = jax.jit(jax.hessian(lambda th, L: _deviance(th, L, spec.lmm)))
    out["theta_hessian_given_crossproducts"] = timed(lambda: hess(x[:nt], L))
    ref = [np.asarray(a) for a in LR.value_grad_hess(x, dd, spec)]

    # Prototype A (any residual structure): the n-row work once per Newton iteration, as the cross-products and
    # their first and second derivatives in rho by forward mode; the deviance's value, gradient and Hessian in
    # (theta, s) then come from level-sized arrays, L(rho + s) = L0 + s L1 + s^2 / 2 L2 (exact at s = 0).
    one = jnp.ones(spec.n_x - nt)

    def taylor(rho):
        of_rho = lambda q: LR.lmm_data(jnp.concatenate([x[:nt], q]), dd, spec)
        d1 = lambda q: jax.jvp(of_rho, (q,), (one,))
        (L0, L1), (_, L2) = jax.jvp(d1, (rho,), (one,))
        return L0, L1, L2

    def vgh_taylor(z):
        L0, L1, L2 = taylor(z[nt:])

        def g(w):
            s = w[nt]
            Ls = jax.tree_util.tree_map(
                lambda a, b, c: a + s * b + 0.5 * s * s * c if jnp.issubdtype(a.dtype, jnp.floating) else a, L0, L1, L2)
            return _deviance(w[:nt], Ls, spec.lmm)

        w = jnp.concatenate([z[:nt], jnp.zeros(1)])
        return g(w), jax.grad(g)(w), jax.hessian(g)(w)

    if spec.n_x - nt == 1:
        vt = jax.jit(vgh_taylor)
        out["prototype_taylor_value_grad_hess"] = timed(lambda: vt(jnp.asarray(x)))
        got = [np.asarray(a) for a in vt(jnp.asarray(x))]
        out["prototype_taylor_max_rel_diff"] = max(float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))
                                                   for a, b in zip(got, ref))

    # Prototype B (Markov correlation, no variance function, one random-effects term): the whitened cross-products
    # of a level are F + sum_k (S0_k - a_k (S1_k + S1_k') + a_k^2 S2_k) / (1 - a_k^2) over the classes k of gaps
    # (a_k = phi^gap_k), F, S0, S1, S2 per level summed once over the rows (E_i E_i', E_i E_prev', E_prev E_prev');
    # each evaluation is then O(levels), no n-row work at all.
    b = spec.bound
    if b.markov and not b.variances and spec.lmm.qr == 0:
        t0 = time.perf_counter()
        rows, arr = obj.data.rows, obj.data.arrays
        En = np.concatenate([rows.X, rows.y[:, None], rows.Z1], axis=1) * np.sqrt(rows.weights)[:, None]
        codes, l1 = np.asarray(rows.codes1), spec.l1
        c = En.shape[1]
        gap = np.asarray(arr.gap)
        firsts = gap == 0
        gaps, klass = np.unique(gap[~firsts], return_inverse=True)

        z1 = slice(c - rows.Z1.shape[1], c)  # the Z1 columns of [X y Z1]
        later = ~firsts
        K = len(gaps)

        def level_outer(U, V, where, k=None):
            """Per level (and gap class), the sums over rows of outer(U_row[Z1 columns], V_row): (l1, K, k1, c)."""
            idx = codes[where] * K + (0 if k is None else k)
            prod = (U[where][:, z1, None] * V[where][:, None, :]).reshape(len(idx), -1)
            out = np.stack([np.bincount(idx, prod[:, j], l1 * K) for j in range(prod.shape[1])], 1)
            return out.reshape(l1, K, -1, c)

        def total_outer(U, V, where, k):
            """Per gap class, the sums over all rows of outer(U_row, V_row): (K, c, c)."""
            return np.stack([U[where & (kk == j)].T @ V[where & (kk == j)] for j in range(K)])

        kk = np.zeros(len(gap), dtype=int)
        kk[later] = klass

        def make_stats():
            Ep = En[np.asarray(arr.prev)]
            Fz = level_outer(En, En, firsts)[:, 0]
            Ft = En[firsts].T @ En[firsts]
            Sz = [level_outer(U, V, later, klass) for U, V in ((En, En), (En, Ep), (Ep, En), (Ep, Ep))]
            St = [total_outer(U, V, later, kk) for U, V in ((En, En), (En, Ep), (Ep, Ep))]
            n_k = np.bincount(klass, minlength=K).astype(float)
            return jax.device_put((Fz, Ft, *Sz, *St, gaps, n_k))

        stats = make_stats()
        out["prototype_stats_host_s"] = time.perf_counter() - t0
        p, d = rows.X.shape[1], dd

        def L_of(rho, stats):
            Fz, Ft, S0z, S1z, S1tz, S2z, S0t, S1t, S2t, gaps, n_k = stats
            a = b.correlation.lag(rho, gaps, b.m)
            den = 1.0 - a**2
            c0, c1, c2 = 1.0 / den, -a / den, a**2 / den  # per gap class
            Wz = Fz + jnp.sum(c0[:, None, None] * S0z + c1[:, None, None] * (S1z + S1tz) + c2[:, None, None] * S2z,
                              axis=1)
            Wt = Ft + jnp.sum(c0[:, None, None] * S0t + c1[:, None, None] * (S1t + jnp.swapaxes(S1t, 1, 2))
                              + c2[:, None, None] * S2t, axis=0)
            k1 = c - p - 1
            return LmmData(Wz[:, :, p + 1 :], jnp.tril(Wt[: p + 1, : p + 1]), Wz[:, :, : p + 1], d.eg, d.ej,
                           jnp.zeros((0, k1)), d.pg, d.ptarget, jnp.zeros((0, k1, k1)), d.n,
                           jnp.sum(jnp.log(d.rows.weights)) - jnp.sum(n_k * jnp.log(den)))

        def dev_b(z, stats):
            return _deviance(z[:nt], L_of(z[nt:], stats), spec.lmm)

        @jax.jit
        def vgh_b(z, stats):
            return dev_b(z, stats), jax.grad(dev_b)(z, stats), jax.hessian(dev_b)(z, stats)

        out["prototype_stats_value_grad_hess"] = timed(lambda: vgh_b(jnp.asarray(x), stats))
        got = [np.asarray(a) for a in vgh_b(jnp.asarray(x), stats)]
        out["prototype_stats_max_rel_diff"] = max(float(np.max(np.abs(a - b_)) / max(1.0, float(np.max(np.abs(b_)))))
                                                  for a, b_ in zip(got, ref))

        @jax.jit
        def newton_b(z0, lower, r0, stats):
            return trust_region.loop(lambda z, aux: (*vgh_b(z, stats), aux), z0, lower, r0, max_iter=300)[0]

        st = newton_b(z0, obj.lower[index], r0, stats)
        out["prototype_stats_newton"] = {**timed(lambda: newton_b(z0, obj.lower[index], r0, stats).f, k=3),
                                         "iterations": int(st.iterations), "deviance": float(st.f),
                                         "deviance_now": float(sol.fun)}

        def whole():  # the prototype's share of a fit: the statistics from the rows, then the Newton loop
            return newton_b(z0, obj.lower[index], r0, make_stats()).f

        out["prototype_stats_stats_plus_newton"] = timed(whole, k=2)
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
