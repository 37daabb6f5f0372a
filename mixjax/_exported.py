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
import sys
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


_ANNOUNCED: set = set()


def announce(what: str | None) -> None:
    """Say once per process, on stderr, that ``what`` is being compiled for a new model shape (None: say nothing)."""
    if what is None or what in _ANNOUNCED:
        return
    _ANNOUNCED.add(what)
    print(f"mixjax: compiling {what} for a new model shape; this takes a few seconds once (later fits of models of "
          "the same structure and size class reuse it; `mixjax warmup` compiles the common ones ahead of time)",
          file=sys.stderr, flush=True)


def _program(fn, spec, treedef, avals, describe, notice=None):
    def direct(*leaves):
        return fn(*jax.tree_util.tree_unflatten(treedef, leaves), spec=spec)

    text = repr((fn.__module__, fn.__qualname__, describe(spec), str(treedef), avals))
    if _config.EXPORT_DIR is None or " at 0x" in text:  # no cache, or a structure whose repr is not stable
        announce(notice)
        return direct
    key = hashlib.sha256((text + _fingerprint()).encode())
    path = Path(_config.EXPORT_DIR) / f"{fn.__qualname__}-{key.hexdigest()[:32]}.jaxexport"
    try:
        if path.exists():
            exported = export.deserialize(bytearray(path.read_bytes()))
        else:
            announce(notice)
            exported = export.export(jax.jit(direct))(*(jax.ShapeDtypeStruct(s, d) for s, d in avals))
            blob = exported.serialize()  # needs the flatbuffers package
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
                tmp.write(blob)
            os.replace(tmp.name, path)
        # one device for every argument: otherwise a call with the outputs of the last one (committed arrays) and a
        # first call with numpy arrays would be two programs, each compiled
        return _config.jit(exported.call, classic_below=getattr(fn, "classic_below", _config.CLASSIC_BELOW_BYTES),
                           fast_compile=getattr(fn, "fast_compile", False), in_shardings=jax.sharding.SingleDeviceSharding(jax.local_devices()[0]))
    except Exception:  # an unreadable or unwritable cache, or a program export cannot carry: trace as usual
        return direct


def _mesh(leaves):
    """The mesh of arguments split over several devices (``mixjax.sharding``), or None."""
    for leaf in leaves:
        sharding = getattr(leaf, "sharding", None)
        if isinstance(sharding, jax.sharding.NamedSharding) and len(sharding.device_set) > 1:
            return sharding.mesh
    return None


def _sharded(fn, spec, treedef, mesh):
    """Over arguments sharded on ``mesh`` (an exported program is for one device): ``fn`` traced as usual, its
    results replicated over the mesh."""
    def direct(*leaves):
        return fn(*jax.tree_util.tree_unflatten(treedef, leaves), spec=spec)

    return jax.jit(direct, out_shardings=jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


class DiskCached:
    """``fn(*arrays, spec=spec)`` through a program exported once per (spec, shapes) and kept on disk.
    ``describe(spec)``: the text that identifies ``spec`` across processes (its repr by default); ``notice``: what
    to call the program when a new model shape makes it compile (``announce``; None: compile silently). ``program``
    resolves the compiled program once, for callers that call it many times with the same structure."""

    def __init__(self, fn, describe=repr, notice: str | None = None):
        self.fn, self.describe, self.notice, self.programs = fn, describe, notice, {}
        functools.update_wrapper(self, fn)

    def program(self, *args, spec):
        """The program for arguments shaped as ``args``; it takes their leaves (``jax.tree_util.tree_leaves``)."""
        leaves, treedef = jax.tree_util.tree_flatten(args)
        avals = tuple((tuple(leaf.shape), str(leaf.dtype)) for leaf in leaves)
        mesh = _mesh(leaves)
        program = self.programs.get((spec, treedef, avals, mesh))
        if program is None:
            program = (_program(self.fn, spec, treedef, avals, self.describe, self.notice) if mesh is None
                       else _sharded(self.fn, spec, treedef, mesh))
            self.programs[(spec, treedef, avals, mesh)] = program
        return program

    def __call__(self, *args, spec):
        return self.program(*args, spec=spec)(*jax.tree_util.tree_leaves(args))
