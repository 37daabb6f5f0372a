"""``mixjax fit FORMULA --data NAME_OR_CSV [--ml] [--json]``: fit a linear mixed model from the command line."""
from __future__ import annotations

import argparse
import json
import os
import sys

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

    return {
        "formula": fit.design.formula,
        "method": "REML" if fit.reml else "ML",
        "nobs": fit.nobs,
        "ngroups": fit.ngroups,
        "fixef": fit.fixef.to_dict(),
        "fixef_se": fit.fixef_se.to_dict(),
        "varcorr": clean(fit.varcorr),
        "sigma": fit.sigma,
        "theta": fit.theta.to_dict(),
        "loglik": fit.loglik,
        "aic": fit.aic,
        "bic": fit.bic,
        "deviance": fit.deviance,
        "converged": fit.converged,
        "singular": fit.singular,
        "optimizer": {k: (v if not isinstance(v, np.floating) else float(v)) for k, v in fit.optimizer._asdict().items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mixjax", description="Mixed-effects models with JAX (lme4 formulas).")
    sub = parser.add_subparsers(dest="command", required=True)
    fit_p = sub.add_parser("fit", help="fit a linear mixed model and print its summary")
    fit_p.add_argument("formula", help="lme4 formula, e.g. 'Reaction ~ Days + (Days | Subject)'")
    fit_p.add_argument("--data", required=True, help="a bundled dataset name (see 'mixjax datasets') or a CSV path")
    fit_p.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    fit_p.add_argument("--json", action="store_true", help="print the fit as JSON")
    sub.add_parser("datasets", help="list the bundled datasets")
    args = parser.parse_args(argv)

    from . import datasets, lmm

    if args.command == "datasets":
        print("\n".join(datasets.names()))
        return 0
    try:
        fit = lmm(args.formula, _load(args.data), reml=not args.ml)
    except ValueError as err:
        print(f"mixjax: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(_as_json(fit), indent=2) if args.json else fit.summary())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
