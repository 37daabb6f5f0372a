"""A structure with some of its parameters held at values (glmmTMB's ``map``, Stata's ``constraints``, mixjax's
``fix={theta name: value}``): the free ones are the term's theta, the held ones are filled in by ``factor``.

``base`` is any structure, ``held`` a tuple of ``(position in base's theta, value)`` pairs. Held parameters are not
estimated, so they count in no degrees of freedom and never read as a boundary; the term's covariance (``factor``,
``natural``) is ``base``'s at the full parameter vector.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["Held"]


@dataclass(frozen=True)
class Held:
    base: object
    held: tuple  # ((index, value), ...)

    @property
    def k(self) -> int:
        return self.base.k

    @property
    def _free(self) -> np.ndarray:
        return np.setdiff1d(np.arange(self.base.n_theta), [i for i, _ in self.held])

    @property
    def n_theta(self) -> int:
        return self.base.n_theta - len(self.held)

    def lower(self) -> np.ndarray:
        return self.base.lower()[self._free]

    def start(self) -> np.ndarray:
        return self.base.start()[self._free]

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        names = self.base.names(group, cnames)
        return [names[i] for i in self._free]

    def full(self, theta_t):
        """The base structure's parameters: ``theta_t`` in the free places, the held values in theirs."""
        out = jnp.zeros(self.base.n_theta, dtype=jnp.result_type(theta_t, float)).at[self._free].set(theta_t)
        return out.at[np.array([i for i, _ in self.held], dtype=int)].set(jnp.array([v for _, v in self.held]))

    def factor(self, theta_t):
        return self.base.factor(self.full(theta_t))

    def reflect_zero_columns(self, theta_t, grad_t) -> None:
        return None

    def natural(self, theta_t) -> dict[str, float]:
        return self.base.natural(np.asarray(self.full(theta_t)))
