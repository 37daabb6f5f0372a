"""Batches of fits in words and tables: ``ManyFits`` (one model, many responses) and ``Bootstrap`` (a parametric
bootstrap's replicates), both from an ``engines.batch.Batch``."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.stats import norm

from ..engines.batch import MAX_ITER, Batch, sd_cor
from ..inference.natural import variance_names
from ..inference.tables import check_level
from ..optim.newton import Solution, projected_max
from ..optim.status import CONVERGED
from .status import describe

__all__ = ["Bootstrap", "ManyFits", "bootstrap", "random_keys", "solution_of", "statistic_names", "statistics"]



def statistic_names(fit) -> list[str]:
    """Fixed effects, then each random-effect SD and correlation in ``varcorr``'s order (``"{group}: sd({var})"``,
    ``"{group}: cor({var1}, {var2})"``), ``"Residual: sd"`` (LMM), the family's parameters (GLMM), ``loglik``."""
    residual = ["Residual: sd"] if "Residual" in set(fit.varcorr.group) else []
    return (list(fit.fixef.index) + variance_names(fit)[0] + residual + list(getattr(fit, "_family_names", []))
            + ["loglik"])


def statistics(batch: Batch, lmm: bool) -> np.ndarray:
    """The statistics of ``statistic_names`` per fit, (m, n_stats)."""
    sigma = np.asarray(batch.sigma, dtype=float) * np.ones(batch.size)
    parts = [batch.beta, np.asarray(sd_cor(batch.T, sigma))]
    parts += [sigma[:, None]] if lmm else [np.reshape(batch.family, (batch.size, -1))]
    return np.concatenate(parts + [np.asarray(batch.loglik)[:, None]], axis=1)


def solution_of(batch: Batch, j: int, lower: np.ndarray) -> Solution:
    """The ``Solution`` of fit ``j`` of a batch (words for its status)."""
    s = batch.take(j).state
    x, g, H = np.asarray(s.x), np.asarray(s.g), np.asarray(s.H)
    return Solution(x, float(s.f), g, None if np.isnan(H).all() else H, int(s.iterations), int(s.evaluations),
                    projected_max(g, x, lower), float(s.min_eig), int(s.status), x <= lower)


def _status(batch: Batch) -> list[str]:
    return [describe(c, MAX_ITER) for c in np.asarray(batch.state.status)]


@dataclass(frozen=True, eq=False)
class ManyFits:
    """One model fitted to many responses. DataFrames indexed by response: ``fixef``, ``fixef_se``, ``theta``,
    ``sigma`` (LMM), ``loglik``, ``converged``, ``status``; ``varcorr`` in long form with a ``response`` column;
    ``fits[j]`` or ``fits["name"]``: the ordinary fit object of one response."""

    names: list
    batch: Batch
    template: object  # the fit of the first response: names and layout
    make_fit: Callable  # j -> the fit object of response j

    @property
    def _index(self) -> pd.Index:
        return pd.Index(self.names, name="response")

    def _frame(self, values, columns) -> pd.DataFrame:
        return pd.DataFrame(np.asarray(values), index=self._index, columns=list(columns))

    @property
    def fixef(self) -> pd.DataFrame:
        return self._frame(self.batch.beta, self.template.fixef.index)

    @property
    def fixef_se(self) -> pd.DataFrame:
        return self._frame(np.sqrt(np.diagonal(self.batch.vcov, axis1=1, axis2=2)), self.template.fixef.index)

    @property
    def theta(self) -> pd.DataFrame:
        return self._frame(self.batch.state.x[:, : len(self.template.theta)], self.template.theta.index)

    @property
    def sigma(self) -> pd.Series:
        return pd.Series(np.asarray(self.batch.sigma), index=self._index, name="sigma")

    @property
    def loglik(self) -> pd.Series:
        return pd.Series(np.asarray(self.batch.loglik), index=self._index, name="loglik")

    @property
    def status(self) -> pd.Series:
        return pd.Series(_status(self.batch), index=self._index, name="status")

    @property
    def converged(self) -> pd.Series:
        return pd.Series(np.isin(np.asarray(self.batch.state.status), [int(c) for c in CONVERGED]), index=self._index, name="converged")

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """The template's ``varcorr`` rows for every response (a ``response`` column first)."""
        m, sigma = len(self.names), np.asarray(self.batch.sigma, dtype=float) * np.ones(len(self.names))
        vcov, sdcor = [], []
        for T in self.batch.T:
            cov = sigma[:, None, None] ** 2 * np.einsum("mij,mkj->mik", T, T)
            sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
            k = T.shape[-1]
            pairs = [(i, j) for j in range(k) for i in range(j + 1, k)]
            vcov += [cov[:, i, i] for i in range(k)] + [cov[:, i, j] for i, j in pairs]
            sdcor += [sd[:, i] for i in range(k)] + [cov[:, i, j] / (sd[:, i] * sd[:, j]) for i, j in pairs]
        vc = self.template.varcorr
        if (vc.group == "Residual").any():
            vcov, sdcor = vcov + [sigma**2], sdcor + [sigma]
        out = pd.concat([vc] * m, ignore_index=True)
        out.insert(0, "response", np.repeat(self.names, len(vc)))
        out["vcov"], out["sdcor"] = np.stack(vcov, axis=1).ravel(), np.stack(sdcor, axis=1).ravel()
        return out

    @property
    def fits(self) -> _Fits:
        return _Fits(self)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        ok = int(self.converged.sum())
        return f"ManyFits: {len(self)} responses, {ok} converged\n{self.fixef.head(10)}"


