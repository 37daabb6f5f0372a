"""Response families and links. ``get(family, link, survival)`` returns the family object, refusing unknown names
and family-link pairs that make no sense (listing the valid ones). A ``Surv(...)`` response reads its family from
``SURVIVAL_FAMILIES`` (Stata's ``mestreg`` distributions: ``lognormal`` and ``gamma`` are the accelerated failure
time models there), any other from ``FAMILIES`` (``lognormal`` and ``gamma`` of the response itself)."""
from __future__ import annotations

from .base import Family, Response
from .binomial import Binomial
from .censored import CensoredGaussian
from .continuous import Gamma, Gaussian, InverseGaussian
from .counts import NegBinomial1, NegBinomial2, Poisson
from .counts_extra import (
    GenPoisson,
    TruncatedGenPoisson,
    TruncatedNegBinomial1,
    TruncatedNegBinomial2,
    TruncatedPoisson,
)
from .distributional import Distributional, distributional
from .links import LINKS, Link
from .location_scale import LogNormal, StudentT
from .ordinal import Ordinal
from .proportions import Beta, BetaBinomial
from .survival import SURVIVAL
from .tweedie import Tweedie

__all__ = ["Family", "Response", "Link", "LINKS", "FAMILIES", "SURVIVAL_FAMILIES", "Distributional", "distributional",
           "get"]

# family -> (class, valid links, default link first)
FAMILIES = {
    "binomial": (Binomial, ("logit", "probit", "cloglog", "log")),
    "poisson": (Poisson, ("log", "identity", "sqrt")),
    "nbinom2": (NegBinomial2, ("log", "identity", "sqrt")),
    "nbinom1": (NegBinomial1, ("log", "identity", "sqrt")),
    "gaussian": (Gaussian, ("identity", "log", "inverse")),
    "gamma": (Gamma, ("inverse", "log", "identity")),
    "inverse_gaussian": (InverseGaussian, ("1/mu^2", "inverse", "log", "identity")),
    "ordinal": (Ordinal, ("logit", "probit", "cloglog")),
}
FAMILIES["censored_gaussian"] = (CensoredGaussian, ("identity",))  # cens(), interval(): metobit, meintreg
FAMILIES.update({  # glmmTMB's further families, its parametrizations
    "betabinomial": (BetaBinomial, ("logit", "probit", "cloglog")),
    "beta": (Beta, ("logit", "probit", "cloglog")),
    "genpois": (GenPoisson, ("log", "identity", "sqrt")),
    "tweedie": (Tweedie, ("log", "identity", "sqrt")),
    "t": (StudentT, ("identity", "log", "inverse")),
    "lognormal": (LogNormal, ("log", "identity", "inverse")),
    "truncated_poisson": (TruncatedPoisson, ("log", "identity", "sqrt")),
    "truncated_nbinom1": (TruncatedNegBinomial1, ("log", "identity", "sqrt")),
    "truncated_nbinom2": (TruncatedNegBinomial2, ("log", "identity", "sqrt")),
    "truncated_genpois": (TruncatedGenPoisson, ("log", "identity", "sqrt")),
})
_ALIASES = {"Gamma": "gamma", "inverse.gaussian": "inverse_gaussian", "negative_binomial": "nbinom2"}
_ALIASES.update({"beta_family": "beta", "t_family": "t", "student_t": "t"})
SURVIVAL_FAMILIES = {name: (cls, ("log",)) for name, cls in SURVIVAL.items()}  # Surv(): mestreg
SURVIVAL_FAMILIES["gamma"] = SURVIVAL_FAMILIES["gamma_aft"]  # mestreg's distribution(gamma)


def get(family, link: str | None = None, survival: bool = False) -> Family:
    """``family``: a name in ``FAMILIES`` (``SURVIVAL_FAMILIES`` for a ``Surv(...)`` response: ``survival``), or a
    Family object, returned as it is; ``link``: one of its valid links, default the first listed (R's default)."""
    if isinstance(family, Family):
        if link is not None and link != family.link.name:
            raise ValueError(f"link={link!r} conflicts with the family object's link {family.link.name!r}.")
        return family
    table = SURVIVAL_FAMILIES if survival else FAMILIES
    if not isinstance(family, str) or _ALIASES.get(family, family) not in table:
        what = "survival families (for a Surv() response)" if survival else "families"
        other = (" (a survival family needs Surv(time, event) as its response)"
                 if not survival and family in SURVIVAL_FAMILIES else
                 " for a Surv(time, event) response (it does not read one)" if survival and family in FAMILIES else "")
        raise ValueError(f"unknown family {family!r}{other}; the {what} are: {', '.join(table)}.")
    name = _ALIASES.get(family, family)
    cls, links = table[name]
    link = links[0] if link is None else link
    if link not in links:
        known = "" if link in LINKS else f" (not a link mixjax knows: {', '.join(LINKS)})"
        raise ValueError(
            f"link {link!r} does not suit family {name!r}{known}; its links are: {', '.join(links)}."
        )
    return cls(name, LINKS[link])
