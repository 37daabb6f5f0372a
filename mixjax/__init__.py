"""mixjax: mixed-effects models with JAX, in lme4's formula syntax.

Stages (each public, as lme4's lFormula -> mkLmerDevfun -> optimizeLmer -> mkMerMod):
``parse_formula`` -> ``build_design`` -> ``make_lmm`` / ``make_glmm`` -> ``minimize`` -> ``LmmFit`` / ``GlmmFit``;
``lmm()`` and ``glmm()`` compose them.
"""
from . import (
    _config,  # noqa: F401  (float64, persistent compilation cache)
    datasets,
    families,
    stata,
)
from .api import glmm, glmm_many, lmm, lmm_many, nlme
from .design import Design, MixjaxWarning, ReTerm
from .design import build as build_design
from .formula import parse as parse_formula
from .inference.emmeans import EMMeans, emmeans
from .inference.lrt import anova
from .lme import gls, lme, pdCompSymm, pdDiag, pdIdent, pdSymm
from .objectives import GlmmObjective, LmmObjective, make_glmm, make_lmm
from .optim import Solution, minimize
from .residual import (
    corAR1,
    corARMA,
    corBanded,
    corBy,
    corCAR1,
    corCompSymm,
    corExp,
    corSymm,
    corToeplitz,
    varComb,
    varConstPower,
    varExp,
    varFixed,
    varIdent,
    varPower,
)
from .results import GlmmFit, LmmFit, OptimizerInfo, Summary
from .results.batch import Bootstrap, ManyFits
from .results.nlme import NlmeFit

__version__ = "0.1.0"

__all__ = [
    "corAR1", "corARMA", "corCAR1", "corCompSymm", "corExp", "corSymm", "corToeplitz", "corBanded", "corBy",
    "varComb", "varConstPower", "varExp", "varFixed", "varIdent", "varPower",
    "lme", "gls", "pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "stata",
    "lmm",
    "glmm",
    "nlme",
    "anova",
    "emmeans",
    "EMMeans",
    "lmm_many",
    "glmm_many",
    "datasets",
    "families",
    "parse_formula",
    "build_design",
    "make_lmm",
    "make_glmm",
    "minimize",
    "Design",
    "ReTerm",
    "LmmObjective",
    "GlmmObjective",
    "Solution",
    "LmmFit",
    "GlmmFit",
    "NlmeFit",
    "ManyFits",
    "Bootstrap",
    "OptimizerInfo",
    "Summary",
    "MixjaxWarning",
    "__version__",
]
