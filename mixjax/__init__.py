from . import _config  # noqa: F401  (float64, compilation cache)
