"""Self-starting mean functions, as R's ``SSlogis``, ``SSfpl``, ``SSasymp``, ``SSfol``, ``SSbiexp``, ``SSmicmen``,
``SSgompertz`` and ``SSweibull``: the same formulas and parameter meanings, usable inside a model string
(``"circumference ~ SSlogis(age, Asym, xmid, scal)"``), with start values computed from the data.

Start values, as R's ``getInitial``: the nonlinear least squares fit of the function to the pooled data (all groups
together). Each function is linear in some parameters given the others (``Asym`` given ``xmid`` and ``scal``, and
so on), so a grid over the nonlinear ones, with the linear ones solved by least squares at each grid point (the
variable projection of R's ``plinear``), finds a start that ``scipy.optimize.least_squares`` then polishes with
the exact Jacobian from JAX.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._config import jit

__all__ = ["SelfStart", "SELF_START", "initial_values"]

_GRID_ROWS = 5000  # rows used for the grid search (all rows for the final least squares)


@dataclass(frozen=True)
class SelfStart:
    """``inputs`` (names of the data arguments), ``params``, ``mean(*inputs, *params)``; ``grid(inputs)``: candidate
    values of the nonlinear parameters (dicts); ``basis(inputs, nonlinear)``: the (n, m) columns multiplying the
    linear parameters ``linear`` (in that order); ``finish(values)``: parameters from the grid's values."""

    name: str
    inputs: tuple
    params: tuple
    mean: Callable
    nonlinear: tuple
    linear: tuple
    grid: Callable
    basis: Callable
    finish: Callable = staticmethod(lambda v: v)

    @property
    def n_args(self) -> int:
        return len(self.inputs) + len(self.params)


def _logistic(x, xmid, scal, xp=jnp):
    """``1 / (1 + exp((xmid - x) / scal))``; ``xp=np`` on the host (the start's grid: no JAX program per operation)."""
    return 1.0 / (1.0 + xp.exp((xmid - x) / scal))


def _span(x):
    x = np.asarray(x, dtype=float)
    return float(np.max(x) - np.min(x)) or 1.0


def _rates(x, n=31):
    """Rate constants for ``exp(-k x)`` from much slower to much faster than the data's span."""
    return np.logspace(-2, 2.5, n) / max(float(np.max(np.abs(x))), 1e-12)


def _logis_grid(inputs):
    (x,) = inputs
    lo, span = float(np.min(x)), _span(x)
    scales = span * np.logspace(-2, 0.5, 12)
    return [dict(xmid=m, scal=s) for m in np.linspace(lo - 0.5 * span, lo + 1.5 * span, 25)
            for s in np.concatenate([scales, -scales])]


def _mix(g):
    """Columns ``[1 - g, g]``: the basis of ``a (1 - g) + b g``."""
    return np.column_stack([1 - g, g])


def _fol_finish(v):
    if "c" not in v:
        return v
    c = v.pop("c")
    v["lCl"] = v["lKe"] + v["lKa"] - np.log(c * (np.exp(v["lKa"]) - np.exp(v["lKe"])))
    return v


def _fol_basis(inputs, v):
    dose, x = inputs
    return (dose * (np.exp(-np.exp(v["lKe"]) * x) - np.exp(-np.exp(v["lKa"]) * x)))[:, None]


def _biexp_finish(v):
    if v["lrc1"] < v["lrc2"]:  # R's convention: the first term is the faster one
        v["A1"], v["lrc1"], v["A2"], v["lrc2"] = v["A2"], v["lrc2"], v["A1"], v["lrc1"]
    return v


def _weibull_grid(inputs):
    (x,) = inputs
    mid = float(np.median(np.log(np.asarray(x)[np.asarray(x) > 0])))
    return [dict(lrc=np.log(c) - p * mid, pwr=p) for p in np.logspace(-0.7, 0.9, 17) for c in np.logspace(-2, 2, 17)]


def _gompertz_grid(inputs):
    (x,) = inputs
    steps = np.logspace(-2, 1.5, 15) / max(float(np.max(np.abs(x))), 1e-12)
    return [dict(b2=b2, b3=np.exp(s)) for b2 in np.concatenate([np.logspace(-2, 2, 13), -np.logspace(-2, 2, 13)])
            for s in np.concatenate([-steps, steps])]


