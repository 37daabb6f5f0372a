"""Covariance structures of a random-effects term: theta -> relative covariance factor T."""
from .unstructured import Unstructured

__all__ = ["Unstructured"]
