"""Fit results: estimates, tables, predictions."""
from .glmm import GlmmFit
from .lmm import LmmFit, OptimizerInfo
from .summary import Summary

__all__ = ["GlmmFit", "LmmFit", "OptimizerInfo", "Summary"]
