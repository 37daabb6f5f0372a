"""Response families and links. ``get(family, link)`` returns the family object, refusing unknown names and
family-link pairs that make no sense (listing the valid ones)."""
from __future__ import annotations

from .base import Family, Response
from .binomial import Binomial
from .continuous import Gamma, Gaussian, InverseGaussian
from .counts import NegBinomial1, NegBinomial2, Poisson
from .distributional import Distributional, distributional
from .links import LINKS, Link
from .ordinal import Ordinal

__all__ = ["Family", "Response", "Link", "LINKS", "FAMILIES", "Distributional", "distributional", "get"]

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
_ALIASES = {"Gamma": "gamma", "inverse.gaussian": "inverse_gaussian", "negative_binomial": "nbinom2"}


def get(family, link: str | None = None) -> Family:
    """``family``: a name in ``FAMILIES`` (or a Family object, returned as it is); ``link``: one of its valid links,
    default the first listed (R's default)."""
    if isinstance(family, Family):
        if link is not None and link != family.link.name:
            raise ValueError(f"link={link!r} conflicts with the family object's link {family.link.name!r}.")
        return family
    if not isinstance(family, str) or _ALIASES.get(family, family) not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; the families are: {', '.join(FAMILIES)}.")
    name = _ALIASES.get(family, family)
    cls, links = FAMILIES[name]
    link = links[0] if link is None else link
    if link not in links:
        known = "" if link in LINKS else f" (not a link mixjax knows: {', '.join(LINKS)})"
        raise ValueError(
            f"link {link!r} does not suit family {name!r}{known}; its links are: {', '.join(links)}."
        )
    return cls(name, LINKS[link])
