"""Residual structures of linear and nonlinear mixed models: nlme's correlation structures (``correlation=``) and
variance functions (``weights=``), with their names and parametrizations."""
from .banded import corBanded, corBy, corToeplitz
from .bind import Arrays, Bound, bind, form_columns, whiten
from .correlation import corAR1, corARMA, corCAR1, corCompSymm, corExp, corSymm
from .variance import VARIANCES, varComb, varConstPower, varExp, varFixed, varIdent, varPower

VARIANCE_TYPES = (*VARIANCES, varComb)

__all__ = ["Arrays", "Bound", "bind", "form_columns", "whiten", "corAR1", "corARMA", "corCAR1", "corCompSymm",
           "corExp", "corSymm", "corToeplitz", "corBanded", "corBy", "varComb", "varConstPower", "varExp", "varFixed",
           "varIdent", "varPower", "VARIANCE_TYPES"]
