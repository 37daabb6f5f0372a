"""Stata's ``me`` commands for mixjax: ``translate("mixed Reaction Days || Subject: Days")`` gives the mixjax call
(``StataModel``: function, lme4 formula, keyword arguments), ``fit(command, data)`` fits it.

Read: ``mixed``, ``meglm``, ``melogit``, ``meprobit``, ``mecloglog``, ``meologit``, ``meoprobit``, ``mepoisson``,
``menbreg`` (and the old names ``xtmixed``, ``meqrlogit``, ``meqrpoisson``), ``metobit``, ``meintreg``, ``mestreg``
(``mixjax.stata("mestreg x || id:, distribution(weibull)", data, time="t", event="d")`` in place of ``stset``;
``stata.survival``) and ``menl``. See ``translate``, ``menl`` and ``run`` for the rules.

The module itself is callable: ``mixjax.stata(command, data)`` is ``mixjax.stata.fit(command, data)``, so that
``mixjax.stata`` is both the function and the namespace of ``translate`` and the others.
"""
import sys
import types

from .run import fit, with_stata_names
from .translate import Residuals, StataModel, translate

__all__ = ["Residuals", "StataModel", "fit", "translate", "with_stata_names"]


class _CallableModule(types.ModuleType):
    def __call__(self, command, data, **kwargs):
        """``mixjax.stata(command, data, **kwargs)``: ``mixjax.stata.fit``."""
        return fit(command, data, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
