"""Fits over the rows of several processes (``devices=`` in a ``jax.distributed`` job): the estimates, standard
errors, log-likelihood and random effects are those of all rows, the same in every process; ``design``,
``fitted()`` and ``residuals()`` are this process's rows; ``nobs`` (and so ``bic``) counts every process's rows.
What needs every row on the host (LMM conditional variances, bootstrap, influence) is not available there."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .glmm import GlmmFit
from .lmm import LmmFit

__all__ = ["across_processes"]

_LOCAL_ONLY = "is not available for fits over several processes (it needs every row in one process)"


class _AcrossProcesses:
    """Mixin: ``nobs`` of every process; host-side computations over all rows refused."""

    n_all: int

    @property
    def nobs(self) -> int:
        return self.n_all

    @property
    def condvar(self) -> dict:
        raise ValueError(f"condvar {_LOCAL_ONLY}.")

    def bootstrap(self, *args, **kwargs):
        raise ValueError(f"bootstrap {_LOCAL_ONLY}.")

    def influence(self, *args, **kwargs):
        raise ValueError(f"influence {_LOCAL_ONLY}.")


@dataclass(frozen=True, eq=False, repr=False)
class LmmFitAcross(_AcrossProcesses, LmmFit):
    n_all: int = 0


@dataclass(frozen=True, eq=False, repr=False)
class GlmmFitAcross(_AcrossProcesses, GlmmFit):
    n_all: int = 0


def across_processes(fit, objective, n_all: int):
    """``fit`` as a fit over every process's rows (``objective``: the sharded one that was optimized, or None)."""
    fields = {f.name: getattr(fit, f.name) for f in dataclasses.fields(fit)}
    if objective is not None:
        fields["objective"] = objective
    cls = GlmmFitAcross if isinstance(fit, GlmmFit) else LmmFitAcross
    return cls(**fields, n_all=n_all)
