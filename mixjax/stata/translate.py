"""A parsed Stata ``mixed`` / ``me*`` command -> the mixjax call that fits the same model (``StataModel``).

Random equations, outermost first, become lme4 terms: ``|| school: || class:`` -> ``(1 | school) +
(1 | school:class)``; Stata's default covariance (independent) is lme4's ``||``, ``cov(un)`` its ``|``,
``cov(ex)`` / ``cov(id)`` the glmmTMB-style ``homcs(x | g)`` / ``homdiag(x | g)`` (plain ``(1 | g)`` when there is
a single effect: the same model), ``cov(fixed(M))`` / ``cov(pattern(M))`` the term ``(x | g)`` plus
``covariance={"g": ("fixed", M)}`` in kwargs (the matrix from ``matrices=``, else its name). ``R.f`` at level
``g`` is ``(1 | g:f)`` (identity), with ``cov(ex)`` ``(1 | g) + (1 | g:f)``, with ``cov(un)`` ``(0 + C(f) | g)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..families import FAMILIES, SURVIVAL_FAMILIES
from . import parse as p
from .constraints import numlist
from .survival import OPTIONS as SURVIVAL_OPTIONS
from .survival import response as censored_response

__all__ = ["Residuals", "StataModel", "translate"]


@dataclass(frozen=True)
class Residuals:
    """``residuals(rtype [order], t(t) by(by))`` of ``mixed``; ``group``: the innermost level (``a:b``), the
    grouping of the residual correlation. ``run.fit`` turns it into nlme-style correlation / weights objects."""

    rtype: str
    order: int | None = None
    t: str | None = None
    by: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class StataModel:
    """``function(formula, data, **kwargs)`` fits the command's model (``function``: lmm, glmm or nlme; for nlme
    ``formula`` is the model string). ``variables``: the Stata names used (matched to data columns by ``fit``);
    ``notes``: where mixjax's fit differs from Stata's (warned by ``fit``)."""

    command: str
    function: str
    formula: str
    kwargs: dict = field(default_factory=dict)
    eform: str | None = None
    summary_style: str = "stata"
    variables: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    constraints: tuple[int, ...] = ()  # constraints(numlist): applied by ``fit`` (``constraints.to_fix``)
    effects: tuple = ()  # (level number, equation number, group, effect names as Stata orders them) per equation


# command -> (function, family, link): Stata's defaults
COMMANDS = {
    "mixed": ("lmm", None, None), "meglm": ("glmm", "gaussian", None),
    "melogit": ("glmm", "binomial", "logit"), "meprobit": ("glmm", "binomial", "probit"),
    "mecloglog": ("glmm", "binomial", "cloglog"), "meologit": ("glmm", "ordinal", "logit"),
    "meoprobit": ("glmm", "ordinal", "probit"), "mepoisson": ("glmm", "poisson", "log"),
    "menbreg": ("glmm", "nbinom2", "log"),
    "metobit": ("glmm", "censored_gaussian", "identity"), "meintreg": ("glmm", "censored_gaussian", "identity"),
    "mestreg": ("glmm", None, "log"),  # the family from distribution() (stata.survival)
}
ALIASES = {"xtmixed": "mixed", "meqrlogit": "melogit", "meqrpoisson": "mepoisson"}
# Stata family -> (mixjax family, Stata's default link); minimal abbreviations
STATA_FAMILIES = {"gaussian": ("gaussian", "identity"), "bernoulli": ("binomial", "logit"),
                  "binomial": ("binomial", "logit"), "poisson": ("poisson", "log"), "nbinomial": ("nbinom2", "log"),
                  "gamma": ("gamma", "log"), "ordinal": ("ordinal", "logit")}
_FAMILY_ABBREV = {"gaussian": "gau", "bernoulli": "bern", "binomial": "bi", "poisson": "poi", "nbinomial": "nb",
                  "gamma": "gam", "ordinal": "ord"}
EQUATION_OPTIONS = {"noconstant": "nocons", "covariance": "cov"}
MODEL_OPTIONS = {"reml": "reml", "mle": "mle", "residuals": "res", "family": "f", "link": "l", "binomial": "binomial",
                 "dispersion": "disp", "offset": "offset", "exposure": "exp", "intmethod": "intm",
                 "intpoints": "intp", "or": "or", "irr": "irr", "constraints": "const", "vce": "vce",
                 "pweight": "pw", "fweight": "fw", "eform": "eform", **SURVIVAL_OPTIONS}
IGNORED = {"nolog": "nolog", "log": "log", "level": "level", "iterate": "iter", "tolerance": "tol",
           "ltolerance": "ltol", "nrtolerance": "nrtol", "difficult": "diff", "technique": "tech",
           "variance": "var", "stddeviations": "stddev", "noretable": "noretable", "nofetable": "nofetable",
           "noheader": "nohead", "nogroup": "nogr", "nolrtest": "nolr", "estmetric": "estm", "dfmethod": "dfm",
           "emiterate": "emiter", "emtolerance": "emtol", "emonly": "emonly", "emlog": "emlog", "matlog": "matlog",
           "matsqrt": "matsqrt", "nostderr": "nostderr", "coeflegend": "coefl", "startvalues": "startv",
           "collinear": "coll", "notable": "notable", "nocnsreport": "nocnsr"}
_REML_DEFAULT = {"mixed": True}
_RTYPES = {"independent": "ind", "exchangeable": "exc", "ar": "ar", "ma": "ma", "unstructured": "un",
           "banded": "ban", "toeplitz": "toe", "exponential": "exp"}


def _classify(options, table, where) -> dict:
    out = {}
    for opt in options:
        full = p.resolve(opt.name, table) or p.resolve(opt.name, IGNORED)
        if full is None:
            valid = ", ".join(sorted({**EQUATION_OPTIONS, **MODEL_OPTIONS}))
            raise ValueError(f"unknown option {opt.name!r} {where}; the options mixjax reads are: {valid} (and "
                             "reporting/maximization options such as nolog, which it ignores).")
        if full in out:
            raise ValueError(f"option {full} is given twice {where}; give it once.")
        out[full] = opt.args
    return out


def _refuse_qualifiers(body: str) -> list[str]:
    toks = p.tokens(body)
    for tok in toks:
        if tok in ("if", "in"):
            raise ValueError(f"'{tok}' qualifiers are not supported: subset the data first (data.query(...) or "
                             "data.loc[...]) and drop the qualifier.")
        if tok.startswith("["):
            raise ValueError(f"weights {tok} are not supported by mixjax's Stata front-end yet; drop them.")
    return toks


def fixed_rhs(terms: list, constant: bool) -> str:
    """``ibn.x``: cell-means coding, ``0 + C(x) + ...`` (the same model as i.x with a constant)."""
    full = [t for t in terms if t.full]
    if len(full) > 1:
        raise ValueError("more than one ibn. variable: only one factor can keep all its levels; use i. for the others.")
    if full:
        terms, constant = full + [t for t in terms if not t.full], False
    pieces = ([] if constant else ["0"]) + [t.text for t in terms]
    return " + ".join(pieces) or "1"


def _term(expr: str, group: str, vt: str, k: int) -> str:
    if k == 1 or vt in ("unstructured", "fixed", "pattern"):
        return f"({expr} | {group})"
    return {"independent": f"({expr} || {group})", "exchangeable": f"homcs({expr} | {group})",
            "identity": f"homdiag({expr} | {group})"}[vt]


def random_terms(equations: list, matrices: dict) -> tuple[list[str], dict, list[str]]:
    """Random equations -> (lme4 terms, covariance kwargs, the level path as groups)."""
    terms, covariance, path = [], {}, []
    for eq in equations:
        if eq.level != "_all" and (not path or path[-1] != eq.level):
            path.append(eq.level)
        group = ":".join(path) if eq.level != "_all" else ""
        if eq.factor:
            inner = f"{group}:{eq.factor}" if group else eq.factor
            vt = eq.vartype or "identity"
            if vt == "identity":
                terms.append(f"(1 | {inner})")
            elif vt == "exchangeable" and group:
                terms += [f"(1 | {group})", f"(1 | {inner})"]
            elif vt == "unstructured" and group:
                terms.append(f"(0 + C({eq.factor}) | {group})")
            else:
                raise ValueError(f"R.{eq.factor} at level {eq.level} with covariance({vt}) is not supported: use "
                                 "identity (the default), or exchangeable / unstructured below a level variable.")
            continue
        if not group:
            raise ValueError("_all: takes R.factor (one effect per level of a factor, crossed); for other random "
                             "effects name a level variable, as || id: x.")
        expr = " + ".join(([] if eq.constant else ["0"]) + list(eq.revars)) or "1"
        k = len(eq.revars) + eq.constant
        vt = eq.vartype or "independent"
        if vt in ("fixed", "pattern"):
            if group in covariance:
                raise ValueError(f"two covariance(fixed/pattern) equations at level {group}; give one matrix.")
            covariance[group] = (vt, matrices.get(eq.matrix, eq.matrix))
        terms.append(_term(expr, group, vt, k))
    return terms, covariance, path


def _family(command: str, options: dict) -> tuple[str, str, str | None]:
    """(mixjax family, link, binomial trials) from the command and family()/link()/binomial()/dispersion()."""
    _, family, link = COMMANDS[command]
    trials = options.get("binomial")
    if command == "meglm":
        words = (options.get("family") or "gaussian").split()
        stata = p.resolve(words[0].lower(), _FAMILY_ABBREV)
        if stata is None:
            raise ValueError(f"unknown family({options['family']}); the families are: {', '.join(STATA_FAMILIES)}. "
                             "(metobit/meintreg/mestreg families are not in mixjax yet.)")
        family, link = STATA_FAMILIES[stata]
        if stata == "binomial":
            trials = words[1] if len(words) > 1 else "1"
        if stata == "nbinomial" and len(words) > 1:
            options = {**options, "dispersion": words[1]}
        link = (options.get("link") or link).lower()
    elif options.get("family") or options.get("link"):
        raise ValueError(f"family() and link() belong to meglm; {command} fixes them. Write meglm ..., family() link().")
    if trials is not None and family != "binomial":
        raise ValueError(f"binomial({trials}) is for melogit, meprobit, mecloglog or meglm family(binomial n).")
    if options.get("dispersion") is not None:
        if family != "nbinom2":
            raise ValueError("dispersion() is an option of menbreg (or meglm family(nbinomial)).")
        kind = options["dispersion"].strip().lower()
        if kind not in ("mean", "constant", "m", "c", "con", "const"):
            raise ValueError(f"dispersion({kind}): write dispersion(mean) (nbinom2) or dispersion(constant) (nbinom1).")
        family = "nbinom1" if kind.startswith("c") else "nbinom2"
    if link not in FAMILIES[family][1]:
        raise ValueError(f"link({link}) does not suit family {family}; its links are: {', '.join(FAMILIES[family][1])}.")
    return family, link, trials


def _residuals(text: str, path: list[str]) -> Residuals:
    head, *rest = p.split_top(text, ",")
    words = head.split()
    rtype = p.resolve(words[0].lower(), _RTYPES) if words else None
    if rtype is None:
        raise ValueError(f"residuals({text}): the residual types are: {', '.join(_RTYPES)}.")
    order = int(words[1]) if len(words) > 1 and words[1].isdigit() else None
    sub = {o.name: o.args for o in p.parse_options(",".join(rest))}
    t, by = sub.pop("t", None), sub.pop("by", None)
    if sub:
        raise ValueError(f"residuals({text}): unknown suboption(s) {', '.join(sub)}; write t(varname) by(varname).")
    if rtype in ("ar", "ma", "toeplitz", "exponential", "unstructured", "banded") and t is None:
        raise ValueError(f"residuals({rtype} ...) needs the time variable: residuals({rtype} 1, t(time)).")
    if rtype in ("toeplitz", "banded") and order is None:
        raise ValueError(f"residuals({rtype}) needs its order, the largest lag with a correlation: "
                         f"residuals({rtype} 1, t({t})).")
    if not path:
        raise ValueError("residuals() needs a random-effects level (|| id:) that groups the residuals.")
    return Residuals(rtype, order, t and p.check_name(t, "in t()"), by and p.check_name(by, "in by()"), ":".join(path))


def _nagq(options: dict, equations: list, notes: list) -> int:
    """Stata's default integration is 7-point adaptive quadrature, Laplace for crossed (``_all``) models; mixjax's
    quadrature takes one random-effects term, so several (nested, or independent slopes) use Laplace."""
    method = (options.get("intmethod") or "mvaghermite").strip().lower()
    if method.startswith("lap"):
        return 1
    points = int(options.get("intpoints") or 7)
    one = len(equations) == 1 and not equations[0].factor and not (
        (equations[0].vartype or "independent") == "independent" and len(equations[0].revars) + equations[0].constant > 1)
    if one or points == 1:
        return points
    if "intpoints" in options or "intmethod" in options:
        raise ValueError(f"intpoints({points}) needs a single random-effects term (one level, cov(un) for several "
                         "effects); mixjax's quadrature does not cover several terms. Use intmethod(laplace).")
    if not any(eq.level == "_all" for eq in equations):
        notes.append("Stata integrates this model by adaptive quadrature (7 points); mixjax uses Laplace "
                     "(intmethod(laplace)) for several random-effects terms, so the numbers differ slightly.")
    return 1


def translate(command: str, matrices: dict | None = None, survival: dict | None = None) -> StataModel:
    """Translate one Stata ``mixed`` / ``me*`` / ``menl`` command (see ``mixjax.stata``). ``survival``: mestreg's
    ``{"time": ..., "event": ..., "entry": ...}`` column names, in place of ``stset``."""
    text = p.clean(command)
    name = text.partition(" ")[0].lower()
    name = ALIASES.get(name, name)
    if name == "menl":
        from .menl import translate_menl
        return translate_menl(text)
    if name not in COMMANDS:
        raise ValueError(f"unknown command {name!r}; mixjax reads: {', '.join([*COMMANDS, 'menl'])}.")
    cmd = p.parse_command(text)
    fixed, *res = cmd.equations
    fe_opts = _classify(fixed.options, {**MODEL_OPTIONS, "noconstant": "nocons"}, "in the fixed-effects equation")
    model_opts, equations = dict(fe_opts), []
    for eq in res:
        opts = _classify(eq.options, {**EQUATION_OPTIONS, **MODEL_OPTIONS}, f"in || {eq.body}")
        equations.append(p.random_equation(eq, opts))
        model_opts.update({k: v for k, v in opts.items() if k not in EQUATION_OPTIONS})
    return _assemble(name, fixed, fe_opts, model_opts, equations, matrices or {}, survival or {})


def _assemble(name, fixed, fe_opts, opts, equations, matrices, survival) -> StataModel:
    for bad, why in (("vce", "vce() is not supported: fit, then use mixjax's robust inference on the fit"),
                     ("pweight", "sampling weights are not supported yet"), ("fweight", "weights are not supported")):
        if bad in opts:
            raise ValueError(f"{why} ({bad}({opts[bad] or ''}) in {name}).")
    toks = _refuse_qualifiers(fixed.body)
    censored = censored_response(name, toks, opts, survival)  # metobit, meintreg, mestreg; None for the others
    if not toks and censored is None:
        raise ValueError(f"{name} needs a dependent variable: {name} depvar [indepvars] || id:")
    if not equations:
        raise ValueError(f"{name} without a random-effects equation: add one, as || id:, for a mixed model.")
    if censored is None:
        response = p.check_name(toks[0], "the dependent variable")
        censored = (response, toks[1:], None, [response])
    response, xtoks, cfamily, variables = censored
    fterms = [t for tok in xtoks for t in p.fixed_terms(tok)]
    terms, covariance, path = random_terms(equations, matrices)
    function, notes, kwargs, eform = COMMANDS[name][0], [], {}, None
    depvar = variables[0]
    if function == "lmm":
        for opt in ("family", "link", "binomial", "offset", "exposure", "intpoints", "intmethod", "or", "irr"):
            if opt in opts:
                raise ValueError(f"option {opt}() is not one of mixed's; use meglm/melogit/mepoisson for it.")
        if "reml" in opts and "mle" in opts:
            raise ValueError("reml and mle together: choose one.")
        kwargs["reml"] = "mle" not in opts
        if "residuals" in opts:
            kwargs["residuals"] = res = _residuals(opts["residuals"] or "", path)
            variables += [v for v in (res.t, res.by) if v]
    else:
        for opt in ("reml", "mle", "residuals"):
            if opt in opts:
                raise ValueError(f"{opt} is an option of mixed; {name} fits by maximum likelihood.")
        family, link, trials = _family(name, opts) if cfamily is None else (
            cfamily, (SURVIVAL_FAMILIES if name == "mestreg" else FAMILIES)[cfamily][1][0], None)
        if trials is not None and trials != "1":
            response = f"cbind({depvar}, {trials} - {depvar})"
            if not trials.replace(".", "").isdigit():
                variables.append(p.check_name(trials, "in binomial()"))
        if "offset" in opts and "exposure" in opts:
            raise ValueError("offset() and exposure() together: give one (exposure(t) is offset(log(t))).")
        if opts.get("exposure"):
            terms.insert(0, f"offset(log({p.check_name(opts['exposure'], 'in exposure()')}))")
            variables.append(opts["exposure"])
        if opts.get("offset"):
            kwargs["offset"] = p.check_name(opts["offset"], "in offset()")
            variables.append(opts["offset"])
        eform = _eform(opts, link) if cfamily is None else _survival_eform(name, family, opts)
        if family == "gaussian" and link == "identity" and not opts.get("offset") and not opts.get("exposure"):
            function, kwargs = "lmm", {"reml": False}
        else:
            kwargs.update(family=family, link=link, nagq=_nagq(opts, equations, notes))
    if covariance:
        kwargs["covariance"] = covariance
    variables += [v for t in fterms for v in t.variables]
    variables += [v for eq in equations for v in (eq.level, *eq.revars, eq.factor) if v and v != "_all"]
    formula = f"{response} ~ {' + '.join([fixed_rhs(fterms, 'noconstant' not in fe_opts), *terms])}"
    numbers = _constraints(opts, function, name)
    return StataModel(name, function, formula, kwargs, eform, "stata", tuple(dict.fromkeys(variables)), tuple(notes),
                      numbers, stata_effects(equations))


def _constraints(opts: dict, function: str, name: str) -> tuple[int, ...]:
    if "constraints" not in opts:
        return ()
    if function != "lmm":
        raise ValueError(f"constraints() become mixjax.lmm's fix= (held variance components); {name} fits "
                         "mixjax.glmm, which has none: fit without constraints().")
    return numlist(opts["constraints"] or "")


def stata_effects(equations: list) -> tuple:
    """Stata's numbering of the random equations (``lns<level>_<equation>_<effect>``): per equation its level
    number, its number within the level, the group (``a:b``) and its effects, slopes first and ``_cons`` last."""
    out, path, count = [], [], {}
    for eq in equations:
        if eq.level == "_all":
            continue
        if not path or path[-1] != eq.level:
            path.append(eq.level)
        count[len(path)] = count.get(len(path), 0) + 1
        if eq.factor:
            continue
        out.append((len(path), count[len(path)], ":".join(path), (*eq.revars, *(["_cons"] if eq.constant else []))))
    return tuple(out)


def _survival_eform(name: str, family: str, opts: dict) -> str | None:
    """What mestreg prints: hazard ratios for PH models unless ``nohr``, time ratios with ``tratio``."""
    if name != "mestreg" or "nohr" in opts:
        return None
    if "tratio" in opts:
        return "tr"
    return None if family.endswith("_aft") or family in ("lognormal", "loglogistic") else "hr"


def _eform(opts: dict, link: str) -> str | None:
    if "eform" in opts:
        opts = {**opts, {"logit": "or", "log": "irr"}.get(link, "or"): None}
    for opt, need in (("or", "logit"), ("irr", "log")):
        if opt in opts:
            if link != need:
                raise ValueError(f"{opt} reports exp(b), meaningful with the {need} link, not {link}.")
            return opt
    return None
