"""nlme's front-ends: ``lme(fixed, data, random, ...)`` and ``gls(model, data, ...)`` in nlme's syntax, fitted by
the LMM engine (``mixjax.lmm``) and printed as nlme prints them.

``random`` as nlme takes it: ``"~ x | g"``; nested ``"~ 1 | a/b"``; a dict ``{"a": "~ 1", "b": "~ x"}`` (levels
outermost first, each nested in the ones before, as nlme's named list); or a ``pdSymm`` / ``pdDiag`` / ``pdIdent``
/ ``pdCompSymm`` structure (``pdDiag("~ age | Subject")``, or inside the dict: ``{"Subject": pdDiag("~ age")}``).
They translate to lme4 terms with glmmTMB's structure names (``pdDiag(~ age)`` -> ``diag(age | Subject)``).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import residual
from .design import build
from .formula.bars import _expand_group, _top_level_split

__all__ = ["lme", "gls", "pdSymm", "pdDiag", "pdIdent", "pdCompSymm", "random_terms"]


@dataclass(frozen=True)
class _PdMat:
    form: str
    structure = "us"


class pdSymm(_PdMat):
    """General positive-definite covariance (nlme's default; lme4's ``(x | g)``)."""


class pdDiag(_PdMat):
    """Independent effects, one variance each (``diag(x | g)``)."""

    structure = "diag"


class pdIdent(_PdMat):
    """Independent effects with one common variance (``homdiag(x | g)``; Stata ``identity``)."""

    structure = "homdiag"


class pdCompSymm(_PdMat):
    """One common variance and one common correlation (``homcs(x | g)``; Stata ``exchangeable``)."""

    structure = "homcs"


def _one(spec, group: str | None, what: str) -> tuple[str, str, str]:
    """(expression, group, structure) of one random-effects formula."""
    structure = spec.structure if isinstance(spec, _PdMat) else "us"
    text = spec.form if isinstance(spec, _PdMat) else spec
    if not isinstance(text, str) or not text.strip().startswith("~"):
        raise ValueError(f"random={what!r}: write a one-sided formula such as '~ 1 | Subject' or '~ age | Subject', "
                         "a dict {'Subject': '~ age'}, or pdDiag('~ age | Subject').")
    parts = _top_level_split(text.strip()[1:], "|")
    if len(parts) == 2:
        if group is not None:
            raise ValueError(f"random={what!r}: the group is named twice ({group!r} and {parts[1].strip()!r}).")
        group = parts[1].strip()
    if len(parts) > 2 or group is None:
        raise ValueError(f"random={what!r}: name the grouping factor, as in '~ 1 | Subject' (mixjax has no "
                         "groupedData).")
    return parts[0].strip(), group, structure


def random_terms(random) -> list[str]:
    """lme4 terms of nlme's ``random``: nested levels become ``(x | a) + (x | b:a)``."""
    if isinstance(random, dict):
        if not random:
            raise ValueError("random={}: give at least one grouping factor, e.g. {'Subject': '~ 1'}.")
        out, outer = [], []
        for group, spec in random.items():
            expr, group, structure = _one(spec, group, random)
            out.append(_term(expr, ":".join([group, *outer[::-1]]), structure))
            outer.append(group)
        return out
    expr, group, structure = _one(random, None, random)
    return [_term(expr, g, structure) for g in _expand_group(group, str(random))[::-1]]


def _term(expr: str, group: str, structure: str) -> str:
    return f"{'' if structure == 'us' else structure}({expr} | {group})"


def _method(method: str) -> bool:
    if method not in ("REML", "ML"):
        raise ValueError(f"method={method!r}: use 'REML' (nlme's default) or 'ML'.")
    return method == "REML"


def lme(fixed: str, data, random, *, correlation=None, weights=None, method: str = "REML"):
    """nlme's ``lme``: ``fixed`` a two-sided formula (``"distance ~ age + Sex"``), ``random`` as in the module
    docstring, ``correlation`` / ``weights`` nlme's residual structures (``mixjax.corAR1()``,
    ``mixjax.varIdent(form="~ 1 | Sex")``), ``method`` "REML" or "ML". Returns an ``LmeFit``: an LMM fit printed as
    nlme's ``summary.lme``, with nlme's t-test degrees of freedom."""
    from .api import lmm
    from .results.lme import LmeFit

    reml = _method(method)
    if not isinstance(fixed, str) or "~" not in fixed:
        raise ValueError(f"fixed={fixed!r}: write a two-sided formula such as 'distance ~ age + Sex'.")
    formula = " + ".join([fixed.strip(), *random_terms(random)])
    fit = lmm(formula, data, reml=reml, correlation=correlation, weights=weights)
    return LmeFit(fit.design, fit.objective, fit.solution, fit.residual, fixed=fixed.strip(), random=random)


GLS_GROUP = "(gls)"


def gls(model: str, data, *, correlation=None, weights=None, method: str = "REML"):
    """nlme's ``gls``: a linear model with correlated or heteroscedastic residuals and no random effects
    (``correlation``, ``weights`` as in ``lme``; a correlation's form names its groups, ``"~ 1 | Mare"``, or else
    covers all rows as one series). Returns a ``GlsFit``."""
    from .api import _residual_args, _warn
    from .results.lme import GlsFit
    from .results.lmm import fit_with_residuals

    reml = _method(method)
    if not isinstance(data, pd.DataFrame):
        raise ValueError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    if GLS_GROUP in data.columns:
        raise ValueError(f"data has a column named {GLS_GROUP!r}, which gls uses itself; rename it.")
    prior, variance = _residual_args(correlation, weights)
    if prior is not None:
        raise ValueError("gls: weights= takes a variance function (mixjax.varFixed('~ v') for known variances).")
    extra = residual.form_columns(correlation, variance, data)
    frame = data.assign(**{GLS_GROUP: 0})  # a placeholder random intercept, held at 0: the fit is a GLS fit
    design = build(f"{model} + (1 | `{GLS_GROUP}`)", frame, extra_columns=extra, check_levels=False)
    fit = fit_with_residuals(design, correlation, variance, reml, design.theta_start * 0, False, GlsFit)
    return _warn(fit)
