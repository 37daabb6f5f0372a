"""Likelihood profiles and profile intervals, as lme4's ``profile`` and ``confint(m, method = "profile")``.

For each parameter ``phi_j`` of the natural parametrization (``mixjax.inference.natural``; an LMM's ML deviance, as
lme4 profiles even a REML fit), ``zeta(v) = sign(v - phi_j) sqrt(D_j(v) - D_min)`` with ``D_j(v)`` the deviance
minimized over the other parameters at ``phi_j = v``. Every such constrained refit is the trust-region Newton loop
with the exact Hessian (``mixjax.optim.trust_region``) from the optimum, and all of them, for every parameter and
every point, run as one vmapped, compiled program per batch: a grid of points first (Wald steps on the log scale for
SDs, Fisher's z for correlations), then the interval ends found by regula falsi on the exact profile, a batch per
round. Where a profile does not reach the interval's level before an SD's bound of 0, the end is 0 (as lme4).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats

from .._config import jit
from ..optim import trust_region
from .natural import Natural, natural

__all__ = ["Profile", "intervals", "profile"]

STEPS = np.array([-4.0, -3.0, -2.0, -1.0, -0.5, 0.5, 1.0, 2.0, 3.0, 4.0])  # Wald SEs from the optimum: 10 points,
# so that most models' grids (up to 6 parameters) and interval ends share one compiled batch of 64 refits
ROUNDS = 6  # at most: rounds of regula falsi for the interval ends
TOL = 1e-4  # on zeta: an end within 1e-4 Wald SEs
MAX_ITER = 100


class Profile(NamedTuple):
    natural: Natural
    table: pd.DataFrame  # parameter, value, zeta
    solve: object  # the compiled batch of constrained refits: (j, v) -> (deviance, status)


def _to_step(kind, v):
    return np.log(v) if kind in ("sd", "sigma") else np.arctanh(v) if kind == "cor" else v


def _from_step(kind, s):
    return np.exp(s) if kind in ("sd", "sigma") else np.tanh(s) if kind == "cor" else s


@partial(jit, static_argnames="fn", classic_below=math.inf)
def _refits(js, vs, phi, lower, data, fn):
    """Constrained refits, vmapped over parameters ``js`` held at values ``vs`` (``j = -1``: none held): (minimum
    deviance, status, Hessian at the end)."""
    n = phi.shape[0]

    def one(j, v):
        held = jnp.arange(n) == j
        x0 = jnp.where(held, v, phi)

        def vgh(x, aux):
            def grad_and_value(t):
                f, g = jax.value_and_grad(fn)(t, data)
                return g, (f, g)

            H, (f, g) = jax.jacfwd(grad_and_value, has_aux=True)(x)
            H = jnp.where(held[:, None] | held[None, :], jnp.eye(n), H)
            return f, jnp.where(held, 0.0, g), H, aux

        radius = jnp.maximum(1.0, jnp.linalg.norm(x0))
        s = trust_region.loop(vgh, x0, jnp.where(held, -jnp.inf, lower), radius, max_iter=MAX_ITER)[0]
        return s.f, s.status, s.H

    return jax.vmap(one)(js, vs)


def _solver(nat: Natural):
    """``(js, vs) -> (minimum deviances, statuses, Hessians)`` as numpy, one compiled program per structure and
    batch size."""
    def solve(js, vs):
        m = len(js)
        size = max(64, 1 << (m - 1).bit_length())  # batch sizes in powers of two, at least 64: one compiled
        # program for the grid and the interval ends of most models
        js = np.resize(np.asarray(js, dtype=np.int32), size)
        vs = np.resize(np.asarray(vs, dtype=np.float64), size)
        out = _refits(js, vs, nat.phi, nat.lower, nat.data, fn=nat.fn)
        return tuple(np.asarray(a)[:m] for a in out)

    return solve


def _scales(nat: Natural, profiled: np.ndarray, solve) -> np.ndarray:
    """Wald SEs of the profiled parameters on the stepping scale (log SD, Fisher z), from the exact Hessian at the
    optimum (a refit with nothing held, which stops at once)."""
    H = solve([-1], [0.0])[2][0]
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.diag(2 * np.linalg.pinv(H)))
        out = []
        for j in profiled:
            kind, v = nat.kinds[j], nat.phi[j]
            d = 1 / v if kind in ("sd", "sigma") else 1 / (1 - v**2) if kind == "cor" else 1.0
            out.append(se[j] * d)
    out = np.asarray(out)
    return np.where(np.isfinite(out) & (out > 0), out, 0.5)


def _zeta(nat, d_min, j, v, dev):
    return np.sign(v - nat.phi[j]) * np.sqrt(np.maximum(dev - d_min, 0.0))


def profile(fit) -> Profile:
    """The profile of every fixed effect and variance parameter on a grid around the optimum."""
    nat = natural(fit)
    profiled = np.array([j for j, k in enumerate(nat.kinds) if k != "family"])
    d_min = float(nat.deviance(jnp.asarray(nat.phi)))
    solve = _solver(nat)
    scale = _scales(nat, profiled, solve)
    js, vs = [], []
    for j, sc in zip(profiled, scale):
        kind = nat.kinds[j]
        if kind in ("sd", "sigma") and nat.phi[j] <= 0:  # at the boundary: step up from 0 on the natural scale
            values = np.abs(STEPS[STEPS > 0]) * sc
        else:
            values = _from_step(kind, _to_step(kind, nat.phi[j]) + STEPS * sc)
        js += [j] * len(values)
        vs += list(values)
    dev, status, _ = solve(js, vs)
    zeta = [_zeta(nat, d_min, j, v, d) for j, v, d in zip(js, vs, dev)]
    rows = pd.DataFrame({"parameter": [nat.names[j] for j in js], "value": vs, "zeta": zeta, "status": status})
    rows = rows[np.isfinite(rows.zeta)]
    at_opt = pd.DataFrame({"parameter": [nat.names[j] for j in profiled], "value": nat.phi[profiled], "zeta": 0.0,
                           "status": 0})
    table = pd.concat([rows, at_opt]).sort_values(["parameter", "value"], key=_order(nat)).reset_index(drop=True)
    return Profile(nat, table[["parameter", "value", "zeta"]], solve)


def _order(nat: Natural):
    rank = {name: i for i, name in enumerate(nat.names)}
    return lambda col: col.map(rank) if col.name == "parameter" else col


@dataclass
class _End:
    """One interval end being found: parameter ``j`` crosses ``target``; on the stepping scale, ``a`` and ``b``
    bracket the crossing with residuals ``fa``, ``fb`` (``zeta - target``); ``best`` is the point with the smallest
    true residual ``f_best``; ``kept``: the end replaced last (Illinois' bookkeeping)."""

    name: str
    side: str
    j: int
    kind: str
    target: float
    a: float
    fa: float
    b: float
    fb: float
    best: float = 0.0
    f_best: float = np.inf
    kept: str = ""

    def update(self, s: float, f: float) -> None:
        if abs(f) < abs(self.f_best):
            self.best, self.f_best = s, f
        if np.sign(f) == np.sign(self.fa):
            self.a, self.fa = s, f
            self.fb = self.fb / 2 if self.kept == "a" else self.fb  # Illinois: an end kept twice is halved
            self.kept = "a"
        else:
            self.b, self.fb = s, f
            self.fa = self.fa / 2 if self.kept == "b" else self.fa
            self.kept = "b"

    def guess(self) -> float:
        return self.a - self.fa * (self.b - self.a) / (self.fb - self.fa)


def intervals(prof: Profile, level: float) -> pd.DataFrame:
    """Profile interval ends at ``level``: where ``zeta`` crosses ``-/+ z``, by the Illinois variant of regula falsi
    on the exact profile (one batch of constrained refits per round for all ends together)."""
    nat, table = prof.natural, prof.table
    z = stats.norm.ppf((1 + level) / 2)
    d_min = float(nat.deviance(jnp.asarray(nat.phi)))
    ends, open_ends = {}, []
    for name, rows in table.groupby("parameter", sort=False):
        j = nat.names.index(name)
        kind = nat.kinds[j]
        for side, target in (("lower", -z), ("upper", z)):
            pts = rows[(rows.zeta <= 0) if side == "lower" else (rows.zeta >= 0)].sort_values("value")
            far = pts.iloc[0] if side == "lower" else pts.iloc[-1]
            if abs(far.zeta) < z:  # the profile does not reach the level within the grid
                bound = {"sd": 0.0, "sigma": 0.0, "cor": -1.0 if side == "lower" else 1.0}.get(kind)
                ends[(name, side)] = bound if bound is not None else np.nan
                continue
            inside = pts[np.abs(pts.zeta) <= z]
            near = inside.iloc[0] if side == "lower" else inside.iloc[-1]
            beyond = pts[(pts.value < near.value) if side == "lower" else (pts.value > near.value)]
            out = beyond.iloc[-1] if side == "lower" else beyond.iloc[0]
            end = _End(name, side, j, kind, target, _to_step(kind, near.value), near.zeta - target,
                       _to_step(kind, out.value), out.zeta - target)
            end.best, end.f_best = (end.a, end.fa) if abs(end.fa) < abs(end.fb) else (end.b, end.fb)
            open_ends.append(end)
    for _ in range(ROUNDS):
        if not open_ends or max(abs(e.f_best) for e in open_ends) < TOL:
            break
        steps = [e.guess() for e in open_ends]
        values = [_from_step(e.kind, s) for e, s in zip(open_ends, steps)]
        dev = prof.solve([e.j for e in open_ends], values)[0]
        for e, s, v, d in zip(open_ends, steps, values, dev):
            e.update(s, _zeta(nat, d_min, e.j, v, d) - e.target)
    for e in open_ends:
        ends[(e.name, e.side)] = _from_step(e.kind, e.best)
    names = [n for n in nat.names if (n, "lower") in ends]
    return pd.DataFrame({"lower": [ends[(n, "lower")] for n in names], "upper": [ends[(n, "upper")] for n in names]},
                        index=names)
