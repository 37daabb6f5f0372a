"""mixjax.plot: what each plot draws equals the fit's numbers; bad input raises before drawing."""
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from conftest import reference_fit
from matplotlib.figure import Figure
from scipy.stats import norm

import mixjax
from mixjax import plot

Z95 = norm.ppf(0.975)


@pytest.fixture(scope="module")
def fit():
    return reference_fit("inf_sleepstudy")[1]  # Reaction ~ Days + (Days | Subject), shared with other test files


@pytest.fixture(scope="module")
def gfit():
    return reference_fit("extra_boot_cbpp")[1]  # the binomial cbpp GLMM


@pytest.fixture(scope="module")
def boot(fit):
    return fit.bootstrap(200, seed=1, progress=False)


def drawn(ax, gid):
    """The artists of ``ax`` tagged ``gid``."""
    return [a for a in ax.get_children() if a.get_gid() == gid]


def vlines_at(ax, gid):
    """x positions of the vertical lines tagged ``gid``."""
    return sorted(line.get_xdata()[0] for line in drawn(ax, gid))


def bars(ax):
    """(lower, upper) ends of the horizontal interval bars of ``ax``, in row order."""
    (segments,) = drawn(ax, "interval")
    ends = np.array([s[:, 0] for s in segments.get_segments()])
    return ends[:, 0], ends[:, 1]


# ------------------------------------------------------------------------------------------------ import
def test_import_mixjax_does_not_import_matplotlib():
    code = "import mixjax, sys; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_matplotlib_says_how_to_install():
    code = "import sys; sys.modules['matplotlib'] = None; import mixjax.plot"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode != 0
    assert "ImportError" in out.stderr and 'pip install "mixjax[plot]"' in out.stderr


# ------------------------------------------------------------------------------------------------ caterpillar
def test_caterpillar_lmm_points_and_bars(fit):
    fig = plot.caterpillar(fit)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    modes = fit.ranef["Subject"].sort_values("Intercept")
    se = fit.ranef_se["Subject"].loc[modes.index]
    for ax, col in zip(fig.axes, ["Intercept", "Days"]):
        assert ax.get_title() == f"Subject: {col}"
        (points,) = drawn(ax, "estimate")
        np.testing.assert_allclose(points.get_xdata(), modes[col])
        lo, hi = bars(ax)
        np.testing.assert_allclose(lo, modes[col] - Z95 * se[col])
        np.testing.assert_allclose(hi, modes[col] + Z95 * se[col])
        assert [t.get_text() for t in ax.get_yticklabels()] == [str(s) for s in modes.index]
        assert vlines_at(ax, "reference") == [0.0]
    assert np.all(np.diff(drawn(fig.axes[0], "estimate")[0].get_xdata()) >= 0)


def test_caterpillar_level_sets_the_bar_width(fit):
    ax = plot.caterpillar(fit, group="Subject", level=0.5).axes[0]
    lo, hi = bars(ax)
    se = fit.ranef_se["Subject"]["Intercept"].sort_values()  # equal SEs (balanced data): order does not matter
    np.testing.assert_allclose(np.sort(hi - lo), 2 * norm.ppf(0.75) * se)


def test_caterpillar_glmm(gfit):
    fig = plot.caterpillar(gfit)
    assert len(fig.axes) == 1 and fig.axes[0].get_title() == "herd: Intercept"
    np.testing.assert_allclose(drawn(fig.axes[0], "estimate")[0].get_xdata(),
                               np.sort(gfit.ranef["herd"]["Intercept"]))


def test_caterpillar_draws_on_given_axes(fit):
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert plot.caterpillar(fit, ax=axes) is fig
    assert all(drawn(ax, "estimate") for ax in axes)
    with pytest.raises(ValueError, match="2 panel"):
        plot.caterpillar(fit, ax=axes[0])


def test_caterpillar_bad_input(fit, boot):
    with pytest.raises(ValueError, match="unknown group 'Worker'.*Subject"):
        plot.caterpillar(fit, group="Worker")
    with pytest.raises(ValueError, match="Bootstrap"):
        plot.caterpillar(boot)
    with pytest.raises(ValueError, match="level"):
        plot.caterpillar(fit, level=95)


