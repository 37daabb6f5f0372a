"""A block-diagonal covariance: independent blocks of columns, each with its own structure (nlme's ``pdBlocked``;
``pdDiag`` is blocks of one column). ``theta`` is the blocks' parameters one block after another."""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from .base import Covariance

__all__ = ["BlockDiagonal"]


@dataclass(frozen=True)
class BlockDiagonal:
    blocks: tuple[Covariance, ...]

    @property
    def k(self) -> int:
        return sum(b.k for b in self.blocks)

    @property
    def n_theta(self) -> int:
        return sum(b.n_theta for b in self.blocks)

    def _slices(self):
        start, col = 0, 0
        for b in self.blocks:
            yield b, slice(start, start + b.n_theta), slice(col, col + b.k)
            start, col = start + b.n_theta, col + b.k

    def lower(self) -> np.ndarray:
        return np.concatenate([b.lower() for b in self.blocks])

    def start(self) -> np.ndarray:
        return np.concatenate([b.start() for b in self.blocks])

    def names(self, group: str, cnames: tuple[str, ...]) -> list[str]:
        return [n for b, _, cols in self._slices() for n in b.names(group, tuple(cnames[cols]))]

    def factor(self, theta_t):
        T = jnp.zeros((self.k, self.k))
        for b, part, cols in self._slices():
            T = T.at[cols, cols].set(b.factor(theta_t[part]))
        return T

    def reflect_zero_columns(self, theta_t, grad_t):
        out, changed = np.array(theta_t, dtype=float), False
        for b, part, _ in self._slices():
            reflected = b.reflect_zero_columns(out[part], np.asarray(grad_t)[part])
            if reflected is not None:
                out[part], changed = reflected, True
        return out if changed else None

    def natural(self, theta_t, cnames=None) -> dict:
        out = {}
        for i, (b, part, _) in enumerate(self._slices()):
            out.update({f"block{i + 1}.{k}": v for k, v in b.natural(np.asarray(theta_t)[part]).items()})
        return out
