"""How an optimization ended, as an integer code (a JAX value inside compiled loops; words only in
``mixjax.results.status``). Modelled on optimistix's ``RESULTS``."""
from __future__ import annotations

from enum import IntEnum

__all__ = ["Status", "CONVERGED"]


class Status(IntEnum):
    RUNNING = 0
    GRADIENT = 1  # converged: the largest projected gradient is below tolerance
    DECREASE = 2  # converged: the predicted decrease of a Newton step is below tolerance
    NO_DECREASE = 3  # converged: the trust region collapsed at a point where no decrease is possible
    COLLAPSED = 4  # stopped: the trust region collapsed without a decrease
    MAX_ITER = 5  # stopped: the iteration limit
    NOT_FINITE_START = 6  # stopped: the objective is not finite at the start values
    QUASI_NEWTON = 7  # converged: L-BFGS-B's own test (``Solution.detail`` has its message)
    QUASI_NEWTON_STOPPED = 8  # stopped: L-BFGS-B ended otherwise (``Solution.detail``)


CONVERGED = (Status.GRADIENT, Status.DECREASE, Status.NO_DECREASE, Status.QUASI_NEWTON)
