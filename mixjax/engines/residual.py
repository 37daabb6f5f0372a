"""The LMM engine for residual structures: bind the structures to the rows, minimize the deviance in
``(theta, rho)`` by trust-region Newton, and, where a variance function reads the fitted values (nlme's
``fitted(.)``), iterate as nlme does: fitted values held fixed during a fit, then updated, until they settle."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..design import Design
from ..objectives.lmm import make_lmm
from ..objectives.lmm_residual import ResidualObjective, make_residual
from ..optim.newton import Solution
from ..optim.reflect import minimize_reflecting
from ..residual import bind

__all__ = ["ResidualFit", "fit_residual", "MAX_OUTER"]

MAX_OUTER = 50  # fitted-value updates


class ResidualFit(NamedTuple):
    """The residual structure's side of a fit: the objective in ``x = (theta, rho)`` and its solution."""

    objective: ResidualObjective
    solution: Solution
    correlation: object = None  # the structures as given
    variance: object = None

    @property
    def rho(self) -> np.ndarray:
        return self.solution.x[self.objective.spec.n_theta :]


def theta_solution(s: Solution, n_theta: int) -> Solution:
    """The theta part of a solution in ``(theta, rho)``."""
    part = slice(0, n_theta)
    return s._replace(x=s.x[part], grad=s.grad[part], hessian=s.hessian[part, part], at_bound=s.at_bound[part])


def fit_residual(design: Design, correlation, variance, reml: bool, theta0, fitted_at, free_theta=None) -> ResidualFit:
    """Fit ``design`` with the residual structures from ``theta0``. ``fitted_at(objective, theta_solution)``: the
    fitted values of an LMM fit (read by ``fitted(.)`` covariates). ``free_theta``: which entries of theta move
    (None: all; False: none, gls's placeholder term held at 0); the others are held at ``theta0``."""
    base = make_lmm(design, reml=reml)
    default = None if free_theta is False else design.terms[0].factor
    bound, arrays = bind(correlation, variance, design.frame, default, design.terms)
    objective = make_residual(base, bound, arrays)
    if free_theta is not None:
        held = np.broadcast_to(np.asarray(free_theta, dtype=bool), (base.spec.n_theta,))
        objective = objective._replace(free=np.r_[held, objective.free[base.spec.n_theta :]])
    x0 = objective.start.copy()
    x0[: len(theta0)] = theta0
    previous = None
    if bound.fitted:  # nlme's start: the fitted values of the fit without the variance function
        previous = fitted_at(base, minimize_reflecting(base.minimize, theta0, design.terms))
    for _ in range(MAX_OUTER if bound.fitted else 1):
        if bound.fitted:
            objective = objective._replace(data=objective.data._replace(
                arrays=objective.data.arrays._replace(fitted=previous)))
        solution = minimize_reflecting(objective.minimize, x0, design.terms)
        if not bound.fitted:
            break
        mu = fitted_at(objective.conditional(solution.x), theta_solution(solution, base.spec.n_theta))
        settled = np.max(np.abs(mu - previous)) <= 1e-10 * max(1.0, float(np.max(np.abs(mu))))
        previous, x0 = mu, solution.x
        if settled:
            break
    return ResidualFit(objective, solution, correlation, variance)
