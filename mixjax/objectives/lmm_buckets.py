"""Size buckets for the LMM's compiled programs: the cross-products of a small model padded so that one compiled
program serves every model of its structure class (the terms' covariance structures, REML or ML) whose sizes fall
in the same buckets, and the disk cache holds a handful of programs instead of one per dataset.

Every number is unchanged by the padding:

- term 1 gets levels with no data (``D0_g = 0``, ``C0_g = 0``): their block ``T1' 0 T1 + I = I`` adds
  ``log|I| = 0``, and their effects are 0;
- each later term gets levels with no data (zero columns of ``A``): the Schur complement gains unit diagonal
  entries (``Lr' 0 Lr + I``), ``log 1 = 0``;
- the fixed effects get columns that meet nothing and have ``A_jj = 1``: a unit diagonal in ``L_X``, so REML's
  ``log|L_X|`` is unchanged, their coefficients are 0 and decoupled from the real ones (the real block of
  ``vcov`` is unchanged); ``n - p`` reads the real ``p`` from the data (``LmmData.p``), never the shapes;
- the coupling's entries and pairs get zero values at index 0, adding 0 to the sums they enter.

The buckets are coarse, so that most small models of a structure class share one program: term 1's levels, the
coupling's entries and its pairs grow by factors of 8 from 256, 256 and 2,048, the later terms' levels by factors
of 4 from 64, the fixed-effect columns by factors of 2 from 4; REML and ML share the program too (the padded
spec's ``reml`` is None: the data's ``reml`` says which). Only models whose dense block is small (the trust-region
Newton class) and whose data are small are padded: there compiling is most of a fit, and the padded work is a few
microseconds (sleepstudy's 18 levels padded to 256, its 2 fixed effects to 4).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["bucket", "pad", "unpad_estimates", "PAD_BELOW_BYTES", "PAD_MAX_NR"]

PAD_BELOW_BYTES = 1 << 20  # cross-products of at most this many bytes are padded
PAD_MAX_NR = 64  # ... and a dense block of at most this many columns (``engines.lmm.DENSE_NEWTON_MAX``)


def bucket(n: int, base: int = 2, minimum: int = 1) -> int:
    """The smallest ``minimum * base**k >= n`` (k >= 0)."""
    size = minimum
    while size < n:
        size *= base
    return size


def padded_spec(spec: NamedTuple, l1: int) -> tuple[NamedTuple, int]:
    """The spec of the padded cross-products and the padded number of levels of term 1."""
    layout, off = [], 0
    for _, lt, kt in spec.layout:
        lt = bucket(lt, 4, 64)
        layout.append((off, lt, kt))
        off += lt * kt
    p = bucket(spec.p, 2, 4) if spec.p else 0
    return spec._replace(layout=tuple(layout), qr=off, nr=off + p + 1, p=p, reml=None), bucket(l1, 8, 256)


def _column_map(spec: NamedTuple, new: NamedTuple) -> np.ndarray:
    """Where each column of ``A`` (rest terms, X, y) goes in the padded ``A``."""
    parts = [noff + np.arange(lt * kt) for (_, lt, kt), (noff, _, _) in zip(spec.layout, new.layout)]
    parts += [new.qr + np.arange(spec.p), [new.nr - 1]]
    return np.concatenate(parts).astype(np.int64)


def _grow(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` with zero rows appended to length ``n`` along its first axis."""
    return np.concatenate([a, np.zeros((n - len(a),) + a.shape[1:], dtype=a.dtype)])


def pad(data: NamedTuple, spec: NamedTuple) -> tuple[NamedTuple, NamedTuple] | None:
    """The padded cross-products (``objectives.lmm.LmmData``) and spec (``LmmSpec``) as numpy, or None where the model is not padded (large data or a large
    dense block, arrays already on the device)."""
    arrays = [np.asarray(a) if isinstance(a, np.ndarray | np.generic | float) else None for a in data]
    if (any(a is None for a in arrays) or sum(a.nbytes for a in arrays) > PAD_BELOW_BYTES or spec.nr > PAD_MAX_NR
            or len(data.hg)):
        return None
    new, l1 = padded_spec(spec, data.D0.shape[0])
    cols = _column_map(spec, new)
    A = np.zeros((new.nr, new.nr))
    A[np.ix_(cols, cols)] = data.A_low
    pad_x = new.qr + np.arange(spec.p, new.p)
    A[pad_x, pad_x] = 1.0
    Cxy = np.zeros((l1,) + data.Cxy.shape[1:2] + (new.p + 1,))
    Cxy[: data.Cxy.shape[0], :, cols[spec.qr :] - new.qr] = data.Cxy
    ne, npairs = bucket(len(data.eg), 8, 256), bucket(len(data.pg), 8, 2048)
    ptarget = np.asarray(data.ptarget, dtype=np.int64)
    if spec.qr:
        ptarget = cols[ptarget // spec.qr] * new.qr + cols[ptarget % spec.qr]
    out = data._replace(
        D0=_grow(np.asarray(data.D0), l1),
        A_low=A,
        Cxy=Cxy,
        eg=_grow(np.asarray(data.eg), ne),
        ej=_grow(cols[np.asarray(data.ej, dtype=np.int64)].astype(np.int32), ne),
        ev=_grow(np.asarray(data.ev), ne),
        pg=_grow(np.asarray(data.pg), npairs),
        ptarget=_grow(ptarget.astype(np.int32), npairs),
        pval=_grow(np.asarray(data.pval), npairs),
    )
    return out, new


def unpad_estimates(est: NamedTuple, spec: NamedTuple, l1: int) -> NamedTuple:
    """``Estimates`` of the padded program cut to the real sizes (``spec``: the real spec; ``l1``: term 1's real
    number of levels)."""
    p = spec.p
    b = (est.b[0][:l1], *(bt[:lt] for bt, (_, lt, _) in zip(est.b[1:], spec.layout)))
    return est._replace(beta=est.beta[:p], vcov=est.vcov[:p, :p], b=b)
