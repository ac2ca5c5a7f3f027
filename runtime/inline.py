"""The inline backend: ``init(backend="inline")`` runs every task and actor call synchronously in
the calling process, with the same API and the same value semantics (arguments and results are
serialised, so arrays come back read-only). Use it to step through tasks with pdb and for
deterministic tests; there is no parallelism, and ``timeout``s never fire because every object is
ready as soon as ``.remote`` returns.
"""
from __future__ import annotations

import itertools
import os
import pickle
import time
import traceback
from collections import deque
from typing import TYPE_CHECKING, Any

from . import object_ref as _object_ref
from .exceptions import ActorDiedError, ObjectLostError
from .options import is_async_class
from .serialization import (constructor_error, error_value, load_value, make_results, make_value,
                            resolve_args, split_returns, system_error_value)

if TYPE_CHECKING:
    import asyncio

# The original callables by function/class id, registered by ``api`` so that inline runs call
# the very function the user wrote (breakpoints work), not an unpickled copy.
local_callables: dict[int, Any] = {}


class _Actor:
    __slots__ = ("cause", "dead", "instance", "loop", "name", "why")

    def __init__(self, name: str | None) -> None:
        self.instance: Any = None
        self.loop: asyncio.AbstractEventLoop | None = None  # an async actor's: its calls run on it
        self.name = name
        self.dead = False
        self.why = ""
        self.cause: BaseException | None = None  # what its constructor raised


