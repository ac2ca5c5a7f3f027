"""Argument checks at submission, as Ray's (``signature.validate_args``).

``f.remote(...)``, ``Cls.remote(...)`` and ``handle.method.remote(...)`` with arguments the
function cannot take raise ``TypeError`` there, instead of a task that fails later (``get``
raising ``TaskError(TypeError)``; for a constructor, ``ActorDiedError`` from every call). A
function's parameters are kept as a picklable *shape*, ``((name, kind, has_default), ...)``,
that travels with actor handles; defaults themselves never do.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any

Shape = tuple[tuple[str, int, bool], ...]

_PLAIN = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def shape_of(fn: Any) -> Shape | None:
    """The parameters of ``fn`` (a function, a class: its constructor's, a bound method), or None
    when they cannot be read (then nothing is checked)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return tuple((p.name, int(p.kind), p.default is not p.empty)
                 for p in sig.parameters.values())


def method_shapes(cls: type, names: list[str]) -> dict[str, Shape]:
    """The shapes of the methods ``names`` of ``cls`` as a caller passes their arguments: without
    ``self`` (a plain function), as they are (a staticmethod, a classmethod)."""
    out = {}
    for k in names:
        raw = inspect.getattr_static(cls, k, None)
        if isinstance(raw, (staticmethod, classmethod)):
            shape = shape_of(getattr(cls, k))
        elif inspect.isfunction(raw):
            shape = shape_of(raw)
            if shape is not None:
                if not shape or shape[0][1] not in _PLAIN:  # no self to drop: unknown
                    continue
                shape = shape[1:]
        else:
            continue
        if shape is not None:
            out[k] = shape
    return out


def check(shape: Shape | None, args: tuple, kwargs: dict, name: str) -> None:
    """Raise TypeError, naming ``name``, if a function of ``shape`` cannot take these arguments."""
    if shape is None:
        return
    if not kwargs and len(args) == len(shape) and _all_plain(shape):  # the usual call: fast
        return
    try:
        _signature(shape).bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{name}() cannot take these arguments: {e}") from None


@functools.lru_cache(maxsize=4096)
def _all_plain(shape: Shape) -> bool:
    return all(kind in _PLAIN for _, kind, _ in shape)


@functools.lru_cache(maxsize=1024)
def _signature(shape: Shape) -> inspect.Signature:
    return inspect.Signature([
        inspect.Parameter(n, inspect._ParameterKind(kind),
                          default=None if has_default else inspect.Parameter.empty)
        for n, kind, has_default in shape])
