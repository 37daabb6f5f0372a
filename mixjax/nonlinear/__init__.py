"""Nonlinear mean functions: model expressions read by a restricted parser."""
from .expression import ModelExpression, parse_model

__all__ = ["ModelExpression", "parse_model"]
