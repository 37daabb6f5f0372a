"""Parametric bootstrap and many-response fits of two Python peers, timed in the current process.

* lme-python (PyPI ``lme-python``, import ``lme_python``; Rust core, pandas input needs ``pyarrow``):
  ``lme_python.lmer`` / ``glmer_weighted``, ``lme_python.boot_lmer`` / ``boot_glmer`` (replicates refit on a
  rayon thread pool, ``n_jobs=None`` = all CPUs), ``lme_python.prepare_lmer(...).fit(y=...)`` for many responses.
  Its parametric bootstrap simulates around the *conditional* fitted values (random effects held at their
  BLUPs, only new residual / binomial noise: lme4's ``use.u=TRUE``), so its SDs are smaller than lme4's default.
* mixedlm (PyPI ``mixedlm``, lme4 port with a Rust core): ``mixedlm.lmer`` / ``glmer``, ``mixedlm.bootMer``
  (new random effects each replicate, as lme4's default; ``n_jobs=1`` in-process, ``n_jobs>1`` a forkserver
  process pool created per call), ``mixedlm.estimation.LMMOptimizer(...).with_response(y).optimize(...)`` for
  many responses (what ``bootMer`` uses internally).

Run ``python -m benchmarks.peers_batch [nsim]`` from the repository root; it prints JSON.
"""

import json
import os
import sys
import time

import numpy as np

FORMULA = "Reaction ~ Days + (Days | Subject)"
CBPP_RHS = "period + (1 | herd)"
NCPU = len(os.sched_getaffinity(0))


def _data(name):
    import mixjax

    return mixjax.datasets.load(name)


def _timed(f):
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def _sds(samples, names):
    sd = np.nanstd(np.asarray(samples, float), axis=0, ddof=1)
    return {n: float(s) for n, s in zip(names, sd)}


def _boot_result(engine, nsim, fit_s, first_s, warm_s, threads, sd, failed, **extra):
    return {"engine": engine, "nsim": nsim, "fit_s": fit_s, "first_s": first_s, "warm_s": warm_s,
            "fits_per_s": nsim / warm_s, "threads": threads, "failed": failed,
            "sd_intercept": sd.get("(Intercept)"), **{f"sd_{k}": v for k, v in sd.items() if k != "(Intercept)"},
            **extra}


def lmepython_bootstrap(nsim: int, seed: int = 1, n_jobs=None) -> dict:
    """``lme_python.lmer(FORMULA, sleep, reml=True)``, then twice
    ``lme_python.boot_lmer(FORMULA, sleep, fit, nsim=nsim, seed=seed, n_jobs=n_jobs)``."""
    try:
        import lme_python
    except ImportError:
        return {"skipped": "lme-python not installed"}
    data = _data("sleepstudy")
    fit_s, fit = _timed(lambda: lme_python.lmer(FORMULA, data, reml=True))
    boot = lambda: lme_python.boot_lmer(FORMULA, data, fit, nsim=nsim, seed=seed, n_jobs=n_jobs)  # noqa: E731
    first_s, _ = _timed(boot)
    warm_s, b = _timed(boot)
    ok = [r.coefficients for r in b.replicates if r.converged]
    return _boot_result("lme-python", nsim, fit_s, first_s, warm_s,
                        f"rayon pool of {n_jobs or NCPU} threads (n_jobs={n_jobs})", _sds(ok, b.fixed_names),
                        nsim - len(ok), resample="conditional on BLUPs (lme4 use.u=TRUE)")


def mixedlm_bootstrap(nsim: int, seed: int = 1, n_jobs: int = 1) -> dict:
    """``mixedlm.lmer(FORMULA, sleep, REML=True)``, then twice ``mixedlm.bootMer(fit, nsim=nsim, seed=seed,
    n_jobs=n_jobs)``."""
    try:
        import mixedlm
    except ImportError:
        return {"skipped": "mixedlm not installed"}
    data = _data("sleepstudy")
    fit_s, fit = _timed(lambda: mixedlm.lmer(FORMULA, data, REML=True))
    boot = lambda: mixedlm.bootMer(fit, nsim=nsim, seed=seed, n_jobs=n_jobs)  # noqa: E731
    first_s, _ = _timed(boot)
    warm_s, b = _timed(boot)
    threads = "in-process" if n_jobs == 1 else f"{n_jobs} forkserver processes, 1 thread each"
    return _boot_result("mixedlm", nsim, fit_s, first_s, warm_s, f"{threads} (n_jobs={n_jobs})",
                        _sds(b.beta_samples, b.fixed_names), int(b.n_failed), resample="new random effects")


