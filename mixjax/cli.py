"""``mixjax fit FORMULA --data NAME_OR_CSV [--ml] [--family F [--link L] [--nagq N]] [--json]``: fit a linear
(or, with ``--family``, generalized linear) mixed model from the command line. ``mixjax datasets`` lists the
bundled datasets; ``mixjax warmup [--families ...]`` compiles the programs of common small models ahead of time."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd

__all__ = ["main"]


def _load(data: str) -> pd.DataFrame:
    from . import datasets

    if os.path.exists(data):
        return pd.read_csv(data)
    return datasets.load(data)


def _as_json(fit) -> dict:
    def clean(frame: pd.DataFrame):
        return json.loads(frame.to_json(orient="records"))

    glmm = hasattr(fit, "family")
    out = {
        "formula": fit.design.formula,
        "method": ("Laplace" if fit.nagq == 1 else f"AGQ{fit.nagq}") if glmm else ("REML" if fit.reml else "ML"),
        "nobs": fit.nobs,
        "ngroups": fit.ngroups,
        "fixef": fit.fixef.to_dict(),
        "fixef_se": fit.fixef_se.to_dict(),
        "varcorr": clean(fit.varcorr),
        "theta": fit.theta.to_dict(),
        "loglik": fit.loglik,
        "aic": fit.aic,
        "bic": fit.bic,
        "deviance": fit.deviance,
        "converged": fit.converged,
        "singular": fit.singular,
        "optimizer": {k: (v if not isinstance(v, np.floating) else float(v)) for k, v in fit.optimizer._asdict().items()},
    }
    if glmm:
        out["family"] = str(fit.family)
        out["dispersion"] = fit.dispersion
        if fit.cutpoints is not None:
            out["cutpoints"] = fit.cutpoints.to_dict()
    else:
        out["sigma"] = fit.sigma
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mixjax", description="Mixed-effects models with JAX (lme4 formulas).")
    sub = parser.add_subparsers(dest="command", required=True)
    fit_p = sub.add_parser("fit", help="fit a (generalized) linear mixed model and print its summary")
    fit_p.add_argument("formula", help="lme4 formula, e.g. 'Reaction ~ Days + (Days | Subject)'")
    fit_p.add_argument("--data", required=True, help="a bundled dataset name (see 'mixjax datasets') or a CSV path")
    fit_p.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit_p.add_argument("--family", help="a GLMM family (binomial, poisson, nbinom2, nbinom1, gaussian, gamma, "
                       "inverse_gaussian, ordinal); without it, a linear mixed model")
    fit_p.add_argument("--link", help="the family's link (default R's)")
    fit_p.add_argument("--nagq", type=int, default=1, help="quadrature points per dimension (1 = Laplace)")
    fit_p.add_argument("--json", action="store_true", help="print the fit as JSON")
    sub.add_parser("datasets", help="list the bundled datasets")
    warm_p = sub.add_parser("warmup", help="compile the programs of common small models ahead of time (kept on disk)")
    warm_p.add_argument("--families", default="binomial,poisson",
                        help="GLMM families to warm up, comma-separated ('' for linear mixed models only)")
    args = parser.parse_args(argv)

    from . import datasets, glmm, lmm

    if args.command == "datasets":
        print("\n".join(datasets.names()))
        return 0
    if args.command == "warmup":
        from .warmup import warmup

        families = tuple(f.strip() for f in args.families.split(",") if f.strip())
        start = time.perf_counter()
        times = warmup(families)
        print(f"mixjax warmup: {len(times)} models compiled or loaded in {time.perf_counter() - start:.1f} s")
        return 0
    try:
        data = _load(args.data)
        if args.family:
            fit = glmm(args.formula, data, family=args.family, link=args.link, nagq=args.nagq)
        else:
            fit = lmm(args.formula, data, reml=not args.ml)
    except ValueError as err:
        print(f"mixjax: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(_as_json(fit), indent=2) if args.json else fit.summary())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
