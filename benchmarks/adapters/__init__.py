"""One adapter module per engine; each exposes ``run(case, repeats) -> dict``."""

import importlib

ENGINES = ("mixjax", "lme4", "glmmtmb", "nlme", "statsmodels", "mixedlm")


def load_adapter(engine: str):
    """Import the adapter module for ``engine`` (engine libraries load lazily in ``run``)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    return importlib.import_module(f"benchmarks.adapters.{engine}_adapter")
