"""``mixjax._config.jit``: calls over small arguments compile with XLA's classic CPU emitters (half the compile
time), calls over large ones and calls inside another transformation with the defaults; all give the same numbers."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mixjax import _config


def _f(x, w):
    return jnp.sum(jnp.sin(x) * w), jnp.cumsum(x * w)


def _check(out, x):
    assert float(out[0]) == pytest.approx(float(np.sum(np.sin(x) * x)), rel=1e-12)
    np.testing.assert_allclose(out[1], np.cumsum(x * x), rtol=1e-12)


def test_small_calls_compile_with_the_classic_emitters_large_ones_with_the_defaults():
    supported = _config._classic_supported()
    if jax.default_backend() == "cpu":
        assert supported  # this jaxlib knows the option: the faster compile is in effect
    f = _config.jit(_f)
    small, large = np.linspace(0.0, 1.0, 5), np.linspace(0.0, 1.0, _config.CLASSIC_BELOW_BYTES // 8)
    classic = _config.CLASSIC_EMITTERS if supported else None
    assert f.options(small, small) == classic and f.options(large, large) is None
    assert f.program(small, small) is not f.program(large, large) or not supported
    for x in (small, large):
        _check(f(x, x), x)
    everywhere = _config.jit(_f, classic_below=math.inf)
    assert everywhere.options(large, large) == classic
    _check(everywhere(large, large), large)


def test_fast_compile_adds_llvm_without_optimization_passes_for_small_calls_only():
    fast = _config.jit(_f, fast_compile=True)
    small, large = np.linspace(0.0, 1.0, 5), np.linspace(0.0, 1.0, _config.CLASSIC_BELOW_BYTES // 8)
    if jax.default_backend() == "cpu":
        assert fast.options(small, small) == {**_config.CLASSIC_EMITTERS, **_config.FAST_COMPILE}
        assert _config.jit(_f).options(small, small) == _config.CLASSIC_EMITTERS
        # larger arguments under ``classic_below``: the classic emitters with LLVM's optimizations
        assert _config.jit(_f, fast_compile=True, classic_below=math.inf).options(large, large) == \
            _config.CLASSIC_EMITTERS
    for x in (small, large):
        _check(fast(x, x), x)
    from mixjax.objectives import glmm

    assert glmm.newton.fast_compile and glmm._newton_cached.fn.fast_compile  # the GLMM's Newton loop uses it
    assert glmm.newton.classic_below == 4 << 20  # up to 4 MiB of arguments (VerbAgg: 2 MB) the classic emitters


def test_a_call_inside_another_transformation_is_part_of_the_outer_program():
    f, x = _config.jit(_f), np.linspace(0.0, 1.0, 5)
    assert float(jax.jit(lambda v: 2.0 * f(v, v)[0])(x)) == pytest.approx(2.0 * float(np.sum(np.sin(x) * x)), rel=1e-12)
    np.testing.assert_allclose(jax.grad(lambda v: f(v, v)[0])(x), np.cos(x) * x + np.sin(x), rtol=1e-12)
    values, _ = jax.vmap(f)(np.stack([x, 2.0 * x]), np.stack([x, x]))
    np.testing.assert_allclose(values, [np.sum(np.sin(x) * x), np.sum(np.sin(2.0 * x) * x)], rtol=1e-12)
    jac = _config.jit(jax.jacfwd(f))  # a transformation of a wrapped function, wrapped again
    np.testing.assert_allclose(jac(x, x)[0], np.cos(x) * x, rtol=1e-12)
    np.testing.assert_allclose(jac(x, x)[1], np.tril(np.ones((5, 5))) * x, rtol=1e-12)


def test_import_creates_no_files(tmp_path):
    """Importing mixjax makes no folder; the first compile makes the cache folders."""
    import os
    import subprocess
    import sys

    cache = tmp_path / "cache"
    code = ("import os, sys, mixjax; assert not os.path.exists(sys.argv[1]), 'made at import'; "
            "import jax.numpy as jnp; mixjax._config.jit(lambda x: x + 1)(jnp.ones(2)); "
            "assert os.path.exists(sys.argv[1]), 'not made by the first compile'")
    env = dict(os.environ, MIXJAX_CACHE_DIR=str(cache))
    env.pop("MIXJAX_NO_CACHE", None)
    subprocess.run([sys.executable, "-c", code, str(cache)], check=True, env=env)
