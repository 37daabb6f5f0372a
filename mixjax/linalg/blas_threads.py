"""One BLAS thread for mixjax's host LAPACK calls (``mixjax.linalg.lapack``), whatever the process's setting.

Those calls run inside an XLA program (``jax.pure_callback``) whose own threads keep the cores busy. With more than
one OpenBLAS thread, OpenBLAS's workers spin-wait after each call and take cores from XLA's threads: on a 2-core
machine shared with other processes a warm InstEval fit took 6.9 s (4.1 s of CPU) with OpenBLAS's default threads
and 2.1 s (1.5 s of CPU) with one (``benchmarks/RESULTS.md``). ``one_thread()`` limits the BLAS libraries loaded in
the process (scipy's included) to one thread for the duration of a call and restores them after (threadpoolctl;
about 15 us per call).
"""
from __future__ import annotations

import functools

__all__ = ["one_thread"]


@functools.cache
def _controller():
    import scipy.linalg.lapack  # noqa: F401  (loads scipy's BLAS before the libraries are listed)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_thread():
    """A context within which the process's BLAS libraries use one thread (see the module doc)."""
    return _controller().limit(limits=1, user_api="blas")
