"""Variance functions, named and parametrized as nlme's ``varFunc`` classes: the residual SD of row ``i`` is
``sigma * s_i`` with ``s_i`` from the function's parameters (nlme's unconstrained scale) and a covariate ``v``
(a data column or ``fitted(.)``, the fitted values: then the fit iterates, as nlme, until they settle):

* ``varIdent(form="~ 1 | g")``: a ratio per level of ``g``, the first level (in the order of the data) 1;
  ``s = exp(x_level)``.
* ``varPower(form="~ v")``: ``s = |v|^power``; ``varExp``: ``s = exp(t v)``; ``varConstPower``:
  ``s = const + |v|^power``, ``const = exp(x)``. With ``"~ v | g"`` each level of ``g`` has its own parameters.
* ``varFixed("~ v")``: ``s = sqrt(|v|)`` (variance proportional to ``v``), no parameters.
* ``varComb(f1, f2, ...)``: the product.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

__all__ = ["varIdent", "varPower", "varExp", "varConstPower", "varFixed", "varComb", "VARIANCES"]


@dataclass(frozen=True)
class _Variance:
    """``n_strata``: levels of the form's group (1 without one), known when bound to the data."""

    value: float | tuple = 0.0
    form: str = "~ fitted(.)"
    fixed: bool = False
    per_stratum = ("power",)

    def n_params(self, n_strata: int) -> int:
        return len(self.per_stratum) * n_strata

    def names(self, strata: tuple) -> list[str]:
        if len(strata) <= 1:
            return list(self.per_stratum)
        return [f"{p}.{s}" for p in self.per_stratum for s in strata]

    def start(self, n_strata: int) -> np.ndarray:
        value = np.atleast_1d(np.asarray(self.value, dtype=float))
        per = len(self.per_stratum)
        if value.size not in (1, per):
            raise ValueError(f"{type(self).__name__}: value={self.value!r} needs {per} number(s).")
        return np.repeat(self._unconstrained(np.resize(value, per)), n_strata)

    def _unconstrained(self, value):
        return value

    def natural(self, x, strata: tuple) -> dict:
        return dict(zip(self.names(strata), map(float, self._natural(np.asarray(x), len(strata))))) if len(x) else {}

    def _natural(self, x, n_strata):
        return x


@dataclass(frozen=True)
class varIdent(_Variance):
    """A residual SD ratio per level of ``g`` (``form="~ 1 | g"``), the first level's 1."""

    form: str = "~ 1"

    def n_params(self, n_strata):
        return n_strata - 1

    def names(self, strata):
        return list(strata[1:])

    def start(self, n_strata):
        value = np.atleast_1d(np.asarray(self.value, dtype=float))
        if value.size == 1 and value[0] == 0.0:
            return np.zeros(n_strata - 1)
        if value.size != n_strata - 1 or np.any(value <= 0):
            raise ValueError(f"varIdent: value={self.value!r} needs {n_strata - 1} positive ratio(s), one per level "
                             "after the first.")
        return np.log(value)

    def _natural(self, x, n_strata):
        return np.exp(x)

    def log_sd(self, x, v, stratum):
        return jnp.concatenate([jnp.zeros(1), x])[stratum]


@dataclass(frozen=True)
class varPower(_Variance):
    """``s = |v|^power`` (nlme's default covariate: the fitted values)."""

    def log_sd(self, x, v, stratum):
        return x[stratum] * jnp.log(jnp.abs(v))


@dataclass(frozen=True)
class varExp(_Variance):
    """``s = exp(expon * v)``."""

    per_stratum = ("expon",)

    def log_sd(self, x, v, stratum):
        return x[stratum] * v


@dataclass(frozen=True)
class varConstPower(_Variance):
    """``s = const + |v|^power`` (``value=(const, power)``, nlme's default ``(1, 0)``)."""

    value: tuple = (1.0, 0.0)
    per_stratum = ("const", "power")

    def _unconstrained(self, value):
        return np.array([np.log(value[0]), value[1]])

    def _natural(self, x, n_strata):
        return np.concatenate([np.exp(x[:n_strata]), x[n_strata:]])

    def log_sd(self, x, v, stratum):
        n = x.shape[0] // 2
        return jnp.log(jnp.exp(x[:n][stratum]) + jnp.abs(v) ** x[n:][stratum])


@dataclass(frozen=True)
class varFixed(_Variance):
    """Variance proportional to a covariate: ``s = sqrt(|v|)``, no parameters. As nlme's ``varFixed(value = ~ v)``,
    the formula may be given first: ``varFixed("~ v")`` is ``varFixed(form="~ v")``."""

    form: str = "~ 1"
    per_stratum = ()

    def __post_init__(self):
        if isinstance(self.value, str):
            object.__setattr__(self, "form", self.value)
            object.__setattr__(self, "value", 0.0)

    def start(self, n_strata):
        return np.zeros(0)

    def log_sd(self, x, v, stratum):
        return 0.5 * jnp.log(jnp.abs(v))


@dataclass(frozen=True, init=False)
class varComb:
    """The product of variance functions: ``varComb(varIdent(form="~ 1 | Sex"), varPower(form="~ age"))``."""

    parts: tuple

    def __init__(self, *parts):
        if not parts or not all(isinstance(p, _Variance) for p in parts):
            raise ValueError("varComb takes variance functions, e.g. varComb(varIdent(form='~ 1 | Sex'), "
                             "varPower(form='~ age')).")
        object.__setattr__(self, "parts", tuple(parts))


VARIANCES = (varIdent, varPower, varExp, varConstPower, varFixed)
