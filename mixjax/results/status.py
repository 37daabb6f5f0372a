"""An optimizer's status code (``mixjax.optim.status.Status``) in words."""
from __future__ import annotations

from ..optim.status import Status

__all__ = ["describe"]

WORDS = {
    Status.GRADIENT: "converged: gradient below tolerance",
    Status.DECREASE: "converged: predicted decrease below tolerance",
    Status.NO_DECREASE: "converged: no further decrease possible",
    Status.COLLAPSED: "stopped: the trust region collapsed without a decrease",
    Status.MAX_ITER: "stopped: {max_iter} iterations without convergence",
    Status.NOT_FINITE_START: "stopped: the objective is not finite at the start values",
    Status.QUASI_NEWTON: "converged: {detail}",
    Status.QUASI_NEWTON_STOPPED: "stopped: {detail}",
}


def describe(status: int, max_iter: int = 300, detail: str = "") -> str:
    return WORDS[Status(int(status))].format(max_iter=max_iter, detail=detail)
