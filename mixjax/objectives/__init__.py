"""Pure objective builders: each returns a jit-able function of a flat parameter vector."""
from .lmm import LmmObjective, make_lmm

__all__ = ["LmmObjective", "make_lmm"]
