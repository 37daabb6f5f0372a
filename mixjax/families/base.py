"""What every family is: a log-density of the response given the linear predictor, with all constants.

A family is a small frozen object. ``response(y, weights, levels)`` checks the response on the host and returns
``Response``; ``logpdf(resp, eta, params)`` gives each row's log-density (JAX, differentiable in ``eta`` and in
``params``); ``params`` are the family's own parameters on an unbounded scale (log dispersion, cutpoints), named
by ``param_names``. Adding a family never touches the optimizer: the Laplace and quadrature objectives only call
``logpdf``.

Two class attributes say how a family takes distributional formulas (glmmTMB's ``dispformula`` and
``ziformula``): ``dispersion_param`` is the index in ``params`` of the parameter that ``disp=`` gives its own
linear predictor (on the parameter's own unbounded scale; None: the family has no dispersion to model). The
family's ``logpdf`` must then work with that entry of ``params`` being one value per row (elementwise code does).
``truncated``: zero-truncated counts, whose ``zi=`` is a hurdle (the probability of a zero) rather than a
zero-inflation mixture.
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
    categorical response; ``zi``, ``disp``: the design matrices (n, q) of the zero-inflation and dispersion linear
    predictors (``families.distributional``), None without them."""

    y: np.ndarray
    trials: np.ndarray
    weights: np.ndarray
    levels: tuple = ()
    zi: np.ndarray | None = None
    disp: np.ndarray | None = None


@dataclass(frozen=True)
class Family:
    """Base: no parameters of its own; subclasses define ``logpdf`` and may add parameters."""

    name: str
    link: Link
    dispersion_param = None  # index in params of what disp= models (not a dataclass field)
    truncated = False  # zero-truncated counts: zi= is a hurdle
    zero_inflatable = False  # zi= may add zeros (counts)

    def response(self, y: np.ndarray, weights: np.ndarray, levels: tuple, what: str) -> Response:
        if levels:
            raise ValueError(
                f"response {what!r} is a factor with levels {', '.join(levels[:6])}; the {self.name} family needs "
                "numbers. Convert it, or use family='binomial' (two levels) or 'ordinal'."
            )
        if y.ndim != 1:
            kind = str(what).split("(", 1)[0].strip()
            needs = {"cens": "family='censored_gaussian'", "interval": "family='censored_gaussian'",
                     "Surv": "a survival family (exponential, weibull, gompertz, lognormal, loglogistic, gamma, ...)"}
            raise ValueError(f"response {what!r} needs {needs[kind]}; the {self.name} family reads one numeric column."
                             if kind in needs else f"cbind(successes, failures) is a binomial response; the "
                             f"{self.name} family needs one column.")
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

    def response_mean(self, resp: Response, eta, params):
        """Expected response of the rows of ``resp`` (which carries the distributional designs): ``mean``, except
        for families with zero-inflation (``families.distributional``)."""
        return self.mean(eta, params)

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
