"""Link functions ``eta = g(mu)``: name, link and inverse link, on numpy and JAX arrays alike."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
from jax.nn import log_sigmoid
from jax.scipy.special import log_ndtr, ndtr, ndtri

__all__ = ["Link", "LINKS", "log_probabilities"]


@dataclass(frozen=True)
class Link:
    """``name`` as R spells it; ``link`` maps the mean to the linear predictor, ``inverse`` back."""

    name: str
    link: Callable
    inverse: Callable


LINKS = {
    link.name: link
    for link in (
        Link("logit", lambda mu: jnp.log(mu) - jnp.log1p(-mu), lambda eta: 1.0 / (1.0 + jnp.exp(-eta))),
        Link("probit", ndtri, ndtr),
        Link("cloglog", lambda mu: jnp.log(-jnp.log1p(-mu)), lambda eta: -jnp.expm1(-jnp.exp(eta))),
        Link("log", jnp.log, jnp.exp),
        Link("identity", lambda mu: mu, lambda eta: eta),
        Link("inverse", lambda mu: 1.0 / mu, lambda eta: 1.0 / eta),
        Link("sqrt", jnp.sqrt, jnp.square),
        Link("1/mu^2", lambda mu: 1.0 / mu**2, lambda eta: 1.0 / jnp.sqrt(eta)),
    )
}


def log_probabilities(link: str, eta):
    """``(log mu, log(1 - mu))`` with ``mu`` the inverse link at ``eta``, computed stably, for the links whose inverse
    is a distribution function (logit, probit, cloglog) and the log link (``mu = exp(eta) < 1``)."""
    if link == "logit":
        return log_sigmoid(eta), log_sigmoid(-eta)
    if link == "probit":
        return log_ndtr(eta), log_ndtr(-eta)
    if link == "cloglog":
        return jnp.log(-jnp.expm1(-jnp.exp(eta))), -jnp.exp(eta)
    return eta, jnp.log(-jnp.expm1(eta))
