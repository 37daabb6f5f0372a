"""Speed benchmarks: mixjax against lme4 (R), statsmodels MixedLM and mixedlm.

Run ``python -m benchmarks.run --help`` from the repository root.
"""
