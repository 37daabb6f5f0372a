"""mixjax: mixed-effects models with JAX, in lme4's formula syntax.

Stages (each public, as lme4's lFormula -> mkLmerDevfun -> optimizeLmer -> mkMerMod):
``parse_formula`` -> ``build_design`` -> ``make_lmm`` -> ``minimize`` -> ``LmmFit``; ``lmm()`` composes them.
"""
from . import _config  # noqa: F401  (float64, persistent compilation cache)
from . import datasets
from .api import lmm
from .design import Design, MixjaxWarning, ReTerm
from .design import build as build_design
from .formula import parse as parse_formula
from .objectives import LmmObjective, make_lmm
from .optim import Solution, minimize
from .results import LmmFit, OptimizerInfo, Summary

__version__ = "0.1.0"

__all__ = [
    "lmm",
    "datasets",
    "parse_formula",
    "build_design",
    "make_lmm",
    "minimize",
    "Design",
    "ReTerm",
    "LmmObjective",
    "Solution",
    "LmmFit",
    "OptimizerInfo",
    "Summary",
    "MixjaxWarning",
    "__version__",
]
