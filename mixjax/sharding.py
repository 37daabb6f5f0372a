"""Rows sharded over devices (``devices=`` of ``lmm``, ``glmm``, ``lmm_many``), and over the processes of a
``jax.distributed`` job.

The rows are split over a one-dimensional mesh (``Mesh(devices, ("rows",))``): each device holds ``n_pad / D``
rows, ``n_pad`` the row count padded up to a multiple of the device count ``D`` (in a job of several processes:
``D`` times the largest per-process count, each process padding its own rows). A padded row is a copy of a real
row with prior weight 0, so it adds exactly 0 to every sum (``0 * finite``) and ``log w`` is taken over the real
rows only. Every sum over rows is then a sum of per-device partial sums, which XLA's SPMD partitioner reduces with
collectives (all-reduce); nothing of size n leaves its device.

- LMM: the cross-products ``A = [Z X y]' W [Z X y]`` (``mixjax.linalg.crossprod.device_crossproducts``) from the
  sharded rows, replicated; the sparse coupling structure is the union over the rows of (level of term 1,
  column of the other terms) pairs, gathered from every process. The optimization over theta then runs on one
  device from these (small) arrays, exactly as in one process: its cost does not depend on n.
- GLMM: the row arrays of ``GlmmData`` sharded; the compiled Newton loop (PIRLS for the modes, Laplace or AGHQ)
  runs over them as one SPMD program, its results replicated.
- ``lmm_many``: the cross-products as for the LMM, and each response's blocks (``response_blocks``) over the
  sharded rows.

Across processes (``mixjax.distributed``), each process calls the same function with its own rows; the results
(estimates, log-likelihood) are the same in every process.
"""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from . import distributed
from .linalg.crossprod import (
    CrossProducts,
    Rows,
    _pairs,
    _rest_columns,
    device_crossproducts,
    engine_terms,
    flat_index,
)

__all__ = ["mesh_of", "build", "crossproducts", "start", "shard_glmm", "global_fit", "shard_many"]


def mesh_of(devices, *, caller: str = "lmm", residual: bool = False, relmat=None) -> Mesh | None:
    """The one-dimensional mesh of ``devices`` (``"all"``: ``jax.devices()``, every process's; a list of
    devices; a ``jax.sharding.Mesh`` with one axis); None for None. Raises ``ValueError`` for anything else."""
    if devices is None:
        return None
    if residual or relmat:
        what = "relmat=" if relmat else "residual structures (correlation=, a variance function in weights=)"
        raise ValueError(f"devices= with {what} is not supported: fit that model without devices=.")
    if isinstance(devices, Mesh):
        if len(devices.axis_names) != 1:
            raise ValueError(f"devices= takes a one-dimensional Mesh (the rows are split along its axis); this one has "
                             f"axes {devices.axis_names}.")
        mesh = devices
    elif isinstance(devices, str) and devices == "all":
        mesh = Mesh(np.array(jax.devices()), ("rows",))
    elif isinstance(devices, (list, tuple)) and devices and all(isinstance(d, jax.Device) for d in devices):
        if len(set(devices)) != len(devices):
            raise ValueError("devices= lists a device more than once.")
        mesh = Mesh(np.array(devices), ("rows",))
    else:
        raise ValueError(f"devices= takes 'all', a non-empty list of jax devices (jax.devices()) or a one-axis "
                         f"jax.sharding.Mesh; got {devices!r}.")
    flat = list(mesh.devices.flat)
    platforms = sorted({d.platform for d in flat})
    if len(platforms) > 1:
        raise ValueError(f"devices= mixes platforms ({', '.join(platforms)}); give devices of one kind.")
    per = [sum(d.process_index == p for d in flat) for p in range(jax.process_count())]
    if len(set(per)) != 1:
        raise ValueError(f"devices= must hold the same number of devices of every process of the job ({per} per "
                         "process): each process's rows go to its own devices.")
    if jax.process_count() > 1 and caller == "lmm_many":
        raise ValueError("lmm_many with devices= runs in one process; in a multi-process job fit each response with "
                         "mixjax.lmm.")
    return mesh


def _axis(mesh: Mesh) -> str:
    return mesh.axis_names[0]


def build(mesh: Mesh, formula: str, data, **kwargs):
    """The design: ``mixjax.design.build`` in one process; with the levels of every process's rows in several."""
    if jax.process_count() == 1:
        from .design import build as design_build

        return design_build(formula, data, **kwargs)
    return distributed.build(formula, data, **kwargs)


