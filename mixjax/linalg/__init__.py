"""Blocked cross-products (host, built once) and their factorization (device, per evaluation)."""
from .crossprod import CrossProducts, crossproducts

__all__ = ["CrossProducts", "crossproducts"]
