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
