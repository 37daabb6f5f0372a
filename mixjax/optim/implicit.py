"""The minimizer of ``fn(x, data)`` as a differentiable function of ``data``, by the implicit function theorem.

At a minimum ``x*`` the gradient in ``x`` vanishes on the free parameters, so ``dx* = -H_ff^{-1} (d/d data
grad_f fn) d data`` with ``H`` the exact Hessian there; parameters held at their bound have derivative 0. The rule
is a ``jax.custom_jvp`` (reverse mode by JAX's transposition of the linear tangent map): nothing is differentiated
through the optimizer's iterations.
"""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["argmin"]


def argmin(solve: Callable, fn: Callable, lower) -> Callable:
    """``data -> x*(data)`` where ``solve(data)`` minimizes ``fn(x, data)`` over ``x >= lower`` (its iterations
    are not differentiated) and the derivatives come from the implicit function theorem at ``x*``."""

    @jax.custom_jvp
    def minimizer(data):
        return solve(data)

    @minimizer.defjvp
    def _jvp(primals, tangents):
        (data,), (t_data,) = primals, tangents
        x = jax.lax.stop_gradient(solve(data))
        free = x > lower
        grad = lambda d: jax.grad(fn)(x, d)  # noqa: E731
        d_grad = jax.jvp(grad, (data,), (t_data,))[1]
        both = free[:, None] & free[None, :]
        H = jnp.where(both, jax.hessian(fn)(x, data), 0.0) + jnp.diag(jnp.where(free, 0.0, 1.0))
        return x, -jnp.linalg.solve(H, jnp.where(free, d_grad, 0.0))

    return minimizer