SELF_START = {
    s.name: s
    for s in [
        SelfStart("SSlogis", ("input",), ("Asym", "xmid", "scal"),
                  lambda x, Asym, xmid, scal: Asym * _logistic(x, xmid, scal),
                  ("xmid", "scal"), ("Asym",), _logis_grid,
                  lambda inp, v: _logistic(inp[0], v["xmid"], v["scal"], np)[:, None]),
        SelfStart("SSfpl", ("input",), ("A", "B", "xmid", "scal"),
                  lambda x, A, B, xmid, scal: A + (B - A) * _logistic(x, xmid, scal),
                  ("xmid", "scal"), ("A", "B"), _logis_grid,
                  lambda inp, v: _mix(_logistic(inp[0], v["xmid"], v["scal"], np))),
        SelfStart("SSasymp", ("input",), ("Asym", "R0", "lrc"),
                  lambda x, Asym, R0, lrc: Asym + (R0 - Asym) * jnp.exp(-jnp.exp(lrc) * x),
                  ("lrc",), ("Asym", "R0"), lambda inp: [dict(lrc=np.log(k)) for k in _rates(inp[0], 61)],
                  lambda inp, v: _mix(np.exp(-np.exp(v["lrc"]) * inp[0]))),
        SelfStart("SSfol", ("Dose", "input"), ("lKe", "lKa", "lCl"),
                  lambda dose, x, lKe, lKa, lCl: dose * jnp.exp(lKe + lKa - lCl)
                  * (jnp.exp(-jnp.exp(lKe) * x) - jnp.exp(-jnp.exp(lKa) * x)) / (jnp.exp(lKa) - jnp.exp(lKe)),
                  ("lKe", "lKa"), ("c",),
                  lambda inp: [dict(lKe=np.log(ke), lKa=np.log(ka))
                               for ke, ka in itertools.combinations(_rates(inp[1]), 2)],
                  _fol_basis, _fol_finish),
        SelfStart("SSbiexp", ("input",), ("A1", "lrc1", "A2", "lrc2"),
                  lambda x, A1, lrc1, A2, lrc2: A1 * jnp.exp(-jnp.exp(lrc1) * x) + A2 * jnp.exp(-jnp.exp(lrc2) * x),
                  ("lrc1", "lrc2"), ("A1", "A2"),
                  lambda inp: [dict(lrc1=np.log(k1), lrc2=np.log(k2))
                               for k2, k1 in itertools.combinations(_rates(inp[0]), 2)],
                  lambda inp, v: np.column_stack([np.exp(-np.exp(v["lrc1"]) * inp[0]),
                                                  np.exp(-np.exp(v["lrc2"]) * inp[0])]),
                  _biexp_finish),
        SelfStart("SSmicmen", ("input",), ("Vm", "K"), lambda x, Vm, K: Vm * x / (K + x),
                  ("K",), ("Vm",),
                  lambda inp: [dict(K=k) for k in float(np.median(np.abs(inp[0])) or 1.0) * np.logspace(-3, 3, 61)],
                  lambda inp, v: (inp[0] / (v["K"] + inp[0]))[:, None]),
        SelfStart("SSgompertz", ("x",), ("Asym", "b2", "b3"), lambda x, Asym, b2, b3: Asym * jnp.exp(-b2 * b3**x),
                  ("b2", "b3"), ("Asym",), _gompertz_grid,
                  lambda inp, v: np.exp(-v["b2"] * v["b3"] ** inp[0])[:, None]),
        SelfStart("SSweibull", ("x",), ("Asym", "Drop", "lrc", "pwr"),
                  lambda x, Asym, Drop, lrc, pwr: Asym - Drop * jnp.exp(-jnp.exp(lrc) * x**pwr),
                  ("lrc", "pwr"), ("Asym", "Drop"), _weibull_grid,
                  lambda inp, v: np.column_stack([np.ones_like(inp[0]),
                                                  -np.exp(-np.exp(v["lrc"]) * inp[0] ** v["pwr"])])),
    ]
}


@partial(jit, static_argnums=0)
def _residuals(ss: SelfStart, p, inputs, y):
    return y - ss.mean(*inputs, *p)


_jacobian = jit(jax.jacfwd(_residuals, argnums=1), static_argnums=0)


def _best_on_grid(ss: SelfStart, inputs, y) -> dict:
    """The grid point (nonlinear parameters) whose least squares fit in the linear ones is best."""
    if len(y) > _GRID_ROWS:
        rows = np.linspace(0, len(y) - 1, _GRID_ROWS).astype(int)
        inputs, y = [np.asarray(a)[rows] for a in inputs], y[rows]
    best, best_rss = None, np.inf
    with np.errstate(all="ignore"):
        for values in ss.grid(inputs):
            B = ss.basis(inputs, values)
            if not np.all(np.isfinite(B)):
                continue
            coef, *_ = np.linalg.lstsq(B, y, rcond=None)
            rss = float(np.sum((y - B @ coef) ** 2))
            if rss < best_rss:
                best, best_rss = {**values, **dict(zip(ss.linear, coef))}, rss
    if best is None:
        raise ValueError(f"{ss.name}: no start values found (the function is not finite on the data).")
    return ss.finish(best)


def initial_values(ss: SelfStart, inputs: list, y: np.ndarray) -> dict:
    """Start values for ``ss`` from the pooled data: the least squares fit (R's ``getInitial``)."""
    from scipy.optimize import least_squares  # imported here: scipy.optimize adds to every mixjax import

    inputs = [np.asarray(a, dtype=float) for a in inputs]
    y = np.asarray(y, dtype=float)
    start = _best_on_grid(ss, inputs, y)
    x0 = np.array([start[p] for p in ss.params], dtype=float)

    with np.errstate(all="ignore"):
        result = least_squares(lambda p: np.asarray(_residuals(ss, p, inputs, y)), x0, method="lm",
                               jac=lambda p: np.asarray(_jacobian(ss, p, inputs, y)), xtol=1e-12, ftol=1e-12,
                               gtol=1e-12)
    start_cost = 0.5 * np.sum(np.asarray(_residuals(ss, x0, inputs, y)) ** 2)
    x = result.x if np.all(np.isfinite(result.x)) and result.cost <= start_cost else x0
    return ss.finish(dict(zip(ss.params, map(float, x))))
