"""Process-wide JAX settings: float64 everywhere and a persistent compilation cache."""
from __future__ import annotations

import os

import jax

jax.config.update("jax_enable_x64", True)

_cache = os.environ.get("MIXJAX_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "mixjax", "jax"))
EXPORT_DIR = None  # where ``_exported`` keeps exported programs (None: in memory only)
if _cache and os.environ.get("MIXJAX_NO_CACHE") is None:
    try:
        os.makedirs(_cache, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", _cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        EXPORT_DIR = _cache.rstrip(os.sep) + "-exported"
    except OSError:  # read-only home: run without the cache
        pass
