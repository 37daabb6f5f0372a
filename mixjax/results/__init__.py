"""Fit results: estimates, tables, predictions."""
from .lmm import LmmFit, OptimizerInfo
from .summary import Summary

__all__ = ["LmmFit", "OptimizerInfo", "Summary"]