# ------------------------------------------------------------------------------------------------ residuals
def test_residuals_panels(fit):
    fig = plot.residuals(fit)
    a1, a2, a3 = fig.axes
    (points,) = drawn(a1, "estimate")
    np.testing.assert_allclose(points.get_xdata(), fit.fitted())
    np.testing.assert_allclose(points.get_ydata(), fit.residuals())
    assert drawn(a1, "reference")[0].get_ydata()[0] == 0.0
    (qq,) = drawn(a2, "estimate")
    n = fit.nobs
    np.testing.assert_allclose(qq.get_ydata(), np.sort(fit.residuals()))
    np.testing.assert_allclose(qq.get_xdata(), norm.ppf((np.arange(1, n + 1) - 0.5) / n))
    series = drawn(a3, "estimate")
    assert [s.get_label() for s in series] == ["Subject: Intercept", "Subject: Days"]
    for s, col in zip(series, ["Intercept", "Days"]):
        b = fit.ranef["Subject"][col]
        np.testing.assert_allclose(s.get_ydata(), np.sort(b / b.std(ddof=1)))
        np.testing.assert_allclose(s.get_xdata(), norm.ppf((np.arange(1, 19) - 0.5) / 18))
    assert "standardized" in a3.get_title()


def test_residuals_glmm(gfit):
    a1, _, a3 = plot.residuals(gfit).axes
    np.testing.assert_allclose(drawn(a1, "estimate")[0].get_ydata(), gfit.residuals())
    assert [s.get_label() for s in drawn(a3, "estimate")] == ["herd: Intercept"]


def test_residuals_bad_input():
    with pytest.raises(ValueError, match="fitted LMM or GLMM"):
        plot.residuals(pd.DataFrame({"x": [1.0]}))


# ------------------------------------------------------------------------------------------------ bootstrap
def test_bootstrap_histograms(boot):
    fig = plot.bootstrap(boot, level=0.9)
    stats = [c for c in boot.samples.columns if c != "loglik"]
    assert [ax.get_title() for ax in fig.axes] == stats
    ci = boot.confint(level=0.9)
    for ax, c in zip(fig.axes, stats):
        assert sum(p.get_height() for p in ax.patches) == len(boot.samples) == 200
        np.testing.assert_allclose(vlines_at(ax, "interval"), sorted(ci.loc[c]))
        np.testing.assert_allclose(vlines_at(ax, "estimate"), [boot.t0[c]])


def test_bootstrap_columns(boot):
    fig = plot.bootstrap(boot, columns="loglik")
    assert [ax.get_title() for ax in fig.axes] == ["loglik"]
    with pytest.raises(ValueError, match="unknown statistic 'sd'"):
        plot.bootstrap(boot, columns=["Intercept", "sd"])
    with pytest.raises(ValueError, match="mixjax.Bootstrap"):
        plot.bootstrap(boot.samples)


# ------------------------------------------------------------------------------------------------ profile
def profile_frame():
    """A quadratic deviance (zeta linear: crossings at 3 -/+ 0.5 z) and a skewed piecewise-linear one."""
    v = np.linspace(1.0, 5.0, 9)
    return pd.concat([
        pd.DataFrame({"parameter": "Intercept", "value": v, "zeta": (v - 3.0) / 0.5}),
        pd.DataFrame({"parameter": "Subject: sd(Intercept)", "value": [4.0, 0.0, 2.0, 1.0, 3.0],
                      "zeta": [2.0, -4.0, 0.0, -2.0, 1.0]}),  # unsorted rows
    ])


def test_profile_crossings():
    fig = plot.profile(profile_frame())
    a1, a2 = fig.axes
    assert [a1.get_title(), a2.get_title()] == ["Intercept", "Subject: sd(Intercept)"]
    np.testing.assert_allclose(vlines_at(a1, "crossing"), [3 - 0.5 * Z95, 3 + 0.5 * Z95])
    np.testing.assert_allclose(vlines_at(a2, "crossing"), [1 + (2 - Z95) / 2, 3 + (Z95 - 1)])
    np.testing.assert_allclose(sorted(line.get_ydata()[0] for line in drawn(a1, "reference")), [-Z95, Z95])
    (curve,) = drawn(a2, "zeta")
    np.testing.assert_allclose(curve.get_xdata(), [0, 1, 2, 3, 4])
    np.testing.assert_allclose(curve.get_ydata(), [-4, -2, 0, 1, 2])


