"""Inference on fitted models: likelihood-ratio tests, degrees of freedom (Satterthwaite, Kenward-Roger), F tests,
confidence intervals (Wald, profile, bootstrap), marginal means, robust standard errors, Stata's postestimation.

Functions here take a fit and return tables; the fit classes in ``mixjax.results`` expose them as methods.
"""
