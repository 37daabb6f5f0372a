"""Optimizers over flat parameter vectors with simple bounds."""
from .newton import Solution, minimize

__all__ = ["Solution", "minimize"]
