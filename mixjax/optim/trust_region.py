"""Trust-region Newton with the exact Hessian and lower bounds, as pure JAX functions of a small state.

Each iteration (``propose``): variables at their bound whose gradient pushes outward are held (the active set);
on the free ones the step minimizes the quadratic model ``g'd + d'Hd/2`` within ``|d| <= radius`` (Moré-Sorensen
through the eigendecomposition of ``H``, so an indefinite Hessian is handled exactly; in the hard case both signs
along the most negative curvature are tried) and is projected onto the bounds. ``update`` accepts the trial point
when the actual decrease is a fair share of the predicted one, and grows or shrinks the radius with that ratio.
Converged when the largest projected gradient is below ``gtol`` (and the free Hessian has no negative eigenvalue: a
saddle such as a symmetric start is left along its negative curvature) or the predicted decrease of a full Newton
step is below ``ftol * (1 + |f|)``.

``loop(value_grad_hess, ...)`` runs the whole optimization as one ``lax.while_loop`` for a traceable objective
(one compiled call per fit); ``mixjax.optim.newton.minimize`` drives the same two steps from Python for any
callable. Held variables are decoupled in the Hessian by an identity block scaled above every eigenvalue (a
Gershgorin bound), so the eigendecomposition has fixed shape and the smallest eigenvalue is that of the free part.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import export

from .status import Status

__all__ = ["State", "init", "loop", "propose", "update"]

RUNNING, NOT_FINITE_START = int(Status.RUNNING), int(Status.NOT_FINITE_START)  # codes: ``optim.status``


class State(NamedTuple):
    x: jax.Array
    f: jax.Array
    g: jax.Array
    H: jax.Array
    radius: jax.Array
    iterations: jax.Array
    evaluations: jax.Array
    status: jax.Array
    min_eig: jax.Array


export.register_namedtuple_serialization(State, serialized_name="mixjax.optim.trust_region.State")  # a result of
# programs kept on disk (``mixjax._exported``)


class Trial(NamedTuple):
    """The projected trial point of one iteration, its ``step`` and model decrease; ``evaluate``: whether the
    objective must be evaluated there (the iteration neither converged nor produced a non-finite step)."""

    x: jax.Array
    step: jax.Array
    predicted: jax.Array
    evaluate: jax.Array


def init(x, f, g, H, radius) -> State:
    zero = jnp.asarray(0, dtype=jnp.int32)
    return State(x, f, g, H, jnp.asarray(radius, dtype=x.dtype), zero, zero + 1, zero, jnp.asarray(jnp.nan, x.dtype))


def _bisect(lam, gq, lo, hi, radius):
    """The shift ``mu`` with ``|d(mu)| = radius`` to 1% (bisection on the secular equation, as ``hi``)."""
    norm = lambda mu: jnp.linalg.norm(gq / (lam + mu))

    def body(c):
        lo, hi, _, i = c
        mid = 0.5 * (lo + hi)
        size = norm(mid)
        done = jnp.abs(size - radius) <= 0.01 * radius
        lo, hi = jnp.where(done, lo, jnp.where(size > radius, mid, lo)), jnp.where(done | (size <= radius), mid, hi)
        return lo, hi, done, i + 1

    return jax.lax.while_loop(lambda c: ~c[2] & (c[3] < 100), body, (lo, hi, False, 0))[1]


def _candidates(g, free, H, radius):
    """Two steps on the free variables (equal unless in the hard case), the smallest eigenvalue of the free
    Hessian (inf when none is free) and the Newton step."""
    both = free[:, None] & free[None, :]
    bound = 1.0 + jnp.max(jnp.sum(jnp.abs(H), axis=1))  # above every eigenvalue of H's free part
    lam, Q = jnp.linalg.eigh(jnp.where(both, H, 0.0) + jnp.diag(jnp.where(free, 0.0, bound)))
    gq = Q.T @ jnp.where(free, g, 0.0)
    min_eig = jnp.where(jnp.any(free), lam[0], jnp.inf)
    newton = -Q @ (gq / lam)
    if_newton = (lam[0] > 0) & (jnp.linalg.norm(newton) <= radius)
    lo = jnp.maximum(0.0, -lam[0]) + 1e-12 * jnp.maximum(1.0, jnp.max(jnp.abs(lam)))  # above lam[0]'s rounding
    d_lo = -Q @ (gq / (lam + lo))
    hard = jnp.linalg.norm(d_lo) <= radius  # move along the most negative curvature direction, either sign
    tau = jnp.sqrt(jnp.maximum(radius**2 - d_lo @ d_lo, 0.0)) * jnp.where(Q[:, 0] @ g > 0, -1.0, 1.0)
    hi = lo + jnp.linalg.norm(gq) / radius + jnp.abs(lam[-1])
    d_easy = -Q @ (gq / (lam + jax.lax.cond(hard | if_newton, lambda: hi, lambda: _bisect(lam, gq, lo, hi, radius))))
    first = jnp.where(if_newton, newton, jnp.where(hard, d_lo + tau * Q[:, 0], d_easy))
    second = jnp.where(hard & ~if_newton, d_lo - tau * Q[:, 0], first)
    return first, second, min_eig, newton


def propose(s: State, lower, gtol, ftol) -> tuple[State, Trial]:
    """One iteration up to the trial point: the convergence tests, then the trust-region step."""
    free = ~((s.x <= lower) & (s.g > 0))
    first, second, min_eig, newton = _candidates(s.g, free, s.H, s.radius)
    projected = jnp.max(jnp.abs(jnp.where(free, s.g, 0.0)), initial=0.0)
    small = (min_eig > 0) & (-0.5 * jnp.where(free, s.g, 0.0) @ newton < ftol * (1.0 + jnp.abs(s.f)))
    saddle = min_eig < -1e-6 * (1.0 + jnp.max(jnp.abs(s.H)))  # a stationary point that is not a minimum (a
    # symmetric start such as a variance of 0): the step follows the negative curvature
    status = jnp.where((projected < gtol) & ~saddle, Status.GRADIENT, jnp.where(small, Status.DECREASE, RUNNING))
    status = status.astype(jnp.int32)

    def trial(d):
        x = jnp.maximum(s.x + d, lower)
        step = x - s.x
        return x, step, -(s.g @ step + 0.5 * step @ s.H @ step)

    (x1, step1, pred1), (x2, step2, pred2) = trial(first), trial(second)
    use2 = pred2 > pred1
    x, step, predicted = jnp.where(use2, x2, x1), jnp.where(use2, step2, step1), jnp.where(use2, pred2, pred1)
    finite = jnp.all(jnp.isfinite(step))
    radius = jnp.where((status == RUNNING) & ~finite, 0.25 * s.radius, s.radius)  # a degenerate model: shrink
    s = s._replace(iterations=s.iterations + 1, status=status, min_eig=min_eig, radius=radius)
    return s, Trial(x, step, predicted, (status == RUNNING) & finite)


def update(s: State, t: Trial, f, g, H) -> State:
    """Accept or reject the trial point evaluated as ``(f, g, H)``; adapt the radius."""
    rho = jnp.where((t.predicted > 0) & jnp.isfinite(f), (s.f - f) / t.predicted, -1.0)
    size = jnp.linalg.norm(t.step)
    radius = jnp.where(rho < 0.25, 0.25 * size, jnp.where((rho > 0.75) & (size >= 0.99 * s.radius), 2.0 * s.radius,
                                                           s.radius))
    accept = rho > 1e-4
    collapsed = ~accept & (radius < 1e-12 * jnp.maximum(1.0, jnp.linalg.norm(s.x)))
    status = jnp.where(collapsed, jnp.where(t.predicted < 1e-8 * (1 + jnp.abs(s.f)), Status.NO_DECREASE, Status.COLLAPSED),
                       RUNNING)
    pick = lambda new, old: jnp.where(accept, new, old)
    return s._replace(x=pick(t.x, s.x), f=pick(f, s.f), g=pick(g, s.g), H=pick(H, s.H), radius=radius,
                      evaluations=s.evaluations + 1, status=status.astype(jnp.int32))


def loop(value_grad_hess, x0, lower, radius0, aux=(), *, gtol: float = 1e-6, ftol: float = 1e-13,
         max_iter: int = 300) -> tuple[State, object]:
    """The whole minimization of a traceable ``value_grad_hess(x, aux) -> (f, g, H, aux)`` from ``x0`` (projected
    onto the bounds), in one ``lax.while_loop``. ``aux``: values carried from one evaluation to the next (e.g. a
    warm start for inner iterations; kept where ``f`` is finite). Returns the final state and ``aux``; status 0
    ``NOT_FINITE_START``: the start is not feasible. The objective has one call site (the start is the first
    trial point), so it is compiled once."""
    x0 = jnp.maximum(x0, lower)
    s = init(x0, jnp.asarray(jnp.nan, x0.dtype), jnp.zeros_like(x0), jnp.zeros((x0.shape[0],) * 2, x0.dtype), radius0)
    s = s._replace(evaluations=s.evaluations - 1)
    running = lambda s: (s.status == RUNNING) & jnp.isfinite(s.f) & (s.iterations < max_iter)

    def evaluate(s, t, aux):
        f, g, H, new = value_grad_hess(t.x, aux)
        aux = jax.tree_util.tree_map(lambda a, b: jnp.where(jnp.isfinite(f), a, b), new, aux)
        first = s._replace(f=f, g=g, H=H, evaluations=s.evaluations + 1)
        return jax.lax.cond(s.evaluations == 0, lambda: first, lambda: update(s, t, f, g, H)), aux

    def body(carry):
        s, t, aux = carry
        s, aux = jax.lax.cond(t.evaluate, evaluate, lambda s, t, aux: (s, aux), s, t, aux)
        s, t = jax.lax.cond(running(s), lambda: propose(s, lower, gtol, ftol),
                            lambda: (s, t._replace(evaluate=jnp.asarray(False))))
        return s, t, aux

    start = Trial(x0, jnp.zeros_like(x0), jnp.asarray(0.0, x0.dtype), jnp.asarray(True))
    s, _, aux = jax.lax.while_loop(lambda c: c[1].evaluate | running(c[0]), body, (s, start, aux))
    stopped = jnp.where(jnp.isfinite(s.f), Status.MAX_ITER, NOT_FINITE_START)
    return s._replace(status=jnp.where(s.status == RUNNING, stopped, s.status).astype(jnp.int32)), aux