def lmepython_glmm_bootstrap(nsim: int, seed: int = 1, n_jobs=None) -> dict:
    """cbpp, binomial: ``lme_python.glmer_weighted("p ~ period + (1 | herd)", cbpp, "binomial", weights=size)``
    with ``p = incidence / size`` (no ``cbind``), then twice ``lme_python.boot_glmer(formula, cbpp, fit,
    nsim=nsim, seed=seed, n_jobs=n_jobs)`` (it takes the trials from the fit's weights)."""
    try:
        import lme_python
    except ImportError:
        return {"skipped": "lme-python not installed"}
    cbpp = _data("cbpp")
    data = cbpp.assign(p=cbpp["incidence"] / cbpp["size"])
    formula, weights = f"p ~ {CBPP_RHS}", cbpp["size"].astype(float).tolist()
    fit_s, fit = _timed(lambda: lme_python.glmer_weighted(formula, data, "binomial", weights=weights))
    boot = lambda: lme_python.boot_glmer(formula, data, fit, nsim=nsim, seed=seed, n_jobs=n_jobs)  # noqa: E731
    first_s, _ = _timed(boot)
    warm_s, b = _timed(boot)
    ok = [r for r in b.replicates if r.converged]
    return _boot_result("lme-python", nsim, fit_s, first_s, warm_s,
                        f"rayon pool of {n_jobs or NCPU} threads (n_jobs={n_jobs})",
                        _sds([r.coefficients for r in ok], b.fixed_names), nsim - len(ok),
                        sd_theta=float(np.std([r.theta[0] for r in ok], ddof=1)),
                        resample="conditional on BLUPs (lme4 use.u=TRUE)")


def mixedlm_glmm_bootstrap(nsim: int, seed: int = 1, n_jobs: int = 1) -> dict:
    """cbpp, binomial: ``mixedlm.glmer("incidence / size ~ period + (1 | herd)", cbpp,
    family=mixedlm.families.Binomial())`` (its successes / trials response; a proportion with
    ``weights=size`` fits the same but then ``bootMer`` fails most replicates), then twice
    ``mixedlm.bootMer(fit, nsim=nsim, seed=seed, n_jobs=n_jobs)``."""
    try:
        import mixedlm
    except ImportError:
        return {"skipped": "mixedlm not installed"}
    cbpp = _data("cbpp")
    fit_s, fit = _timed(lambda: mixedlm.glmer(f"incidence / size ~ {CBPP_RHS}", cbpp,
                                              family=mixedlm.families.Binomial()))
    boot = lambda: mixedlm.bootMer(fit, nsim=nsim, seed=seed, n_jobs=n_jobs)  # noqa: E731
    first_s, _ = _timed(boot)
    warm_s, b = _timed(boot)
    threads = "in-process" if n_jobs == 1 else f"{n_jobs} forkserver processes, 1 thread each"
    return _boot_result("mixedlm", nsim, fit_s, first_s, warm_s, f"{threads} (n_jobs={n_jobs})",
                        _sds(b.beta_samples, b.fixed_names), int(b.n_failed),
                        sd_theta=float(np.nanstd(b.theta_samples[:, 0], ddof=1)), resample="new random effects")


def _many_result(engine, Y, s, method, loop_k, loop_s):
    m = Y.shape[1]
    return {"engine": engine, "m": m, "s": s, "fits_per_s": m / s, "method": method,
            "plain_loop_fits_per_s": loop_k / loop_s}


