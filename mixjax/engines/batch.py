"""What a batch of fits returns: the optimizer's final states and the estimates, one row per fit (a pytree), and
the statistics reported per fit (fixed effects, random-effect SDs and correlations, residual SD, log-likelihood)."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

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


def vmap_size() -> int:
    """Most fits vmapped together: 128 on the CPU (XLA's CPU backend hung on the forward-over-reverse Cholesky of a
    dense block vmapped over 400 fits, Penicillin's 8 x 8 and Exam's 5 x 5, where 200 ran; chunks of 128 also ran
    faster than one vmap of 1,000), 8,192 on an accelerator, where every kernel launch costs the same for 128 fits
    as for thousands. Read per call: importing mixjax starts no backend."""
    return 128 if jax.default_backend() == "cpu" else 8192


def _chunks(m: int) -> int:
    return -(-m // vmap_size())


def batch_size(m: int, size: int | None) -> int:
    """Fits per compiled call: ``size`` (default all ``m``), rounded up to a multiple of its number of chunks."""
    size = m if size is None else max(1, min(int(size), m))
    k = _chunks(size)
    return -(-size // k) * k


def chunked_vmap(f, *args):
    """``jax.vmap(f)(*args)`` computed in equal chunks of at most ``vmap_size()`` fits, one ``lax.map`` over them
    (the leading size a multiple of the number of chunks: ``batch_size``)."""
    m = jax.tree_util.tree_leaves(args)[0].shape[0]
    k = _chunks(m)
    if k == 1:
        return jax.vmap(f)(*args)
    split = jax.tree_util.tree_map(lambda x: x.reshape((k, m // k) + x.shape[1:]), args)
    out = jax.lax.map(lambda a: jax.vmap(f)(*a), split)
    return jax.tree_util.tree_map(lambda x: x.reshape((m,) + x.shape[2:]), out)
