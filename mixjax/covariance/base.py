"""The covariance protocol: how a random-effects term's covariance is parametrized.

A term with ``k`` columns (intercept, slopes, or the indicator columns of ``0 + factor(x)``) has, for every level
of its grouping factor, effects ``b = T u`` with ``u ~ N(0, s^2 I)``: covariance ``s^2 T T'``. ``s`` is the residual
SD ``sigma`` in linear and nonlinear mixed models (``T`` is *relative*, as lme4's ``Lambda``) and 1 in generalized
ones. A structure maps its parameters ``theta_t`` (a vector of ``n_theta`` entries, the term's slice of the
model's ``theta``) to ``T`` (k x k). Every engine builds its factors through ``factor`` and nothing else, so a
structure is one small frozen (hashable: it is part of the compiled programs' static structure) object with:

``k``
    columns of the term.
``n_theta``
    number of parameters (may be 0: a known covariance).
``lower()``
    (n_theta,) lower bounds: 0 for standard deviations (so that a variance can reach 0, as lme4's diagonal of
    ``T``), ``-inf`` for parameters on an unbounded scale (correlations enter through a transform).
``start()``
    (n_theta,) a starting point inside the bounds (``T`` the identity where the structure can be).
``names(group, cnames)``
    one label per parameter, ``group`` the grouping factor and ``cnames`` the term's column names.
``factor(theta_t)``
    ``T`` (k x k) with covariance ``s^2 T T'``: pure, differentiable in ``theta_t`` to any order under
    ``jax.grad``/``jax.hessian``, working on numpy and JAX arrays; finite on the whole box given by ``lower()``
    (a standard deviation of 0 gives a zero row/column of the covariance, never NaN).
``reflect_zero_columns(theta_t, grad_t)``
    a mirror point with the same ``T T'`` from which the optimizer can leave a bound, or None (only
    ``Unstructured`` has one).
``natural(theta_t)``
    the structure's own parameters on their natural scale, a dict ``name -> float`` (``sd``, ``rho``, ``phi``,
    lag correlations ...), relative to ``s`` as ``T`` is; for summaries and for comparison with glmmTMB's
    ``params``.

Structures (one file each): ``Unstructured`` (lme4's, the default), ``Diagonal``, ``HomogeneousDiagonal``
(Stata ``identity``), ``CompoundSymmetry`` (glmmTMB ``cs``; ``homogeneous=True``: ``homcs``, Stata
``exchangeable``), ``AR1`` (glmmTMB ``ar1``), ``Toeplitz`` (``toep``), ``Known`` (Stata ``fixed(M)``) and
``Pattern`` (Stata ``pattern(M)``). ``structure(name, k)`` resolves a name to one.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Covariance"]


@runtime_checkable
class Covariance(Protocol):
    k: int

    @property
    def n_theta(self) -> int: ...

    def lower(self) -> np.ndarray: ...

    def start(self) -> np.ndarray: ...

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]: ...

    def factor(self, theta_t): ...

    def reflect_zero_columns(self, theta_t: np.ndarray, grad_t: np.ndarray) -> np.ndarray | None: ...

    def natural(self, theta_t) -> dict[str, float]: ...
