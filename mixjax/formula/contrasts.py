"""lmer's ``contrasts=`` argument: ``{"g": "sum" | "helmert" | "poly" | "treatment"}`` codes factor ``g`` of the
fixed part with R's ``contr.*`` (through formulaic's ``C(g, contr.*)``), with R's column names: ``g1, g2`` (sum,
helmert), ``g.L, g.Q, g.C, g^4`` (poly), ``g[T.b]`` (treatment, mixjax's usual)."""
from __future__ import annotations

import re

__all__ = ["KINDS", "apply_contrasts", "r_names"]

KINDS = ("treatment", "sum", "helmert", "poly")


def _check(contrasts: dict, fixed: str, columns) -> None:
    for name, kind in contrasts.items():
        if kind not in KINDS:
            raise ValueError(f"contrasts={{{name!r}: {kind!r}}}: the coding is one of {', '.join(map(repr, KINDS))} "
                             "(R's contr.treatment, contr.sum, contr.helmert, contr.poly).")
        if name not in columns:
            raise ValueError(f"contrasts= names {name!r}, which is not a column of the data.")
        if not re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.(])", fixed.split("~", 1)[1]):
            raise ValueError(f"contrasts= names {name!r}, which is not in the fixed part {fixed!r}.")


def apply_contrasts(fixed: str, contrasts: dict, columns) -> str:
    """``fixed`` ("y ~ rhs") with each named factor written ``C(name, contr.kind)`` in the right-hand side."""
    _check(contrasts, fixed, columns)
    lhs, rhs = fixed.split("~", 1)
    for name, kind in contrasts.items():
        rhs = re.sub(rf"(?<![\w.]){re.escape(name)}(?![\w.(])", f"C({name}, contr.{kind})", rhs)
    return f"{lhs}~{rhs}"


_CODED = re.compile(r"C\((?P<name>[\w.]+), contr\.(?P<kind>\w+)\)\[(?P<label>[^\]]*)\]")


def r_names(xnames: tuple[str, ...]) -> tuple[str, ...]:
    """formulaic's ``C(g, contr.sum)[S.a]`` -> R's ``g1`` (numbered per factor in column order), ``[.L]`` -> ``g.L``,
    treatment ``[T.b]`` -> ``g[T.b]``."""
    counts: dict[str, list[str]] = {}

    def one(m: re.Match) -> str:
        name, kind, label = m.group("name"), m.group("kind"), m.group("label")
        if kind == "poly":
            return f"{name}{label}"
        if kind == "treatment":
            return f"{name}[{label}]"
        seen = counts.setdefault(name, [])
        if label not in seen:
            seen.append(label)
        return f"{name}{seen.index(label) + 1}"

    return tuple(_CODED.sub(one, x) for x in xnames)