def _per_process(mesh: Mesh, n: int) -> int:
    """Rows per process after padding: the largest process's count, up to a multiple of its device count."""
    local = sum(d.process_index == jax.process_index() for d in mesh.devices.flat)
    return max(local, math.ceil(max(distributed.allgather(n)) / local) * local)


def place_rows(mesh: Mesh, arrays: dict, per: int) -> dict:
    """Each ``(n, ...)`` array padded to ``per`` rows (copies of row 0; ``"weights"`` padded with 0) and split
    along its first axis over ``mesh``, as one global array of ``per * processes`` rows."""
    sharding = NamedSharding(mesh, P(_axis(mesh)))
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        fill = np.zeros((per - len(a),) + a.shape[1:], a.dtype) if name == "weights" else \
            np.repeat(a[:1], per - len(a), axis=0)
        local = np.concatenate([a, fill])
        out[name] = jax.make_array_from_process_local_data(sharding, local, (per * jax.process_count(),) + a.shape[1:])
    return out


def replicated(mesh: Mesh, a) -> jax.Array:
    """``a`` (the same in every process) on every device of ``mesh``."""
    a = np.asarray(a)
    return jax.make_array_from_callback(a.shape, NamedSharding(mesh, P()), lambda index: a[index])


@functools.partial(jax.jit, static_argnames=("l1", "qr", "n_entries", "mesh"))
def _crossproducts(r: Rows, l1: int, qr: int, n_entries: int, mesh: Mesh):
    """``device_crossproducts`` of sharded rows, ``log|W|`` over the rows of positive weight (not the padding);
    the results replicated over ``mesh``."""
    D0, A_low, Cxy, ev, pval, _ = device_crossproducts(r, l1, qr, n_entries)
    log_det_w = jnp.sum(jnp.where(r.weights > 0, jnp.log(jnp.where(r.weights > 0, r.weights, 1.0)), 0.0))
    return jax.lax.with_sharding_constraint((D0, A_low, Cxy, ev, pval, log_det_w), NamedSharding(mesh, P()))


def _coupling(t1, cols: np.ndarray, qr: int) -> np.ndarray:
    """Sorted keys ``level * qr + column`` of the coupling of term 1 with the other terms' columns: the pairs met
    by a row whose term-1 columns are not all 0 (``crossproducts``' structural pattern), over every process."""
    nz = (t1.Z != 0).any(axis=1)
    local = np.unique((t1.codes[nz, None].astype(np.int64) * qr + cols[nz]).ravel())
    return np.unique(np.concatenate(distributed.allgather(local)))