def lmepython_many(Y: np.ndarray) -> dict:
    """``prep = lme_python.prepare_lmer(FORMULA, sleep)`` then ``prep.fit(y=Y[:, j].tolist(), reml=True)`` for
    each column (a serial loop; the library has no batch call). For comparison, also a plain loop of
    ``lme_python.lmer`` on a copy of the data frame, over the first 20 columns."""
    try:
        import lme_python
    except ImportError:
        return {"skipped": "lme-python not installed"}
    data = _data("sleepstudy")

    def run():
        prep = lme_python.prepare_lmer(FORMULA, data)
        return [prep.fit(y=Y[:, j].tolist(), reml=True) for j in range(Y.shape[1])]

    s, _ = _timed(run)
    k = min(Y.shape[1], 20)
    loop_s, _ = _timed(lambda: [lme_python.lmer(FORMULA, data.assign(Reaction=Y[:, j]), reml=True) for j in range(k)])
    return _many_result("lme-python", Y, s, "prepare_lmer + PyLmerPrepared.fit(y=...) loop", k, loop_s)


def mixedlm_many(Y: np.ndarray) -> dict:
    """``fit = mixedlm.lmer(FORMULA, sleep, REML=True)``, ``opt = mixedlm.estimation.LMMOptimizer(fit.matrices,
    REML=True)``, then ``opt.with_response(Y[:, j]).optimize(start=fit.theta, method="auto")`` for each column
    (the design is prepared once, as in ``bootMer``; time includes the first fit). For comparison, also a plain
    loop of ``mixedlm.lmer`` on a copy of the data frame, over the first 20 columns."""
    try:
        import mixedlm
        from mixedlm.estimation import LMMOptimizer
    except ImportError:
        return {"skipped": "mixedlm not installed"}
    data = _data("sleepstudy")

    def run():
        fit = mixedlm.lmer(FORMULA, data, REML=True)
        opt = LMMOptimizer(fit.matrices, REML=True)
        return [opt.with_response(Y[:, j]).optimize(start=fit.theta, method="auto") for j in range(Y.shape[1])]

    s, _ = _timed(run)
    k = min(Y.shape[1], 20)
    loop_s, _ = _timed(lambda: [mixedlm.lmer(FORMULA, data.assign(Reaction=Y[:, j]), REML=True) for j in range(k)])
    return _many_result("mixedlm", Y, s, "LMMOptimizer.with_response(y).optimize loop", k, loop_s)


def simulate_sleep_responses(m: int, seed: int = 0) -> np.ndarray:
    """(180, m) responses from sleepstudy's REML fit (lme4's estimates), new subject effects per column."""
    d = _data("sleepstudy")
    days, subj = d["Days"].to_numpy(float), d["Subject"].cat.codes.to_numpy()
    rng = np.random.default_rng(seed)
    cov = np.array([[24.74**2, 0.066 * 24.74 * 5.92], [0.066 * 24.74 * 5.92, 5.92**2]])
    b = rng.multivariate_normal([0, 0], cov, size=(m, 18))  # (m, 18, 2)
    eta = 251.405 + 10.467 * days[:, None] + b[:, subj, 0].T + b[:, subj, 1].T * days[:, None]
    return eta + 25.592 * rng.standard_normal((180, m))


if __name__ == "__main__":
    nsim = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    Y = simulate_sleep_responses(nsim)
    runs = {
        "lmepython_bootstrap": lambda: lmepython_bootstrap(nsim),
        "lmepython_bootstrap_serial": lambda: lmepython_bootstrap(nsim, n_jobs=1),
        "mixedlm_bootstrap": lambda: mixedlm_bootstrap(nsim),
        "mixedlm_bootstrap_parallel": lambda: mixedlm_bootstrap(nsim, n_jobs=NCPU),
        "lmepython_glmm_bootstrap": lambda: lmepython_glmm_bootstrap(nsim),
        "mixedlm_glmm_bootstrap": lambda: mixedlm_glmm_bootstrap(nsim),
        "mixedlm_glmm_bootstrap_parallel": lambda: mixedlm_glmm_bootstrap(nsim, n_jobs=NCPU),
        "lmepython_many": lambda: lmepython_many(Y),
        "mixedlm_many": lambda: mixedlm_many(Y),
    }
    out = {"cpus": NCPU}
    for name, f in runs.items():
        try:
            out[name] = f()
        except Exception as e:  # one peer failing should not lose the others' numbers
            out[name] = {"error": f"{type(e).__name__}: {e}"}
        print(name, json.dumps(out[name]), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1))
