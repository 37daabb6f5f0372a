"""lme4 formula syntax: bar terms are split off here, everything else goes to formulaic."""
from .bars import ParsedFormula, RandomTerm, parse

__all__ = ["ParsedFormula", "RandomTerm", "parse"]