def crossproducts(design, mesh: Mesh) -> CrossProducts:
    """The cross-products of all rows (every process's), as ``mixjax.linalg.crossprod.crossproducts`` builds them
    in one process, from rows sharded over ``mesh``; ``cols`` and ``entry`` are this process's rows'."""
    terms = engine_terms(design)
    t1, rest = terms[0], terms[1:]
    l1, n = t1.n_levels, len(design.weights)
    cols = _rest_columns(design)
    qr = sum(t.n_levels * t.k for t in rest)
    if rest:
        keys = _coupling(t1, cols, qr)
        eg, ej = (keys // qr).astype(np.int32), (keys % qr).astype(np.int32)
        first, second = _pairs(eg, np.searchsorted(eg, np.arange(l1)))
        first, second = first.astype(np.int32), second.astype(np.int32)
        pg, ptarget = eg[first], flat_index(ej[first], ej[second], qr, qr + design.X.shape[1] + 1)
        entry = np.searchsorted(keys, t1.codes[:, None].astype(np.int64) * qr + cols).astype(np.int32)
    else:
        eg = ej = pg = ptarget = first = second = np.zeros(0, dtype=np.int32)
        entry = np.zeros((n, 0), dtype=np.int32)
    Zr = np.concatenate([t.Z for t in rest], axis=1) if rest else np.zeros((n, 0))
    placed = place_rows(mesh, {"y": design.y, "weights": design.weights, "X": design.X, "codes1": t1.codes, "Z1": t1.Z,
                               "Zr": Zr, "cols": cols, "entry": entry}, _per_process(mesh, n))
    r = Rows(**placed, first=replicated(mesh, first), second=replicated(mesh, second))
    D0, A_low, Cxy, ev, pval, log_det_w = jax.device_get(_crossproducts(r, l1, qr, len(eg), mesh))
    return CrossProducts(D0=D0, A_low=A_low, Cxy=Cxy, eg=eg, ej=ej, ev=ev, pg=pg, ptarget=ptarget, pval=pval,
                         log_det_w=float(log_det_w), n_obs=int(sum(distributed.allgather(n))), cols=cols,
                         entry=entry, first=first, second=second)


def start(objective, design, theta0: np.ndarray, given) -> tuple[np.ndarray, bool]:
    """(theta start, whether given) of an LMM over sharded rows. In several processes, where L-BFGS-B would start
    each process from its own rows' moment estimates (``mixjax.start``), all start from process 0's, so that
    every process runs the same iterations."""
    from .engines.lmm import DENSE_NEWTON_MAX
    from .start import moment_start

    if given is not None or jax.process_count() == 1 or objective.spec.nr <= DENSE_NEWTON_MAX:
        return theta0, given is not None
    return distributed.allgather(moment_start(design))[0], True


def shard_many(objective, Y: np.ndarray, mesh: Mesh):
    """``lmm_many``'s objective with its rows sharded over ``mesh`` and the responses ``Y`` (m, n) padded to match
    (one process). Where the fits run one by one (L-BFGS-B: a large dense block) they use the design's rows."""
    from .engines.lmm import DENSE_NEWTON_MAX

    if objective.spec.nr > DENSE_NEWTON_MAX:  # one L-BFGS-B fit per response on the design's rows: not sharded
        return objective, Y
    rows = objective.rows
    per = _per_process(mesh, len(rows.y))
    names = ("y", "weights", "X", "codes1", "Z1", "Zr", "cols", "entry")
    placed = place_rows(mesh, {k: getattr(rows, k) for k in names}, per)
    sharded = rows._replace(**placed, first=replicated(mesh, rows.first), second=replicated(mesh, rows.second))
    Y = np.asarray(Y, dtype=np.float64)
    padded = np.concatenate([Y, np.repeat(Y[:, :1], per - Y.shape[1], axis=1)], axis=1)
    return objective._replace(rows=sharded, programs={}), padded


def shard_glmm(objective, design, mesh: Mesh):
    """``objective`` (``make_glmm``) over rows sharded on ``mesh``: its row arrays padded and placed, its start
    values from all processes' rows; its spec the one of all rows."""
    from .objectives.glmm import HESSIAN_BY_COLUMNS_ROWS, _zeros

    d = objective.data
    n = design.n_obs
    names = ("y", "trials", "weights", "X", "offset", "zi", "disp")
    arrays = {k: np.asarray(getattr(d, k)) for k in names if getattr(d, k) is not None}
    arrays.update({f"codes{i}": np.asarray(c) for i, c in enumerate(d.codes)})
    arrays.update({f"Z{i}": np.asarray(z) for i, z in enumerate(d.Z)})
    placed = place_rows(mesh, arrays, _per_process(mesh, n))
    data = d._replace(**{k: placed[k] for k in names if k in placed},
                      codes=tuple(placed[f"codes{i}"] for i in range(len(d.codes))),
                      Z=tuple(placed[f"Z{i}"] for i in range(len(d.Z))),
                      nodes=replicated(mesh, d.nodes), log_weights=replicated(mesh, d.log_weights))
    n_all = int(sum(distributed.allgather(n)))
    spec = objective.spec._replace(hessian_by_columns=n_all > HESSIAN_BY_COLUMNS_ROWS)
    start = objective.start
    if jax.process_count() > 1:
        offset = np.zeros(n) if design.offset is None else design.offset
        beta0, fam0 = distributed.glm_start(design.X, offset, objective.spec.family, objective.response)
        start = np.concatenate([design.theta_start, beta0, fam0])
    zeros = tuple(np.asarray(z) for z in _zeros(spec))
    return objective._replace(data=data, spec=spec, start=start, last_mode={"u": zeros})


def global_fit(fit, run=None):
    """The fit to return. One process: ``fit`` itself (its objective on one device, unpadded). Several: ``fit``
    with the sharded objective ``run`` (GLMM) and ``nobs`` counting the rows of every process."""
    if jax.process_count() == 1:
        return fit
    from .results.multiprocess import across_processes

    return across_processes(fit, run, int(sum(distributed.allgather(fit.design.n_obs))))
