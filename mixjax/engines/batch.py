"""What a batch of fits returns: the optimizer's final states and the estimates, one row per fit (a pytree), and
the statistics reported per fit (fixed effects, random-effect SDs and correlations, residual SD, log-likelihood)."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..optim.reflect import reflected_starts
from ..optim.status import Status
from ..optim.trust_region import State

__all__ = ["Batch", "sd_cor"]


class Batch(NamedTuple):
    """``state``: the trust-region states (every field with a leading batch axis); ``beta`` (m, p), ``vcov``
    (m, p, p), ``sigma`` (m,) (ones for GLMMs), ``T``: per term (m, k, k), ``family`` (m, nf) the family's
    parameters (GLMM), ``loglik`` (m,)."""

    state: State
    beta: jax.Array
    vcov: jax.Array
    sigma: jax.Array
    T: tuple
    family: jax.Array
    loglik: jax.Array

    @property
    def size(self) -> int:
        return int(np.shape(self.beta)[0])

    def take(self, index) -> "Batch":
        return jax.tree_util.tree_map(lambda a: a[index], self)


def sd_cor(T: tuple, sigma) -> jax.Array:
    """Per fit, each term's SDs then its correlations (lower triangle by column: varcorr's order), all terms in
    order: ``(m, n_stats)`` from the factors ``T`` (per term (m, k, k)) and ``sigma`` (m,)."""
    out = []
    for Tt in T:
        cov = sigma[:, None, None] ** 2 * jnp.einsum("mij,mkj->mik", Tt, Tt)
        sd = jnp.sqrt(jnp.diagonal(cov, axis1=1, axis2=2))
        k = Tt.shape[-1]
        rows, cols = zip(*[(i, j) for j in range(k) for i in range(j + 1, k)]) if k > 1 else ((), ())
        cor = cov[:, list(rows), list(cols)] / (sd[:, list(rows)] * sd[:, list(cols)]) if k > 1 else sd[:, :0]
        out += [sd, cor]
    return jnp.concatenate(out, axis=1)


MAX_ITER = 300
STOPPED_AT_MAX_ITER = int(Status.MAX_ITER)  # the only status under which a fit goes on


def slots(unrolled: bool = False) -> int:
    """Fits vmapped together in one call. On the CPU 128, or 256 where the dense block is factored by unrolled code
    (``unrolled``: ``linalg.schur_logdet.UNROLLED_MAX``): XLA's CPU backend hung on the forward-over-reverse LAPACK
    Cholesky of a dense block vmapped over 400 fits (Penicillin's 8 x 8, Exam's 5 x 5, before they were unrolled;
    200 ran), and 256 ran 2,000 Penicillin fits in 2.7 s against 4.5 s with 128 (512: 3.3 s). On an accelerator
    4,096, where a kernel launch costs the same for 128 fits as for thousands (10,000 sleepstudy fits on an H200:
    0.59 s with 4,096, 0.75 s with 8,192). Read per call: importing mixjax starts no backend."""
    if jax.default_backend() != "cpu":
        return 4096
    return 256 if unrolled else 128


def steps() -> int:
    """Iterations a slot gets per call; a fit that needs more goes on in a later call, so slots do not idle behind
    the slowest fit (sleepstudy's fits take 6 iterations on average, and from the default start one of 10,000 took
    110). 8 on the CPU (1,000 fits took 0.21 s, against 0.23 s with 5, 0.33 s with 12 and 0.36 s without a
    limit), 10 on an accelerator (10,000 fits on an H200: 0.75 s, against 3.5 s without a limit)."""
    return 8 if jax.default_backend() == "cpu" else 10


def schedule(run, X0: np.ndarray, R0: np.ndarray, Y: np.ndarray, progress=None, unrolled: bool = False) -> Batch:
    """Fits of every row of ``Y`` from starts ``X0`` (m, n) with first trust radii ``R0`` (m,), through
    ``run(x0, r0, y, max_iter) -> Batch`` (numpy) for exactly ``slots(unrolled)`` rows. Each call gives every slot at most
    ``steps()`` iterations; a fit stopped by that limit goes on in a later call from its point and radius (the
    same iterations as one uninterrupted run: the loop's first evaluation is where it stopped), beside new fits.
    Iterations and evaluations are summed over the calls; ``MAX_ITER`` in all."""
    m, size = len(Y), min(len(Y), slots(unrolled))
    X, R = np.array(X0, dtype=float), np.array(R0, dtype=float)
    used_it, used_ev = np.zeros(m, dtype=np.int64), np.zeros(m, dtype=np.int64)
    queue, out, bar = list(range(m)), None, _bar(progress, m, size)
    while queue:
        take = np.array(queue[:size])
        pick = np.concatenate([take, np.repeat(take[-1:], size - len(take))])  # pad: one program for every call
        res = run(X[pick], R[pick], Y[pick], np.int32(min(steps(), MAX_ITER)))
        res = jax.tree_util.tree_map(lambda a: np.asarray(a)[: len(take)], res)
        it, ev = used_it[take] + res.state.iterations, used_ev[take] + res.state.evaluations
        going = (res.state.status == STOPPED_AT_MAX_ITER) & (it < MAX_ITER)
        res = res._replace(state=res.state._replace(iterations=it, evaluations=ev))
        if out is None:
            out = jax.tree_util.tree_map(lambda a: np.empty((m,) + a.shape[1:], a.dtype), res)
        done = take[~going]
        jax.tree_util.tree_map(lambda dst, src: dst.__setitem__(done, src[~going]), out, res)
        X[take[going]], R[take[going]] = res.state.x[going], res.state.radius[going]
        used_it[take[going]], used_ev[take[going]] = it[going], ev[going]
        queue = queue[len(take):] + list(take[going])
        if bar is not None:
            bar.update(len(done))
    if bar is not None:
        bar.close()
    return out


def _bar(progress, m: int, size: int):
    """A tqdm bar over the fits unless ``progress=False``: by default it appears once a run has taken a second and
    fills several calls; ``progress=True`` shows it at once."""
    if progress is False or (progress is None and m <= size):
        return None
    from tqdm import tqdm

    return tqdm(total=m, desc="fits", unit="fit", delay=0.0 if progress else 1.0)


def refit_reflected(run_all, out: Batch, x: np.ndarray, g: np.ndarray, terms, rest=None) -> Batch:
    """Fits stopped at a spurious boundary point of lme4's parametrization (``minimize_reflecting``'s rule) refitted
    from their mirror points by ``run_all(starts, index)``; the refit is kept where it is better."""
    starts, redo = reflected_starts(x, g, terms)
    if not redo.any():
        return out
    index = np.flatnonzero(redo)
    starts = starts[index] if rest is None else np.concatenate([starts[index], rest[index]], axis=1)
    again = run_all(starts, index)
    better = again.state.f < out.state.f[index]
    keep = index[better]
    jax.tree_util.tree_map(lambda dst, src: dst.__setitem__(keep, src[better]), out, again)
    return out
