"""Link functions ``eta = g(mu)``: name, link and inverse link, on numpy and JAX arrays alike."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
from jax.scipy.special import ndtr, ndtri

__all__ = ["Link", "LINKS"]


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
