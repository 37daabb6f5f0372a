"""``metobit``, ``meintreg`` and ``mestreg``: the response and family of Stata's censored and survival commands.

* ``metobit depvar indepvars || id:, ll(#|var) ul(#|var)`` -> ``cens(depvar, lower=ll, upper=ul)``, family
  ``censored_gaussian`` (``ll`` / ``ul`` without a value are Stata's minimum / maximum of depvar: give the value).
* ``meintreg lower upper indepvars || id:`` -> ``interval(lower, upper)``, family ``censored_gaussian``.
* ``mestreg indepvars || id:, distribution(d) [time]`` with ``time=``, ``event=`` and ``entry=`` given to
  ``mixjax.stata(...)`` in place of ``stset time, failure(event) enter(entry)`` -> ``Surv([entry,] time, event)``,
  family ``d`` (``exponential``, ``weibull``, ``gompertz``: proportional hazards, ``..._aft`` with ``time``;
  ``lognormal``, ``loglogistic``, ``gamma``: accelerated failure time). ``nohr`` / ``tratio`` only choose what
  Stata prints (``fit.eform_table()`` gives the ratios).
"""
from __future__ import annotations

from . import parse as p

__all__ = ["COMMANDS", "OPTIONS", "response"]

COMMANDS = ("metobit", "meintreg", "mestreg")
OPTIONS = {"ll": "ll", "ul": "ul", "distribution": "dist", "time": "time", "nohr": "nohr", "tratio": "tr"}
DISTRIBUTIONS = {"exponential": "e", "weibull": "w", "gompertz": "gom", "lognormal": "logn", "lnormal": "ln",
                 "loglogistic": "logl", "llogistic": "ll", "gamma": "gam"}
_FAMILY = {"lnormal": "lognormal", "llogistic": "loglogistic", "gamma": "gamma_aft"}
_BOTH_METRICS = ("exponential", "weibull")
_OWN = {"metobit": ("ll", "ul"), "meintreg": (), "mestreg": ("distribution", "time", "nohr", "tratio")}


def _bound(opts: dict, name: str, variables: list) -> str | None:
    if name not in opts:
        return None
    value = (opts[name] or "").strip()
    if not value:
        raise ValueError(f"{name}() without a value (Stata's minimum / maximum of depvar): write the limit, "
                         f"{name}(0), or a variable, {name}(limit).")
    try:
        float(value)
    except ValueError:
        variables.append(p.check_name(value, f"in {name}()"))
    return value


def _distribution(opts: dict) -> str:
    text = (opts.get("distribution") or "").strip().lower()
    if not text:
        raise ValueError(f"mestreg needs distribution(): one of {', '.join(DISTRIBUTIONS)}.")
    name = p.resolve(text, DISTRIBUTIONS)
    if name is None:
        raise ValueError(f"distribution({text}): mixjax's are {', '.join(DISTRIBUTIONS)}.")
    name = _FAMILY.get(name, name)
    if "time" in opts and name == "gompertz":
        raise ValueError("time (the AFT metric) does not suit distribution(gompertz), a proportional-hazards model.")
    return f"{name}_aft" if "time" in opts and name in _BOTH_METRICS else name


def response(name: str, toks: list[str], opts: dict, survival: dict) -> tuple[str, list[str], str, list[str]] | None:
    """(response, the tokens of the independent variables, family, the variables read) for metobit, meintreg and
    mestreg; None for other commands (which must not carry these commands' options)."""
    for command, own in _OWN.items():
        misplaced = [o for o in own if o in opts and command != name]
        if misplaced:
            raise ValueError(f"{misplaced[0]}() is an option of {command}, not of {name}.")
    if name in COMMANDS and ("family" in opts or "link" in opts):
        raise ValueError(f"family() and link() belong to meglm; {name} fixes them.")
    given = {k: v for k, v in survival.items() if v is not None}
    if name != "mestreg" and given:
        raise ValueError(f"{', '.join(given)}= belong(s) to mestreg (in place of stset); {name} reads its "
                         "dependent variable(s).")
    if name not in COMMANDS:
        return None
    if name == "metobit":
        if not toks:
            raise ValueError("metobit needs a dependent variable: metobit depvar [indepvars] || id:, ll(#) ul(#)")
        depvar = p.check_name(toks[0], "the dependent variable")
        variables = [depvar]
        bounds = [f"{k}={v}" for k, v in (("lower", _bound(opts, "ll", variables)),
                                           ("upper", _bound(opts, "ul", variables))) if v is not None]
        if not bounds:
            raise ValueError("metobit needs ll() and/or ul(), the censoring limits.")
        return f"cens({depvar}, {', '.join(bounds)})", toks[1:], "censored_gaussian", variables
    if name == "meintreg":
        if len(toks) < 2:
            raise ValueError("meintreg needs two dependent variables: meintreg depvar_lower depvar_upper "
                             "[indepvars] || id:")
        lo, hi = (p.check_name(t, "a dependent variable") for t in toks[:2])
        return f"interval({lo}, {hi})", toks[2:], "censored_gaussian", [lo, hi]
    if not given.get("time") or not given.get("event"):
        raise ValueError("mestreg needs the survival times and the failure indicator, given as keyword arguments "
                         "in place of stset: mixjax.stata(command, data, time='t', event='died' [, entry='t0']).")
    names = [given[k] for k in ("entry", "time", "event") if k in given]
    for v in names:
        p.check_name(v, "in time= / event= / entry=")
    return f"Surv({', '.join(names)})", toks, _distribution(opts), names
