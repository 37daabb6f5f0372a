"""Compiled programs kept on disk as ``jax.export`` artifacts, so that a new process skips tracing.

JAX's persistent compilation cache skips XLA compilation in a second process, but not the Python tracing and
lowering that produce the program and its cache key: for the LMM's value-gradient-Hessian program that is about
0.5 s of a 0.7 s first fit. ``DiskCached(fn)`` wraps a jitted ``fn(*arrays, spec=...)`` (``spec`` static): the
first call for each (spec, shapes) exports the program, stores it under ``_config.EXPORT_DIR`` keyed by a hash of
the structure, the shapes, the backend, the JAX version and mixjax's own source, and later processes deserialize
it and call it directly. Anything that goes wrong on the way falls back to calling ``fn`` itself.
"""
from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

import jax
from jax import export

from . import _config

__all__ = ["DiskCached"]


@functools.cache
def _fingerprint() -> str:
    """mixjax's source, the JAX version and the backend: a change in any makes a new program."""
    digest = hashlib.sha256(f"{jax.__version__} {jax.default_backend()}".encode())
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _program(fn, spec, treedef, avals, describe):
    def direct(*leaves):
        return fn(*jax.tree_util.tree_unflatten(treedef, leaves), spec=spec)

    text = repr((fn.__module__, fn.__qualname__, describe(spec), str(treedef), avals))
    if _config.EXPORT_DIR is None or " at 0x" in text:  # no cache, or a structure whose repr is not stable
        return direct
    key = hashlib.sha256((text + _fingerprint()).encode())
    path = Path(_config.EXPORT_DIR) / f"{fn.__qualname__}-{key.hexdigest()[:32]}.jaxexport"
    try:
        if path.exists():
            exported = export.deserialize(bytearray(path.read_bytes()))
        else:
            exported = export.export(jax.jit(direct))(*(jax.ShapeDtypeStruct(s, d) for s, d in avals))
            blob = exported.serialize()  # needs the flatbuffers package
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(blob)
            os.replace(tmp.name, path)
        # one device for every argument: otherwise a call with the outputs of the last one (committed arrays) and a
        # first call with numpy arrays would be two programs, each compiled
        return _config.jit(exported.call, classic_below=getattr(fn, "classic_below", _config.CLASSIC_BELOW_BYTES),
                           in_shardings=jax.sharding.SingleDeviceSharding(jax.devices()[0]))
    except Exception:  # an unreadable or unwritable cache, or a program export cannot carry: trace as usual
        return direct


class DiskCached:
    """``fn(*arrays, spec=spec)`` through a program exported once per (spec, shapes) and kept on disk.
    ``describe(spec)``: the text that identifies ``spec`` across processes (its repr by default). ``program``
    resolves the compiled program once, for callers that call it many times with the same structure."""

    def __init__(self, fn, describe=repr):
        self.fn, self.describe, self.programs = fn, describe, {}
        functools.update_wrapper(self, fn)

    def program(self, *args, spec):
        """The program for arguments shaped as ``args``; it takes their leaves (``jax.tree_util.tree_leaves``)."""
        leaves, treedef = jax.tree_util.tree_flatten(args)
        avals = tuple((tuple(leaf.shape), str(leaf.dtype)) for leaf in leaves)
        program = self.programs.get((spec, treedef, avals))
        if program is None:
            program = self.programs[(spec, treedef, avals)] = _program(self.fn, spec, treedef, avals, self.describe)
        return program

    def __call__(self, *args, spec):
        return self.program(*args, spec=spec)(*jax.tree_util.tree_leaves(args))
