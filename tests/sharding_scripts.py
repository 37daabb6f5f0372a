"""Programs that ``test_sharding.py`` runs in their own processes (JAX's device count and its distributed runtime are
fixed when JAX starts): ``python tests/sharding_scripts.py devices OUT`` fits on 4 forced host devices and on one,
``python tests/sharding_scripts.py process ID PORT OUT`` is one process of a two-process ``jax.distributed`` job.
Each writes its numbers to ``OUT`` as JSON; the tests compare them."""
from __future__ import annotations

import json
import sys


def _summary(fit) -> dict:
    return {"loglik": float(fit.loglik), "fixef": fit.fixef.tolist(), "theta": fit.theta.tolist(), "nobs": fit.nobs}


def _diff(a, b) -> dict:
    """Largest absolute differences of logLik, fixef and theta between two fits (and that the names agree)."""
    same = list(a.fixef.index) == list(b.fixef.index) and list(a.theta.index) == list(b.theta.index)
    return {"loglik": abs(a.loglik - b.loglik), "fixef": float(abs(a.fixef - b.fixef).max()),
            "theta": float(abs(a.theta - b.theta).max()), "names": same, "nobs": [a.nobs, b.nobs]}


def devices(out: str) -> None:
    import os

    assert "--xla_force_host_platform_device_count=4" in os.environ.get("XLA_FLAGS", "")
    import jax
    import numpy as np
    from jax.sharding import Mesh

    import mixjax
    from mixjax import sharding
    from mixjax.linalg.crossprod import crossproducts
    from mixjax.objectives.glmm import make_glmm

    assert len(jax.devices()) == 4
    res = {}
    sleep = mixjax.datasets.load("sleepstudy")
    f = "Reaction ~ Days + (Days | Subject)"
    res["sleepstudy"] = _diff(mixjax.lmm(f, sleep), mixjax.lmm(f, sleep, devices="all"))
    res["sleepstudy_uneven"] = _diff(mixjax.lmm(f, sleep.iloc[:-1]), mixjax.lmm(f, sleep.iloc[:-1], devices="all"))

    pen = mixjax.datasets.load("Penicillin")
    f = "diameter ~ 1 + (1|plate) + (1|sample)"
    mesh = Mesh(np.array(jax.devices()), ("rows",))
    res["penicillin"] = _diff(mixjax.lmm(f, pen), mixjax.lmm(f, pen, devices=mesh))
    uneven = pen.iloc[:-3]  # 141 rows on 4 devices
    res["penicillin_uneven"] = _diff(mixjax.lmm(f, uneven), mixjax.lmm(f, uneven, devices=mesh))
    design = mixjax.build_design(f, uneven)
    host, dev = crossproducts(design), sharding.crossproducts(design, mesh)
    res["crossproducts_structure_equal"] = all(np.array_equal(getattr(host, k), getattr(dev, k)) for k in (
        "eg", "ej", "pg", "ptarget", "first", "second", "cols", "entry")) and host.n_obs == dev.n_obs
    res["crossproducts_max_rel"] = max(
        float(np.max(np.abs(np.asarray(getattr(host, k)) - getattr(dev, k)), initial=0.0)
              / max(1.0, float(np.max(np.abs(getattr(host, k)), initial=0.0))))
        for k in ("D0", "A_low", "Cxy", "ev", "pval", "log_det_w"))

    cbpp = mixjax.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    three = jax.devices()[:3]  # 56 rows on 3 devices: one padded row
    res["cbpp"] = _diff(mixjax.glmm(f, cbpp, family="binomial"), mixjax.glmm(f, cbpp, family="binomial", devices=three))
    # the per-row arrays of the objective that is optimized really are split over the devices
    design = mixjax.build_design(f, cbpp, glmm=True)
    fam = mixjax.families.get("binomial")
    resp = fam.response(design.y, design.weights, design.response_levels, design.parsed.response)
    run = sharding.shard_glmm(make_glmm(design, fam, resp), design, Mesh(np.array(three), ("rows",)))
    y, w = run.data.y, run.data.weights
    shards = y.addressable_shards
    res["glmm_rows"] = {"shards": len(shards), "shard_rows": [s.data.shape[0] for s in shards],
                        "devices": len({s.device for s in shards}), "n_pad": int(y.shape[0]),
                        "replicated": bool(y.sharding.is_fully_replicated),
                        "padded_weights": np.asarray(w)[56:].tolist(),
                        "real_weights_equal": bool(np.array_equal(np.asarray(w)[:56], design.weights))}

    rng = np.random.default_rng(1)
    data = sleep.iloc[:-5]  # 175 rows on 4 devices
    Y = data["Reaction"].to_numpy()[:, None] + rng.normal(0.0, 20.0, (len(data), 3))
    one, four = (mixjax.lmm_many("~ Days + (Days | Subject)", data, Y, devices=d) for d in (None, "all"))
    res["lmm_many"] = {"loglik": float(np.max(np.abs(one.loglik.to_numpy() - four.loglik.to_numpy()))),
                       "fixef": float(np.max(np.abs(one.fixef.to_numpy() - four.fixef.to_numpy()))),
                       "theta": float(np.max(np.abs(one.theta.to_numpy() - four.theta.to_numpy())))}
    with open(out, "w") as fh:
        json.dump(res, fh)


def process(pid: int, port: str, out: str) -> None:
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"localhost:{port}", num_processes=2, process_id=pid)
    import mixjax

    res = {"devices": len(jax.devices()), "processes": jax.process_count()}
    # 70 and 74 rows: uneven; each process sees its own plates, and the crossed coupling is the union of both's
    pen = mixjax.datasets.load("Penicillin")
    local = pen.iloc[:70] if pid == 0 else pen.iloc[70:]
    fit = mixjax.lmm("diameter ~ 1 + (1|plate) + (1|sample)", local, devices="all")
    res["penicillin"] = _summary(fit) | {"ranef": fit.ranef["plate"].to_numpy().ravel().tolist(),
                                         "own_rows": [len(fit.fitted()), len(fit.residuals()), len(local)]}
    res["errors"] = {}
    try:
        fit.condvar
    except ValueError as err:
        res["errors"]["condvar"] = str(err)
    bad = {"categories": local.assign(plate=local["plate"].cat.add_categories(["zz"]) if pid else local["plate"]),
           "rank": local.assign(x=float(pid))}  # x is constant on each process's rows: aliased with the intercept
    for name, frame in bad.items():
        try:
            mixjax.lmm("diameter ~ 1 + x + (1|plate) + (1|sample)" if name == "rank" else
                       "diameter ~ 1 + (1|plate) + (1|sample)", frame, devices="all")
        except ValueError as err:
            res["errors"][name] = str(err)
    cbpp = mixjax.datasets.load("cbpp")
    local = cbpp.iloc[:30] if pid == 0 else cbpp.iloc[30:]
    fit = mixjax.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", local, family="binomial",
                      devices="all")
    res["cbpp"] = _summary(fit) | {"ranef": fit.ranef["herd"].to_numpy().ravel().tolist()}
    with open(out, "w") as fh:
        json.dump(res, fh)


if __name__ == "__main__":
    if sys.argv[1] == "devices":
        devices(sys.argv[2])
    else:
        process(int(sys.argv[2]), sys.argv[3], sys.argv[4])
