"""Programs kept on disk with jax.export (mixjax._exported): stored once, loaded by a new wrapper (as a new process
would), the same numbers as the traced function, and a plain call when the cache cannot be used."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mixjax
from mixjax import _config, _exported


@partial(jax.jit, static_argnames="spec")
def _program(x, data, spec):
    return jnp.sum(data["w"] * x**spec), jax.grad(lambda v: jnp.sum(jnp.sin(v) * data["w"]))(x)


def test_stored_once_then_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(_config, "EXPORT_DIR", str(tmp_path))
    x, data = np.linspace(0.1, 1.0, 5), {"w": np.arange(5.0)}
    first = _exported.DiskCached(_program)(x, data, spec=2)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".jaxexport"
    again = _exported.DiskCached(_program)  # a fresh wrapper: nothing in memory, loads the file
    loaded = again(x, data, spec=2)
    direct = _program(x, data, spec=2)
    for a, b, c in zip(first, loaded, direct):
        assert np.array_equal(np.asarray(a), np.asarray(c)) and np.array_equal(np.asarray(b), np.asarray(c))
    _exported.DiskCached(_program)(x, data, spec=3)  # another structure: another program
    _exported.DiskCached(_program)(np.ones(7), {"w": np.ones(7)}, spec=2)  # other shapes: another program
    assert len(list(tmp_path.iterdir())) == 3


@pytest.mark.parametrize("where", ["unusable", "none"])
def test_falls_back_to_tracing(tmp_path, monkeypatch, where):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory should be")
    monkeypatch.setattr(_config, "EXPORT_DIR", None if where == "none" else str(blocked / "sub"))
    x, data = np.linspace(0.1, 1.0, 5), {"w": np.arange(5.0)}
    value, grad = _exported.DiskCached(_program)(x, data, spec=2)
    assert float(value) == pytest.approx(float(np.sum(np.arange(5.0) * x**2)))
    assert np.allclose(grad, np.cos(x) * np.arange(5.0))


def test_lmm_fit_through_a_stored_program_is_unchanged(tmp_path, monkeypatch):
    sleep = mixjax.datasets.load("sleepstudy")
    monkeypatch.setattr(_config, "EXPORT_DIR", None)
    plain = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    monkeypatch.setattr(_config, "EXPORT_DIR", str(tmp_path))
    monkeypatch.setattr(mixjax.objectives.lmm, "_NEWTON", _exported.DiskCached(mixjax.objectives.lmm.newton))
    stored = mixjax.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    assert len(list(tmp_path.iterdir())) == 1
    assert stored.loglik == plain.loglik
    assert np.array_equal(stored.theta, plain.theta)
