"""Size buckets for the GLMM's compiled Newton loop: the rows, levels and fixed-effect columns of a small model
padded so that one compiled program serves every model of its class (family, covariance structures, quadrature
rule) whose sizes fall in the same buckets (``lmm_buckets.bucket``): rows and levels by factors of 4 (at least 64
rows, 16 levels), fixed-effect columns by factors of 2.

Every number is unchanged by the padding:

- added rows are copies of row 0 (values in the family's support) with prior weight 0: each adds ``0 * log p``;
- added levels have no rows: their effects' mode is 0 and their block of ``H`` is ``I`` (``log|I| = 0``); under
  adaptive quadrature their integral is ``sum_j w_j / (2 pi)^(k/2) = 1`` (to rounding);
- added fixed-effect columns are zero: the objective adds ``sum(beta_j)`` over all-zero columns of ``X``
  (``glmm._deviance_at``; a design never has one: rank-deficient columns are dropped), so with a lower bound of 0
  their gradient is 1 at 0 and the trust-region loop holds them there (the active set), decoupled from the free
  variables: the steps, the smallest free eigenvalue and the convergence tests are those of the real model.

Only small models are padded (their arrays on one device, at most ``PAD_BELOW_BYTES``, no column-wise Hessian):
there compiling is most of a fit.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from .lmm_buckets import PAD_BELOW_BYTES, bucket

__all__ = ["Padded", "pad", "MAX_PADDED_COUPLING"]

MAX_PADDED_COUPLING = 1_000_000  # entries of the padded dense block coupling term 1 with the other terms


class Padded(NamedTuple):
    """The padded ``data`` and ``spec``, and ``index``: where the model's psi entries sit in the padded psi."""

    data: NamedTuple
    spec: NamedTuple
    index: np.ndarray


def _single_device(leaf) -> bool:
    return not isinstance(leaf, jax.Array) or len(leaf.sharding.device_set) == 1


def _rows(a, n: int, weights: bool = False):
    """``a`` (rows first) grown to ``n`` rows: zeros for the prior weights, copies of row 0 otherwise."""
    a = np.asarray(a)
    extra = np.zeros((n - len(a),) + a.shape[1:], a.dtype) if weights else np.repeat(a[:1], n - len(a), axis=0)
    return np.concatenate([a, extra])


def pad(data: NamedTuple, spec: NamedTuple) -> Padded | None:
    """``data`` (``objectives.glmm.GlmmData``) and ``spec`` (``GlmmSpec``) padded to size buckets (numpy), or
    None where the model is not padded."""
    leaves = jax.tree_util.tree_leaves(data)
    if (spec.hessian_by_columns or not all(_single_device(a) for a in leaves)
            or sum(a.nbytes for a in leaves) > PAD_BELOW_BYTES):
        return None
    levels = tuple(bucket(lt, 4, 16) for lt in spec.levels)
    p = bucket(spec.p) if spec.p else 0
    new = spec._replace(levels=levels, p=p)
    if new.levels[0] * new.ks[0] * new.qr > MAX_PADDED_COUPLING:
        return None
    data = jax.device_get(data)
    n = bucket(len(data.y), 4, 64)
    grow = lambda a: None if a is None else _rows(a, n)  # noqa: E731
    X = np.zeros((n, p))
    X[:, : spec.p] = _rows(data.X, n)
    out = data._replace(y=grow(data.y), trials=grow(data.trials), weights=_rows(data.weights, n, weights=True), X=X,
                        offset=grow(data.offset), codes=tuple(map(grow, data.codes)), Z=tuple(map(grow, data.Z)),
                        zi=grow(data.zi), disp=grow(data.disp))
    nt = spec.n_theta
    index = np.concatenate([np.arange(nt + spec.p), nt + p + np.arange(spec.n_family)])
    return Padded(out, new, index)