def test_profile_level_and_one_sided():
    df = profile_frame()
    ax = plot.profile(df[df.parameter == "Intercept"], level=0.5).axes[0]
    np.testing.assert_allclose(vlines_at(ax, "crossing"), 3 + 0.5 * norm.ppf([0.25, 0.75]))
    short = pd.DataFrame({"parameter": "Residual: sd", "value": [1.0, 2.0, 3.0], "zeta": [0.0, 1.0, 3.0]})
    np.testing.assert_allclose(vlines_at(plot.profile(short).axes[0], "crossing"), [2 + (Z95 - 1) / 2])


def test_profile_of_a_fit_calls_its_profile():
    fig = plot.profile(SimpleNamespace(profile=profile_frame))
    assert len(fig.axes) == 2


def test_profile_of_a_real_fit_crosses_near_its_profile_intervals(fit):
    """The plotted crossings (linear interpolation of the profile's grid) lie close to the exact interval ends."""
    fig = plot.profile(fit)
    ci = fit.confint()
    assert [ax.get_title() for ax in fig.axes] == list(ci.index)
    for ax, (name, row) in zip(fig.axes, ci.iterrows()):
        np.testing.assert_allclose(vlines_at(ax, "crossing"), [row.lower, row.upper], atol=0.02 * (row.upper - row.lower))


def test_emmeans_of_a_real_fit():
    em = mixjax.emmeans(reference_fit("inf_machines")[1], "Machine")
    ax = plot.emmeans(em).axes[0]
    np.testing.assert_allclose(drawn(ax, "estimate")[0].get_xdata(), em.table.emmean)
    np.testing.assert_allclose(bars(ax)[0], em.table.lower)


def test_profile_bad_input():
    with pytest.raises(ValueError, match="columns parameter, value and zeta"):
        plot.profile(profile_frame().drop(columns="zeta"))
    with pytest.raises(ValueError, match="profile"):
        plot.profile("Intercept")


# ------------------------------------------------------------------------------------------------ emmeans
def machine_table():
    return pd.DataFrame({"Machine": list("ABC") * 2, "Worker": ["1"] * 3 + ["2"] * 3,
                         "emmean": [52.4, 60.3, 66.3, 50.1, 61.0, 65.0], "se": 1.0, "df": 5.0,
                         "lower": [50.0, 58.0, 64.0, 48.0, 59.0, 63.0], "upper": [54.8, 62.6, 68.6, 52.2, 63.0, 67.0]})


def test_emmeans_one_panel():
    t = machine_table().iloc[:3].drop(columns="Worker")
    ax = plot.emmeans(SimpleNamespace(table=t, specs=["Machine"], by=[])).axes[0]
    np.testing.assert_allclose(drawn(ax, "estimate")[0].get_xdata(), t.emmean)
    lo, hi = bars(ax)
    np.testing.assert_allclose(lo, t.lower)
    np.testing.assert_allclose(hi, t.upper)
    assert [x.get_text() for x in ax.get_yticklabels()] == ["A", "B", "C"]
    assert ax.get_ylabel() == "Machine"


def test_emmeans_by_panels():
    t = machine_table()
    fig = plot.emmeans(SimpleNamespace(table=t, specs=["Machine"], by=["Worker"]))
    assert [ax.get_title() for ax in fig.axes] == ["Worker = 1", "Worker = 2"]
    np.testing.assert_allclose(drawn(fig.axes[1], "estimate")[0].get_xdata(), t.emmean[3:])
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()  # panels compared on one scale


def test_emmeans_bad_input():
    with pytest.raises(ValueError, match="lacks column.*upper"):
        plot.emmeans(SimpleNamespace(table=machine_table().drop(columns="upper"), specs=["Machine"], by=[]))
    with pytest.raises(ValueError, match="lacks column.*Operator"):
        plot.emmeans(SimpleNamespace(table=machine_table(), specs=["Operator"], by=[]))
    with pytest.raises(ValueError, match="emmeans result"):
        plot.emmeans(machine_table())
