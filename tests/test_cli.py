"""The command line: summaries and JSON for linear and generalized linear mixed models; errors exit with 2."""
import json

import pytest

from mixjax.cli import main


def test_lmm_summary(capsys):
    assert main(["fit", "Reaction ~ Days + (Days | Subject)", "--data", "sleepstudy"]) == 0
    out = capsys.readouterr().out
    assert "REML criterion at convergence: 1743.6283" in out


def test_glmm_json(capsys):
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    assert main(["fit", formula, "--data", "cbpp", "--family", "binomial", "--nagq", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "AGQ5" and out["family"] == "binomial ( logit )"
    assert out["loglik"] == pytest.approx(-91.98, abs=0.01)
    assert set(out["fixef"]) == {"Intercept", "period[T.2]", "period[T.3]", "period[T.4]"}


def test_glmm_summary_and_csv(tmp_path, capsys):
    import mixjax

    path = tmp_path / "counts.csv"
    mixjax.datasets.load("grouseticks").to_csv(path, index=False)
    assert main(["fit", "TICKS ~ YEAR + (1 | BROOD)", "--data", str(path), "--family", "poisson"]) == 0
    assert "Family: poisson ( log )" in capsys.readouterr().out


def test_errors_exit_with_2(capsys):
    assert main(["fit", "y ~ x + (1 | g)", "--data", "cbpp", "--family", "binomail"]) == 2
    assert "unknown family 'binomail'" in capsys.readouterr().err