class _Fits:
    def __init__(self, many: ManyFits):
        self.many = many

    def __getitem__(self, key):
        j = self.many.names.index(key) if isinstance(key, str) else int(key)
        return self.many.make_fit(j)

    def __len__(self) -> int:
        return len(self.many.names)


@dataclass(frozen=True, eq=False)
class Bootstrap:
    """A parametric bootstrap (lme4's ``bootMer(type = "parametric")``): ``samples`` (one row per replicate, the
    statistics of ``statistic_names``), ``t0`` (the fit's own values), ``converged`` (one bool per replicate:
    replicates that did not converge are kept and flagged, never dropped), ``status``."""

    samples: pd.DataFrame
    t0: pd.Series
    converged: np.ndarray
    status: list

    def se(self) -> pd.Series:
        """Bootstrap standard deviation of every statistic (over all replicates with a finite value)."""
        return self.samples.std(ddof=1).rename("se")

    def confint(self, level: float = 0.95, method: str = "percentile") -> pd.DataFrame:
        """Intervals from the replicates, as R's ``boot.ci`` (columns ``lower, upper``): ``"percentile"``
        (quantiles, type 7), ``"basic"`` (``2 t0 - q``) or ``"normal"`` (``t0 - bias -/+ z se``)."""
        if method not in ("percentile", "basic", "normal"):
            raise ValueError(f"method must be 'percentile', 'basic' or 'normal', got {method!r}.")
        a = (1 - check_level(level)) / 2
        lo, hi = self.samples.quantile(a), self.samples.quantile(1 - a)
        if method == "percentile":
            pair = (lo, hi)
        elif method == "basic":
            pair = (2 * self.t0 - hi, 2 * self.t0 - lo)
        else:
            center, half = 2 * self.t0 - self.samples.mean(), norm.ppf(1 - a) * self.samples.std(ddof=1)
            pair = (center - half, center + half)
        return pd.DataFrame({"lower": pair[0], "upper": pair[1]})

    def __repr__(self) -> str:
        n, ok = len(self.samples), int(np.sum(self.converged))
        table = pd.DataFrame({"t0": self.t0, "se": self.se()}).join(self.confint())
        return f"Parametric bootstrap: {n} replicates ({ok} converged)\n{table}"


def random_keys(n: int, seed) -> jax.Array:
    """``n`` JAX keys from ``seed`` (an int, a numpy Generator, or None for fresh entropy)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return jax.random.split(jax.random.key(int(rng.integers(2**62))), n)


def default_batch_size(n: int, nobs: int) -> int:
    """Replicates per compiled call: all up to 1,024 (16,384 on an accelerator), fewer for large data (about 2^23
    simulated values)."""
    most = 1024 if jax.default_backend() == "cpu" else 16384
    return max(1, min(n, most, (1 << 23) // max(nobs, 1)))


def bootstrap(fit, n: int, seed, batch_size: int | None, progress) -> Bootstrap:
    """Parametric bootstrap of ``fit`` (see ``Bootstrap``): responses simulated from the fit (new random effects),
    refitted from the fit's estimates in vmapped batches (``fit._simulate``, ``fit._fit_batch``)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive number of replicates, got {n!r}.")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    size = default_batch_size(n, fit.nobs) if batch_size is None else min(int(batch_size), n)
    keys = random_keys(n, seed)
    keys = jnp.concatenate([keys, jnp.repeat(keys[-1:], -n % size, axis=0)])  # whole batches: one program
    chunks = range(0, n, size)
    if progress is True or (progress is None and len(chunks) > 1):
        from tqdm import tqdm

        chunks = tqdm(chunks, desc="bootstrap", unit="batch", delay=1.0)
    batches = [fit._fit_batch(np.asarray(fit._simulate(keys[lo : lo + size], False)), progress=False)
               for lo in chunks]
    batch = jax.tree_util.tree_map(lambda *a: np.concatenate(a)[:n], *batches)
    names = statistic_names(fit)
    lmm = "Residual: sd" in names
    t0 = np.concatenate([fit.fixef.to_numpy(), fit.varcorr.sdcor.to_numpy(),
                         np.asarray(getattr(fit, "_family_values", []), dtype=float), [fit.loglik]])
    return Bootstrap(pd.DataFrame(statistics(batch, lmm), columns=names), pd.Series(t0, index=names, name="t0"),
                     np.isin(np.asarray(batch.state.status), [int(c) for c in CONVERGED]), _status(batch))
