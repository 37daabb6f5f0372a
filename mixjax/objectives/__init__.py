"""Pure objective builders: each returns a jit-able function of a flat parameter vector."""
from .glmm import GlmmObjective, make_glmm
from .lmm import LmmObjective, make_lmm

__all__ = ["LmmObjective", "make_lmm", "GlmmObjective", "make_glmm"]
