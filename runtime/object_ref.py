"""``ObjectRef``: a handle to an immutable object in the store, reference-counted across processes.

Each process counts its live ``ObjectRef`` instances through a hook object installed by the driver
or the worker (``set_hooks``). Creating a ref increments at once; ``__del__`` only appends to a
queue that the owner drains later, because ``__del__`` may run inside the garbage collector while
the store's lock is held. Pickling a ref records its id in the active collector so that whatever
contains it (a task's arguments, a stored object) keeps it alive.
"""
from __future__ import annotations

import random
import threading
from collections import deque
from typing import Any

_hooks: Any = None
_released: deque[int] = deque()
_collect = threading.local()


COUNT_MAX = 0xFFFFFFFF  # an id's count has 32 bits (past them, new_id moves to another epoch)
EPOCHS = (1 << 15) - 1  # an id's epoch has 15 bits (0 is none)


def wid_of(oid: int) -> int:
    """The id of the worker whose ``new_id`` made object (or actor) id ``oid``, 0 for the
    driver's: an id is ``epoch << 48 | worker id << 32 | count`` (``worker.Worker.new_id``)."""
    return (oid >> 32) & 0xFFFF


_used_epochs: set[int] = set()


def new_epoch() -> int:
    """The epoch of a new runtime in this process: random, and one no earlier runtime of this
    process had, so that a ref kept from a runtime shut down names no object of a later one
    (it raises ObjectLostError instead of reading another object)."""
    if len(_used_epochs) >= EPOCHS:
        _used_epochs.clear()
    epoch = random.randrange(1, EPOCHS + 1)
    while epoch in _used_epochs:
        epoch = epoch % EPOCHS + 1
    _used_epochs.add(epoch)
    return epoch


def set_hooks(hooks: Any) -> None:
    """Install the process's reference-count owner (``incref(oid)``), or None to stop counting."""
    global _hooks
    _hooks = hooks
    _released.clear()


def drain_released() -> list[int]:
    """The ids whose refs died since the last call (one entry per dead ref)."""
    out = []
    pop = _released.popleft
    try:
        while True:
            out.append(pop())
    except IndexError:
        return out


class collecting:
    """Context manager: ids of refs pickled inside the block end up in ``self.oids``."""

    __slots__ = ("oids", "_prev")

    def __enter__(self) -> "collecting":
        self._prev = getattr(_collect, "oids", None)
        self.oids: list[int] = []
        _collect.oids = self.oids
        return self

    def __exit__(self, *exc: Any) -> None:
        _collect.oids = self._prev


class ObjectRef:
    """A future for an object produced by ``put`` or a task: pass it around, ``get`` its value."""

    __slots__ = ("_id", "__weakref__")

    def __init__(self, oid: int, _counted: bool = False) -> None:
        self._id = oid
        if not _counted and _hooks is not None:
            _hooks.incref(oid)

    def __del__(self) -> None:
        if _hooks is not None:
            _released.append(self._id)

    def __reduce__(self) -> Any:
        oids = getattr(_collect, "oids", None)
        if oids is not None:
            oids.append(self._id)
        return (ObjectRef, (self._id,))

    def hex(self) -> str:
        oid = self._id
        return f"{oid:016x}" if isinstance(oid, int) else oid.hex()

    def binary(self) -> bytes:
        oid = self._id
        return oid.to_bytes(8, "big") if isinstance(oid, int) else oid.binary()

    def __hash__(self) -> int:
        return hash(self._id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectRef) and other._id == self._id

    def __repr__(self) -> str:
        return f"ObjectRef({self.hex()})"

    def __await__(self) -> Any:
        """``await ref`` in a coroutine (an async actor's call, any asyncio code): the value, as
        ``get`` gives it, while the event loop runs on (Ray's ``await ref``)."""
        return _awaited(self).__await__()


_AWAIT_POLL_S = 1.0  # a get for an awaiting coroutine that was cancelled ends within this


async def _awaited(ref: ObjectRef) -> Any:
    """``get(ref)`` on a thread of its own, so that the loop is not blocked; a thread, not the
    loop's default executor, whose few threads could all wait for calls that need one."""
    import asyncio

    from . import api
    from .exceptions import GetTimeoutError

    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def settle(ok: bool, v: Any) -> None:
        if not fut.done():  # else the awaiting coroutine was cancelled
            if ok:
                fut.set_result(v)
            else:
                fut.set_exception(v)

    def wait() -> None:
        while not fut.done():
            try:
                v = api.get(ref, timeout=_AWAIT_POLL_S)
            except GetTimeoutError:
                continue
            except BaseException as e:  # noqa: BLE001 - the awaiting coroutine raises it
                ok, v = False, e
            else:
                ok = True
            try:
                loop.call_soon_threadsafe(settle, ok, v)
            except RuntimeError:  # the loop is closed
                pass
            return

    threading.Thread(target=wait, daemon=True, name=f"await {ref.hex()}").start()
    return await fut
