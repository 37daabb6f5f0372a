"""Dense SPD kernels for the hot path: LAPACK (potrf, potri) on the CPU through a host callback, jnp elsewhere.

On the CPU, scipy's LAPACK factorizes a 1,159 x 1,159 matrix in about 60% of the time ``jnp.linalg.cholesky``
takes here, and ``potri`` inverts from the factor in about a third of the time of a triangular solve plus a
product. These kernels have no differentiation rules of their own: they are used inside ``schur_logdet``,
whose reverse-mode rule is written by hand.
"""
from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from scipy.linalg import lapack

from .blas_threads import one_thread

__all__ = ["cholesky", "inverse_from_cholesky", "cholesky_diag_inverse", "one_by_one"]


def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def _host_potrf(S):
    L, info = lapack.dpotrf(np.asarray(S), lower=1, clean=1)
    return L if info == 0 else np.full_like(L, np.nan)


def _host_potri(L):
    inv, info = lapack.dpotri(np.asarray(L), lower=1)
    return inv


def _callback(fn, x):
    return jax.pure_callback(fn, jax.ShapeDtypeStruct(x.shape, x.dtype), x, vmap_method="sequential")


def cholesky(S):
    """Lower Cholesky factor of symmetric positive definite ``S``, read from its lower triangle (NaN where it is not
    positive definite). Elsewhere than the CPU, ``lax.linalg.cholesky`` without symmetrizing: it reads the lower
    triangle only and writes no mirrored copy (``jnp.linalg.cholesky`` averages ``S`` with its transpose, which
    halves the off-diagonal entries of a lower-triangular ``S``: on a GPU every L-BFGS-B fit went wrong that way,
    InstEval's log-likelihood -132,566 instead of -118,826; mirroring first cost a dense copy)."""
    if _on_cpu():
        return _callback(_host_potrf, S)
    return jax.lax.linalg.cholesky(S, symmetrize_input=False)


def inverse_from_cholesky(L):
    """``(L L')^{-1}`` from the lower Cholesky factor ``L``; only its lower triangle is meaningful."""
    if _on_cpu():
        return _callback(_host_potri, L)
    Linv = solve_triangular(L, jnp.eye(L.shape[0], dtype=L.dtype), lower=True)
    return Linv.T @ Linv


# matrices this large are factored with all of BLAS's threads (``_host_potrf_potri``): InstEval's 1,159-column block
# (warm fit 1.17-1.35 s against 1.44-1.59 s with one thread, mixedlm 2.9-3.5 s beside it in the same runs; neutral
# with one busy process beside it); below, one thread (``blas_threads``)
ALL_THREADS_FROM = 1024


def _host_potrf_potri(S):
    """``(diag(L), (L L')^{-1})`` from the lower triangle of C-ordered ``S``. Its transpose is Fortran-ordered with
    the data in the upper triangle: ``potrf``/``potri`` on the upper triangle (``S = U' U``, ``U = L'``) work on it
    without reordering, and the inverse's upper triangle, read back in C order, is the lower one. One BLAS thread
    beside XLA's (``blas_threads``), except for a matrix of ``ALL_THREADS_FROM`` columns or more, whose ``n^3``
    work is most of the evaluation."""
    with one_thread() if S.shape[0] < ALL_THREADS_FROM else contextlib.nullcontext():
        U, info = lapack.dpotrf(np.asarray(S).T, lower=0, clean=0)
        if info != 0:
            return np.full(U.shape[0], np.nan), np.full_like(U, np.nan)
        d = np.diagonal(U).copy()
        inv, _ = lapack.dpotri(U, lower=0, overwrite_c=1)
    return d, np.ascontiguousarray(inv.T)


def cholesky_diag_inverse(S):
    """``(diag(L), (L L')^{-1})`` for ``S = L L'`` given by its lower triangle, whose upper triangle holds zeros:
    the inverse's lower triangle is meaningful, its upper one holds zeros (NaN where ``S`` is not positive
    definite). On the CPU one host call, ``potrf`` then ``potri`` in place: the factor itself never comes back."""
    if _on_cpu():
        shapes = (jax.ShapeDtypeStruct(S.shape[:1], S.dtype), jax.ShapeDtypeStruct(S.shape, S.dtype))
        return jax.pure_callback(_host_potrf_potri, shapes, S, vmap_method="sequential")
    L = cholesky(S)
    return jnp.diagonal(L), jnp.tril(inverse_from_cholesky(L))


def one_by_one(fn, *xs):
    """``fn(*xs)`` for arrays ``xs`` stacked along their first axis: on the CPU one slice at a time (``lax.map``),
    elsewhere as one batched call. jaxlib 0.10.2 splits a batched LAPACK call with enough work into tasks on XLA's
    CPU thread pool and blocks the pool thread that made the call until they finish; when every pool thread does
    that at once nothing runs the tasks and the process waits forever at 0% CPU (seen twice in the residual
    structures' whitening, README "Tests"). A call on one matrix runs inline. ``fn`` works on one slice and on a
    stack alike (trailing-axes operations)."""
    if _on_cpu():
        return jax.lax.map(lambda args: fn(*args), xs)
    return fn(*xs)
