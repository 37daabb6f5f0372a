"""Process-wide JAX settings: float64 everywhere, a persistent compilation cache, and the XLA options of
mixjax's programs (``jit``).

Importing mixjax turns on ``jax_enable_x64`` for the whole process (JAX's default dtype becomes float64 for every
JAX program, the user's included) and points JAX's persistent compilation cache at ``~/.cache/mixjax/jax``
(``MIXJAX_CACHE_DIR`` moves it, ``MIXJAX_NO_CACHE=1`` leaves JAX's cache setting alone). It creates no files:
the cache folders are made by the first compile.
"""
from __future__ import annotations

import functools
import os

import jax

jax.config.update("jax_enable_x64", True)

_cache = os.environ.get("MIXJAX_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "mixjax", "jax"))
EXPORT_DIR = None  # where ``_exported`` keeps exported programs (None: in memory only)
if _cache and os.environ.get("MIXJAX_NO_CACHE") is None:  # the folders are made on the first compile, not here
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    EXPORT_DIR = _cache.rstrip(os.sep) + "-exported"

# XLA's classic CPU emitters instead of its (newer, default) fusion emitters: mixjax's programs compile in about
# half the time (sleepstudy's Newton loop 1.4 s instead of 2.6 s) and run as fast where their work is linear
# algebra on small arrays, but elementwise work over many observations runs 10-35% slower (benchmarks/RESULTS.md).
CLASSIC_EMITTERS = {"xla_cpu_use_fusion_emitters": False}
CLASSIC_BELOW_BYTES = 1 << 20  # programs over smaller arguments (in all) use them: there compiling is most of a fit
# and, for programs marked ``fast_compile`` (the GLMM's Newton loop), LLVM without its optimization passes: cbpp's
# loop compiles in 3.2-3.7 s instead of 5.8-6.0 s and runs as fast (26-40 ms against 33-44 ms per fit, noisy);
# not on larger arguments, where it runs twice as long (VerbAgg's loop: 5.8-6.3 s against 2.7-2.9 s)
FAST_COMPILE = {"xla_backend_optimization_level": 0}


@functools.cache
def _supported(options: frozenset) -> bool:
    """Whether the backend is the CPU and its XLA knows ``options`` (older jaxlibs may not)."""
    if jax.default_backend() != "cpu":
        return False
    try:
        jax.jit(lambda x: x + 1, compiler_options=dict(options)).lower(0.0).compile()
    except Exception:  # an unknown compile option, or a jax.jit without compiler_options
        return False
    return True


def _classic_supported() -> bool:
    return _supported(frozenset(CLASSIC_EMITTERS.items()))


class jit:
    """``jax.jit(fun, **kwargs)`` whose calls over arguments smaller than ``classic_below`` bytes in all compile with
    ``CLASSIC_EMITTERS`` (and, with ``fast_compile``, under ``CLASSIC_BELOW_BYTES`` also ``FAST_COMPILE``) where
    supported. A call inside another transformation (traced arguments) is part of the outer program, whose options
    apply. The choice is made per call, so importing mixjax starts no backend."""

    def __init__(self, fun, *, classic_below: float = CLASSIC_BELOW_BYTES, fast_compile: bool = False, **kwargs):
        functools.update_wrapper(self, fun, updated=())  # name and docstring (not ``fun.__dict__``)
        self.classic_below, self.fast_compile, self.jitted = classic_below, fast_compile, {}
        self._jit = functools.partial(jax.jit, fun, **kwargs)

    def options(self, *args, **kwargs) -> dict | None:
        """The compile options of a call with these arguments (None: XLA's defaults)."""
        leaves = jax.tree_util.tree_leaves((args, kwargs))
        nbytes = sum(getattr(a, "nbytes", 0) for a in leaves)
        if (any(isinstance(a, jax.core.Tracer) for a in leaves) or nbytes >= self.classic_below
                or not _classic_supported()):
            return None
        fast = {**CLASSIC_EMITTERS, **FAST_COMPILE}
        if self.fast_compile and nbytes < CLASSIC_BELOW_BYTES and _supported(frozenset(fast.items())):
            return fast
        return CLASSIC_EMITTERS

    def program(self, *args, **kwargs):
        """The ``jax.jit`` object that a call with these arguments goes to."""
        options = self.options(*args, **kwargs)
        key = None if options is None else frozenset(options.items())
        if key not in self.jitted:
            self.jitted[key] = self._jit() if options is None else self._jit(compiler_options=options)
        return self.jitted[key]

    def __call__(self, *args, **kwargs):
        return self.program(*args, **kwargs)(*args, **kwargs)
