"""Plots of fits, as lme4's lattice plots, with matplotlib (an optional extra: ``pip install "mixjax[plot]"``).

Every function returns a ``matplotlib.figure.Figure`` made without pyplot (nothing global, nothing shown): in a
notebook it displays itself, elsewhere ``fig.savefig(...)``. Pass ``ax`` (one Axes, or a sequence with one per
panel) to draw on axes of your own, ``figsize`` to size a new figure. Drawn artists carry a ``gid`` naming what
they show: ``"estimate"``, ``"interval"``, ``"reference"``, ``"zeta"``, ``"crossing"``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from .inference.tables import check_level

try:
    from matplotlib.figure import Figure
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError('mixjax.plot needs matplotlib: pip install "mixjax[plot]"') from err

__all__ = ["bootstrap", "caterpillar", "emmeans", "profile", "residuals"]

PANEL = (3.6, 3.0)  # inches per panel of a new figure
MAX_LABELS = 60  # level names written on the axis up to this many levels


# ------------------------------------------------------------------------------------------------ helpers
def _require(obj, attributes: tuple, what: str) -> None:
    """ValueError unless ``obj`` has every attribute (``what``: the object expected, in words)."""
    missing = [a for a in attributes if not hasattr(obj, a)]
    if missing:
        raise ValueError(f"expected {what}, got a {type(obj).__name__} (no {', '.join(missing)}).")


def _z(level: float) -> float:
    """The normal quantile of ``(1 + level) / 2``."""
    return float(norm.ppf((1 + check_level(level)) / 2))


def _pick(name, available, what: str) -> list:
    """``[name]`` if it is one of ``available``, every one of them if ``name`` is None; a ValueError otherwise."""
    if name is None:
        return list(available)
    if name not in available:
        raise ValueError(f"unknown {what} {name!r}; available: {', '.join(map(str, available))}.")
    return [name]


def _grid(rows: list[int], ax=None, figsize=None, sharex: bool = False) -> tuple[Figure, list]:
    """Axes laid out ``rows[i]`` panels in row ``i`` of a new figure (one x axis for all if ``sharex``), or the
    axes given (one per panel)."""
    n = sum(rows)
    if ax is not None:
        axes = list(np.ravel(np.array([ax], dtype=object)))
        if len(axes) != n:
            raise ValueError(f"this plot has {n} panel(s); ax must give as many axes, got {len(axes)}.")
        fig = axes[0].figure
        while not isinstance(fig, Figure):  # axes of a SubFigure: its root figure
            fig = fig.figure
        return fig, axes
    ncols = max(rows)
    fig = Figure(figsize=figsize or (PANEL[0] * ncols, PANEL[1] * len(rows)), layout="constrained")
    grid = fig.subplots(len(rows), ncols, squeeze=False)
    axes = []
    for r, k in enumerate(rows):
        axes += list(grid[r, :k])
        for extra in grid[r, k:]:
            extra.remove()
    for a in axes[1:] if sharex else []:
        a.sharex(axes[0])
    return fig, axes


def _panels(n: int, ax=None, figsize=None, ncols: int = 3, sharex: bool = False) -> tuple[Figure, list]:
    """``n`` panels, ``ncols`` to a row (see ``_grid``)."""
    ncols = min(n, ncols)
    return _grid([ncols] * (n // ncols) + ([n % ncols] if n % ncols else []), ax, figsize, sharex)


def _dots(ax, labels, estimate, lower, upper) -> None:
    """Estimates as points on rows ``0..n-1`` (labelled, first at the bottom) with horizontal interval bars."""
    y = np.arange(len(labels))
    ax.hlines(y, lower, upper, gid="interval")
    ax.plot(estimate, y, "o", gid="estimate")
    ax.set_ylim(-0.5, len(labels) - 0.5)
    if len(labels) <= MAX_LABELS:
        ax.set_yticks(y, [str(s) for s in labels])
    else:
        ax.set_yticks([])


def _ppoints(n: int) -> np.ndarray:
    """R's ``ppoints``: ``(i - a) / (n + 1 - 2a)``, ``a = 3/8`` up to 10 points, else 1/2."""
    a = 3 / 8 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def _qq(ax, values, label=None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted finite ``values`` against normal quantiles (R's ``qqnorm``); returns (theoretical, sample)."""
    y = np.asarray(values, dtype=float)
    y = np.sort(y[np.isfinite(y)])
    x = norm.ppf(_ppoints(len(y)))
    ax.plot(x, y, "o", markersize=3, label=label, gid="estimate")
    ax.set_xlabel("Theoretical quantiles")
    return x, y


# ------------------------------------------------------------------------------------------------ plots
def caterpillar(fit, group: str | None = None, level: float = 0.95, *, ax=None, figsize=None) -> Figure:
    """Conditional modes of the random effects with ``level`` prediction intervals (mode -/+ z conditional SD), as
    lme4's ``dotplot(ranef(m, condVar = TRUE))``: a row of panels per grouping factor (or just ``group``), one
    panel per random-effect column, levels ordered by the first column's mode, a vertical line at 0. GLMM modes
    are on the link scale."""
    _require(fit, ("ranef", "ranef_se"), "a fitted LMM or GLMM (with ranef and ranef_se)")
    z = _z(level)
    ranef, se = fit.ranef, fit.ranef_se
    groups = _pick(group, list(ranef), "group")
    fig, axes = _grid([ranef[g].shape[1] for g in groups], ax, figsize)
    panels = iter(axes)
    for g in groups:
        modes = ranef[g].sort_values(ranef[g].columns[0], kind="stable")
        sds = se[g].loc[modes.index]
        for col in modes.columns:
            a = next(panels)
            a.axvline(0.0, color="gray", linestyle=":", gid="reference")
            m, s = modes[col].to_numpy(), sds[col].to_numpy()
            _dots(a, modes.index, m, m - z * s, m + z * s)
            a.set_title(f"{g}: {col}")
            a.set_xlabel("Conditional mode")
            a.set_ylabel(modes.index.name or g)
    return fig


def residuals(fit, *, ax=None, figsize=None) -> Figure:
    """Three diagnostic panels, as lme4's ``plot(m)``, ``qqnorm(resid(m))`` and ``qqmath(ranef(m))``: residuals
    against fitted values (a line at 0); a normal Q-Q plot of the residuals (R's ``qqline`` through the
    quartiles); a normal Q-Q plot of the random effects, one series per group and column, each standardized
    (divided by its SD over levels) so that all fall on the line y = x when normal. GLMMs: response residuals
    (observed minus fitted mean) against fitted means."""
    _require(fit, ("fitted", "residuals", "ranef"), "a fitted LMM or GLMM (with fitted, residuals and ranef)")
    r, f = np.asarray(fit.residuals(), dtype=float), np.asarray(fit.fitted(), dtype=float)
    fig, (a1, a2, a3) = _panels(3, ax, figsize)
    a1.plot(f, r, "o", markersize=3, gid="estimate")
    a1.axhline(0.0, color="gray", linestyle=":", gid="reference")
    a1.set(title="Residuals vs fitted", xlabel="Fitted values", ylabel="Residuals")
    _, y = _qq(a2, r)
    qx, qy = norm.ppf([0.25, 0.75]), np.quantile(y, [0.25, 0.75])
    slope = (qy[1] - qy[0]) / (qx[1] - qx[0])
    a2.axline((qx[0], qy[0]), slope=slope, color="gray", linestyle=":", gid="reference")
    a2.set(title="Normal Q-Q: residuals", ylabel="Residuals")
    for g, frame in fit.ranef.items():
        for col in frame.columns:
            b = frame[col].to_numpy(dtype=float)
            sd = np.std(b, ddof=1) if len(b) > 1 else 0.0
            _qq(a3, b / sd if sd > 0 else b, label=f"{g}: {col}")
    a3.axline((0.0, 0.0), slope=1.0, color="gray", linestyle=":", gid="reference")
    a3.set(title="Normal Q-Q: random effects\n(standardized)", ylabel="Conditional mode / SD")
    a3.legend(fontsize="small")
    return fig


def bootstrap(boot, level: float = 0.95, columns=None, *, method: str = "percentile", bins: int = 30, ax=None,
              figsize=None) -> Figure:
    """Histograms of a parametric bootstrap's replicates (``fit.bootstrap(n)``), as ``plot(bootMer(...))`` of
    the ``boot`` package: one panel per statistic (all but ``loglik`` unless ``columns`` names it), solid lines
    at the ``level`` interval's ends (``boot.confint(level, method)``), a dashed line at the fit's value. Only
    finite replicates are counted."""
    _require(boot, ("samples", "t0", "confint"), "a mixjax.Bootstrap (from fit.bootstrap(n))")
    _z(level)
    names = list(boot.samples.columns)
    if columns is None:
        columns = [c for c in names if c != "loglik"]
    else:
        columns = [columns] if isinstance(columns, str) else list(columns)
        for c in columns:
            _pick(c, names, "statistic")
    ci = boot.confint(level=level, method=method)
    fig, axes = _panels(len(columns), ax, figsize)
    for a, c in zip(axes, columns):
        v = boot.samples[c].to_numpy(dtype=float)
        a.hist(v[np.isfinite(v)], bins=bins, color="lightsteelblue", edgecolor="white")
        for end in ci.loc[c]:
            a.axvline(end, color="black", gid="interval")
        a.axvline(boot.t0[c], color="firebrick", linestyle="--", gid="estimate")
        a.set(title=c, xlabel="Replicate value", ylabel="Count")
    return fig


def _crossings(value: np.ndarray, zeta: np.ndarray, c: float) -> np.ndarray:
    """Values where the piecewise-linear profile (sorted by value) equals ``c``."""
    d = zeta - c
    at = value[d == 0]
    i = np.flatnonzero(d[:-1] * d[1:] < 0)
    between = value[i] + (c - zeta[i]) * (value[i + 1] - value[i]) / (zeta[i + 1] - zeta[i])
    return np.unique(np.concatenate([at, between]))


def profile(prof, level: float = 0.95, *, ax=None, figsize=None) -> Figure:
    """Likelihood profiles as lme4's ``xyplot(profile(m))``: per parameter, the signed square root of the
    deviance increase (zeta) against the parameter's value, horizontal lines at -/+ z(``level``) and vertical
    lines where the profile crosses them (linear interpolation): the profile confidence interval. ``prof``: a
    fit (its ``profile()`` is used) or a DataFrame with columns ``parameter``, ``value``, ``zeta``."""
    if callable(getattr(prof, "profile", None)):
        prof = prof.profile()
    needed = {"parameter", "value", "zeta"}
    if not isinstance(prof, pd.DataFrame) or not needed <= set(prof.columns):
        raise ValueError("profile() needs a fit with a profile() method or a DataFrame with columns parameter, "
                         f"value and zeta; got a {type(prof).__name__}.")
    z = _z(level)
    names = list(pd.unique(prof["parameter"]))
    if not names:
        raise ValueError("the profile has no rows.")
    fig, axes = _panels(len(names), ax, figsize)
    for a, name in zip(axes, names):
        part = prof[prof["parameter"] == name].sort_values("value", kind="stable")
        part = part[np.isfinite(part["zeta"]) & np.isfinite(part["value"])]
        v, zeta = part["value"].to_numpy(dtype=float), part["zeta"].to_numpy(dtype=float)
        a.plot(v, zeta, "o-", markersize=3, gid="zeta")
        for c in (-z, z):
            a.axhline(c, color="gray", linestyle=":", gid="reference")
            for x in _crossings(v, zeta, c):
                a.axvline(x, color="firebrick", linestyle="--", gid="crossing")
        a.set(title=str(name), xlabel="Value", ylabel="zeta")
    return fig


def emmeans(em, *, ax=None, figsize=None) -> Figure:
    """Estimated marginal means with their intervals, as R's ``plot(emmeans(...))``: one row per level (or
    combination) of ``em.specs``, a point at ``emmean`` and a bar from ``lower`` to ``upper``; one panel per
    combination of ``em.by`` (a new figure's panels share their x axis)."""
    _require(em, ("table", "specs", "by"), "an emmeans result (with table, specs and by)")
    table, specs, by = em.table, list(em.specs), list(em.by)
    missing = [c for c in specs + by + ["emmean", "lower", "upper"] if c not in getattr(table, "columns", [])]
    if missing or not specs:
        raise ValueError(f"em.table lacks column(s) {', '.join(missing) or '(no specs)'}.")
    parts = list(table.groupby(by, sort=False)) if by else [((), table)]
    fig, axes = _panels(len(parts), ax, figsize, sharex=True)
    for a, (key, part) in zip(axes, parts):
        labels = part[specs].astype(str).agg(", ".join, axis=1)
        _dots(a, labels.to_numpy(), part["emmean"].to_numpy(float), part["lower"].to_numpy(float),
              part["upper"].to_numpy(float))
        key = key if isinstance(key, tuple) else (key,)
        a.set(title=", ".join(f"{b} = {k}" for b, k in zip(by, key)), xlabel="emmean", ylabel=", ".join(specs))
    return fig
