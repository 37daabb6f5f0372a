"""What every family is: a log-density of the response given the linear predictor, with all constants.

A family is a small frozen object. ``response(y, weights, levels)`` checks the response on the host and returns
``Response``; ``logpdf(resp, eta, params)`` gives each row's log-density (JAX, differentiable in ``eta`` and in
``params``); ``params`` are the family's own parameters on an unbounded scale (log dispersion, cutpoints), named
by ``param_names``. Adding a family never touches the optimizer: the Laplace and quadrature objectives only call
``logpdf``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .links import Link

__all__ = ["Family", "Response", "check_counts"]


class Response(NamedTuple):
    """``y`` (n,) the response as the family reads it; ``trials`` (n,) binomial trials (ones elsewhere);
    ``weights`` (n,) prior weights multiplying each row's log-density; ``levels``: categories of an ordinal or
    categorical response."""

    y: np.ndarray
    trials: np.ndarray
    weights: np.ndarray
    levels: tuple = ()


@dataclass(frozen=True)
class Family:
    """Base: no parameters of its own; subclasses define ``logpdf`` and may add parameters."""

    name: str
    link: Link

    def response(self, y: np.ndarray, weights: np.ndarray, levels: tuple, what: str) -> Response:
        if levels:
            raise ValueError(
                f"response {what!r} is a factor with levels {', '.join(levels[:6])}; the {self.name} family needs "
                "numbers. Convert it, or use family='binomial' (two levels) or 'ordinal'."
            )
        if y.ndim != 1:
            raise ValueError(f"cbind(successes, failures) is a binomial response; the {self.name} family needs one column.")
        return Response(y, np.ones_like(y), weights)

    def param_names(self, resp: Response) -> list[str]:
        return []

    def param_start(self, resp: Response, mu: np.ndarray) -> np.ndarray:
        return np.zeros(0)

    def logpdf(self, resp: Response, eta, params):
        raise NotImplementedError

    def kernel(self, resp: Response, eta, params):
        """``logpdf`` up to terms that do not involve ``eta`` (cheaper; used while finding the mode)."""
        return self.logpdf(resp, eta, params)

    def mean(self, eta, params):
        """Expected response given the linear predictor."""
        return self.link.inverse(eta)

    def sample(self, key, eta, params, resp: Response):
        """One response per row drawn at linear predictor ``eta`` (JAX; ``resp`` gives the binomial trials and
        the prior weights), on the scale of ``Response.y``."""
        raise NotImplementedError(f"simulating from the {self.name} family is not implemented.")

    def dispersion(self, params) -> float | None:
        """The family's dispersion as glmmTMB's ``sigma()`` reports it (None where there is none)."""
        return None

    @property
    def has_intercept(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"{self.name} ( {self.link.name} )"


def check_counts(y: np.ndarray, what: str, family: str, integer: bool = True) -> None:
    """Non-negative (integer) responses; the error counts the rows that are not."""
    bad = (y < 0) | (np.mod(y, 1) != 0) if integer else y < 0
    if bad.any():
        kind = "non-negative integer counts" if integer else "non-negative values"
        raise ValueError(
            f"response {what!r}: the {family} family needs {kind}, but {int(bad.sum())} row(s) are not "
            f"(first at row {int(np.flatnonzero(bad)[0])}: {y[bad][0]!r})."
        )