class InlineClient:
    """Same methods as ``driver.Driver``; everything happens inside the call."""

    direct = False  # api builds task specs for this client (see ray_backend)

    def __init__(self) -> None:
        self._prefix = _object_ref.new_epoch() << 48
        self._ids = itertools.count(1)
        self.values: dict[int, tuple] = {}
        self.refs: dict[int, int] = {}
        self.contained: dict[int, list[int]] = {}
        self.actors: dict[int, _Actor] = {}
        self.names: dict[str, int] = {}
        self.meta: dict[int, Any] = {}
        self.events: deque[tuple] = deque(maxlen=200_000)
        self.closed = False

    # --- reference counting ---
    def incref(self, oid: int) -> None:
        if oid in self.refs:
            self.refs[oid] += 1

    def _collect_released(self) -> None:
        stack = _object_ref.drain_released()
        while stack:
            oid = stack.pop()
            n = self.refs.get(oid)
            if n is None:
                continue
            if n <= 1:
                del self.refs[oid]
                self.values.pop(oid, None)
                stack.extend(self.contained.pop(oid, ()))
                if oid in self.actors:  # its last handle: the actor goes, as in the driver
                    self._forget_actor(oid)
            else:
                self.refs[oid] = n - 1

    def _forget_actor(self, aid: int) -> None:
        a = self.actors.pop(aid)
        if a.loop is not None and not a.loop.is_running():
            a.loop.close()
        self.meta.pop(aid, None)
        if a.name is not None and self.names.get(a.name) == aid:
            del self.names[a.name]

    def _store(self, oid: int, value: tuple, contained: list[int], refs: int = 1) -> None:
        self.values[oid] = value
        self.refs[oid] = refs
        if contained:
            self.contained[oid] = contained
            for c in contained:
                self.incref(c)

    # --- API ---
    def new_id(self) -> int:
        return self._prefix | next(self._ids)

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the runtime was shut down; call runtime.init() again")

    def _callable(self, fn_id: int, blob: bytes | None) -> Any:
        fn = local_callables.get(fn_id)
        if fn is None:
            fn = pickle.loads(blob)  # type: ignore[arg-type]
            local_callables[fn_id] = fn
        return fn

    def _run(self, fn: Any, args_val: Any, deps: list[int], roids: list[int], name: str,
             retries: int = 0, retry_exceptions: bool = False,
             keep: list[Any] | None = None) -> None:
        """Run ``fn`` and store its outputs under ``roids``; with ``keep``, the outputs go
        there unserialised (an actor's instance stays the object its constructor made)."""
        dep_vals = []
        for d in deps:
            v = self.values.get(d)
            if v is None:
                v = system_error_value(ObjectLostError(f"argument {d:016x} of {name} was freed"))
            if v[0] in "ex":
                for o in roids:
                    self._store(o, v, [])
                return
            dep_vals.append(v)
        while True:
            start = time.time()
            t0 = time.perf_counter()
            try:
                args, kwargs = resolve_args(args_val, dep_vals)
                try:
                    result = fn(*args, **kwargs)
                finally:
                    self.events.append((name, "task", 0, os.getpid(), start,
                                        time.perf_counter() - t0, True))
                results = split_returns(result, len(roids), name)
                if keep is not None:
                    keep.extend(results)
                    results = [None] * len(results)
                values = make_results(results, [None] * len(results), name)
                for o, (v, contained) in zip(roids, values):
                    self._store(o, v, contained)
                return
            except BaseException as e:  # user errors (SystemExit too) become error values
                if isinstance(e, KeyboardInterrupt):  # Ctrl-C: it stops the caller too
                    raise
                if retry_exceptions and retries != 0:
                    retries -= 1
                    continue
                err = error_value(e, traceback.format_exc(), name)
                for o in roids:
                    self._store(o, err, [])
                return

    def submit(self, spec: tuple, blob: bytes | None) -> None:
        self._check_open()
        self._collect_released()
        (kind, fn_id, name, args_val, deps, _contained, roids, _cpus, aid, method, retries,
         retry_exc) = spec
        if kind == "task":
            self._run(self._callable(fn_id, blob), args_val, deps, roids, name, retries,
                      retry_exc)
            return
        a = self.actors.get(aid)
        if a is None or a.dead:
            why = a.why if a is not None else "it does not exist in this runtime"
            cause = a.cause if a is not None else None
            err = system_error_value(ActorDiedError(f"the actor died: {why}", cause=cause))
            for o in roids:
                self._store(o, err, [])
            return
        fn = getattr(a.instance, method)
        self._run(fn if a.loop is None else _on_loop(a.loop, fn), args_val, deps, roids, name)

    def create_actor(self, aid: int, name: str | None, meta: Any, spec: tuple,
                     blob: bytes, detached: bool = False) -> None:
        self._check_open()
        if name is not None:
            old = self.names.get(name)
            if old is not None and not self.actors[old].dead:
                raise ValueError(f"an actor named {name!r} already exists; pick another name or "
                                 "use get_actor(name)")
            self.names[name] = aid
        a = _Actor(name)
        self.actors[aid] = a
        self.meta[aid] = meta
        # handles are counted like refs (the one api returns included; a detached actor's
        # extra one is never released): the record goes with the last (_collect_released)
        self.refs[aid] = 2 if detached else 1
        oid = self.new_id()
        cls = self._callable(spec[1], blob)
        if is_async_class(cls):
            import asyncio  # only here: a process without async actors does without it
            a.loop = asyncio.new_event_loop()
        made: list[Any] = []
        self._run(cls, spec[3], spec[4], [oid], spec[2], keep=made)
        v = self.values.pop(oid)
        self.refs.pop(oid, None)
        if v[0] in "ex":
            a.dead = True
            a.why, a.cause = constructor_error(v)
            if name is not None:
                self.names.pop(name, None)
        else:
            a.instance = made[0]

    def get_objects(self, oids: list[int], timeout: float | None) -> list[Any]:
        self._collect_released()
        out = []
        for o in oids:
            v = self.values.get(o)
            if v is None:
                self._check_open()
                raise ObjectLostError(f"object {o:016x} is not in this runtime (shut down or "
                                      "freed); call runtime.init() and resubmit the work")
            out.append(load_value(v))
        return out

    def put(self, obj: Any) -> Any:
        self._check_open()
        self._collect_released()
        oid = self.new_id()
        v, contained = make_value(obj, None)
        self._store(oid, v, contained)
        return _object_ref.ObjectRef(oid, _counted=True)

    def wait(self, oids: list[int], num_returns: int, timeout: float | None) -> set[int]:
        self._collect_released()
        for o in oids:  # every object is ready, unless it is not this runtime's (as get says)
            if o not in self.values:
                self._check_open()
                raise ObjectLostError(f"object {o:016x} is not in this runtime (shut down or "
                                      "freed); call runtime.init() and resubmit the work")
        return set(oids)

    def kill(self, aid: int, no_restart: bool = True) -> None:
        a = self.actors.get(aid)
        if a is not None and not a.dead:
            a.dead = True
            a.why = "it was killed with kill()"
            if a.name is not None and self.names.get(a.name) == aid:
                del self.names[a.name]
            a.instance = None

    def cancel(self, oid: int, force: bool, recursive: bool = True) -> None:
        """Inline tasks have finished by the time they could be cancelled."""

    def get_actor(self, name: str) -> tuple[int, Any] | None:
        aid = self.names.get(name)
        if aid is None:
            return None
        a = self.actors[aid]
        if a.dead:
            return None
        self.incref(aid)  # the handle api makes of it is counted here, as in the driver
        return aid, self.meta[aid]

    def timeline(self) -> list[dict]:
        from .driver import timeline_events
        return timeline_events(self.events)

    def memory_summary(self) -> dict[str, Any]:
        self._collect_released()
        inline = sum(len(v[1]) + sum(len(b) for b in v[2]) for v in self.values.values()
                     if v[0] == "i")
        # everything stays in this process's memory: nothing is evicted, lost, rebuilt or spilled
        return {"objects": len(self.values), "shm_bytes": 0, "spilled_bytes": 0,
                "shm_cap": None, "recycled_bytes": 0, "lineage_only_objects": 0, "evicted": 0,
                "lost": 0, "reconstructed": 0, "spilled": 0, "lineage_tasks": 0,
                "lineage_forgotten": 0,
                "by_owner": {"driver": {"objects": len(self.values), "pending": 0, "evicted": 0,
                                        "inline_bytes": inline, "shm_bytes": 0,
                                        "spilled_bytes": 0}}}

    def processes(self) -> list[int]:
        return []

    def shutdown(self) -> None:
        self.closed = True
        self.values.clear()
        self.refs.clear()
        for a in self.actors.values():
            if a.loop is not None and not a.loop.is_running():
                a.loop.close()
        self.actors.clear()
        self.names.clear()


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Any) -> Any:
    """``fn``, a method of an async actor, whose coroutine runs to its end on the actor's
    ``loop`` (one call at a time: inline calls never overlap)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    def call(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        if not asyncio.iscoroutine(result):
            return result
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # none runs in this thread: the usual case
            return loop.run_until_complete(result)
        # called from a coroutine (another async actor's call): a loop runs in this thread
        with ThreadPoolExecutor(1) as ex:
            return ex.submit(loop.run_until_complete, result).result()
    return call
