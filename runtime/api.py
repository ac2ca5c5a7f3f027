"""The public API, with Ray's names and semantics: init, remote, get, put, wait, kill, cancel, ...

The same functions work in the driver and inside tasks and actors (nested submission): each
process has one *client*, the ``Driver`` in the driver process and the ``Worker`` in a worker,
and both offer the same small set of methods.
"""
from __future__ import annotations

import atexit
import functools
import os
import pickle
import random
import signal
import threading
from typing import Any, Callable, Sequence

from . import object_ref as _object_ref
from .exceptions import text_of as _text_of
from .inline import local_callables as _local_callables
from .object_ref import ObjectRef
from .options import DEFAULT_MAX_CONCURRENCY, ActorOptions, TaskOptions, is_async_class
from .serialization import _SIMPLE, INLINE_MAX, DepSlot, dumps_plain, make_value
from .signatures import check as _check_args
from .signatures import method_shapes, shape_of

_client: Any = None
_is_worker = False
_shield: Any = None  # in a worker process, its client's ``shielded`` (see ``_shielded``)
_init_lock = threading.RLock()
_prev_sigterm: Any = None


# --- lifecycle ---
def init(num_cpus: int | None = None, object_store_memory: int | None = None,
         backend: str = "local", ignore_reinit_error: bool = False, address: str | None = None,
         **kwargs: Any) -> None:
    """Start the runtime: ``num_cpus`` worker processes (default: one per CPU).

    ``backend``: "local" (worker processes on this machine), "inline" (everything in this
    process, for pdb and deterministic tests) or "ray" (Ray, locally or at ``address``).
    """
    global _client, _forked_from
    if kwargs:
        raise ValueError(f"init() got unknown option(s) {sorted(kwargs)}; valid: num_cpus, "
                         "object_store_memory, backend, ignore_reinit_error, address")
    if backend not in ("local", "inline", "ray"):
        raise ValueError(f"init(backend={backend!r}): choose 'local' (worker processes), "
                         "'inline' (everything in this process, for debugging) or 'ray'")
    if address is not None and backend != "ray":
        raise ValueError("init(address=...) needs backend='ray'")
    if num_cpus is not None and (not isinstance(num_cpus, int) or isinstance(num_cpus, bool)
                                 or num_cpus < 1):
        raise ValueError(f"init(num_cpus={num_cpus!r}): num_cpus must be a positive integer")
    if object_store_memory is not None and (not isinstance(object_store_memory, int)
                                            or isinstance(object_store_memory, bool)
                                            or object_store_memory <= 0):
        raise ValueError(f"init(object_store_memory={object_store_memory!r}): must be a "
                         "positive number of bytes")
    with _init_lock:
        if _client is not None and _forked(_client):
            _client = None  # started by the parent process, before a fork: not ours
        if _client is not None:
            if ignore_reinit_error or _is_worker:
                return
            raise RuntimeError("runtime.init() was already called; call runtime.shutdown() "
                               "first, or pass ignore_reinit_error=True")
        if backend == "inline":
            from .inline import InlineClient
            d: Any = InlineClient()
        elif backend == "ray":
            from .ray_backend import RayClient
            d = RayClient(num_cpus, object_store_memory, address)
        else:
            from .driver import Driver
            d = Driver(num_cpus or os.cpu_count() or 1, object_store_memory)
        _client = d
        _forked_from = None  # a ref from now on is this runtime's
        _object_ref.set_hooks(None if d.direct else d)
        _install_sigterm()


def shutdown() -> None:
    """Stop every worker and actor and free every object; safe to call twice."""
    global _client
    with _init_lock:
        c = _client
        if c is None or _is_worker:
            return
        _client = None
        _object_ref.set_hooks(None)
        if _forked(c):
            return  # a forked child (its atexit runs this): the runtime is the parent's
        c.shutdown()


def _forked(c: Any) -> bool:
    """Whether ``c`` was started by another process than this one (we are a forked child)."""
    return getattr(c, "pid", None) not in (None, os.getpid())


def _after_fork_in_child() -> None:
    """In a forked child of a driver the runtime is the parent's: its dispatcher thread is not
    here, its lock may be held for ever, and its sockets are the parent's workers' own. Forget
    it, so that the API starts a runtime of the child's own as in a fresh process (``init``
    does too), and a ref or handle from the parent raises ObjectLostError at once."""
    global _client, _init_lock, _forked_from
    _init_lock = threading.RLock()  # another thread of the parent may have held it
    c = _client
    if c is not None and not _is_worker and _forked(c):
        _client = None
        _object_ref.set_hooks(None)
        _forked_from = c.pid
        c.close_in_forked_child()


_forked_from: int | None = None  # in a forked child of a driver: the parent's pid
os.register_at_fork(after_in_child=_after_fork_in_child)


def is_initialized() -> bool:
    """Whether ``init`` has run (or a remote call auto-initialised) and not been shut down."""
    return _client is not None


def _get_client() -> Any:
    c = _client
    if c is None:
        c = _attach_ray()
        if c is None:
            init()
            c = _client
    return c


def _attach_ray() -> Any:
    """Inside a Ray worker (Ray backend), API calls go to Ray."""
    global _client
    from .ray_backend import RayClient, in_ray_worker
    if not in_ray_worker():
        return None
    with _init_lock:
        if _client is None:
            _client = RayClient(attach=True)
    return _client


def _live_client(what: str) -> Any:
    """The client, for calls on refs or handles: those cannot exist before ``init``."""
    c = _client
    if c is None:
        c = _attach_ray()
    if c is None:
        from .exceptions import ObjectLostError
        if _forked_from is not None:
            raise ObjectLostError(f"{what}: this process was forked from the driver (pid "
                                  f"{_forked_from}), whose runtime made this object; a forked "
                                  "child cannot use that runtime: resubmit the work here (it "
                                  "starts one of its own), or in the parent")
        raise ObjectLostError(f"{what}: the runtime that made this object was shut down; call "
                              "runtime.init() and resubmit the work")
    return c


def _set_worker_client(w: Any) -> None:
    global _client, _is_worker, _shield
    _client = w
    _is_worker = True
    _shield = w.shielded


def _shielded(fn: Callable) -> Callable:
    """An API call that a cancel's SIGINT does not interrupt in a worker: the runtime's own code
    must not stop halfway (a lock left held, a message half-sent, a ref left uncounted). A
    cancel that came meanwhile raises TaskCancelledError as the call returns (``worker``)."""
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _shield is None:
            return fn(*args, **kwargs)
        return _shield(fn, args, kwargs)
    return call


def _install_sigterm() -> None:
    global _prev_sigterm
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        _prev_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: Any) -> None:
    shutdown()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


atexit.register(shutdown)


# --- arguments ---
def _pack_args(c: Any, args: tuple, kwargs: dict, name: str) -> tuple[Any, list, list, list]:
    """``(args_value, dependency_ids, contained_ids, refs_to_keep_alive)``."""
    if not args and not kwargs:
        return None, [], [], []
    if not kwargs and all(type(a) in _SIMPLE for a in args):
        data = pickle.dumps((args, None), 5)
        if len(data) <= INLINE_MAX:  # else a large str or bytes goes through the store, below
            return ("i", data, []), [], [], []
    deps: list[int] = []
    keep: list[ObjectRef] = []

    def slot(a: Any) -> Any:
        if type(a) is ObjectRef:
            deps.append(a._id)
            keep.append(a)
            return DepSlot(len(deps) - 1)
        return a

    a2 = tuple(slot(a) for a in args)
    k2 = {k: slot(v) for k, v in kwargs.items()}
    try:
        value, contained = make_value((a2, k2), None)
        if len(value[1]) + sum(len(b) for b in value[2]) > INLINE_MAX:
            # large arguments travel through the object store, like Ray's
            def big(a: Any) -> Any:
                if type(a) is DepSlot:
                    return a
                ref = put(a)
                return slot(ref)
            a2 = tuple(big(a) for a in a2)
            k2 = {k: big(v) for k, v in k2.items()}
            value, contained = make_value((a2, k2), None)
    except Exception as e:
        raise TypeError(f"could not serialize the arguments of {name}: {type(e).__name__}: "
                        f"{_text_of(e)}. "
                        "Pass picklable values (or create the object inside the task)") from None
    return value, deps, contained, keep


def _check_ref(r: Any, fn: str) -> int:
    if type(r) is not ObjectRef:
        raise TypeError(f"{fn}() expects an ObjectRef or a list of ObjectRefs, got "
                        f"{type(r).__name__}; pass what f.remote(...) or put(...) returned")
    return r._id


# --- what remote functions and actor classes share ---
class _Remote:
    """A function or class made remote: ``options(...)``, ``.remote(...)``, no direct call."""

    _misuse = ""  # the error of a direct call; {name} is filled in
    _options: Any

    def _setup(self, obj: Any, options: Any, obj_id: int | None) -> int:
        """Common ``__init__`` part; returns the function/class id (random when new)."""
        self._options = options
        self._blob: bytes | None = None
        obj_id = obj_id if obj_id is not None else random.getrandbits(62)
        _local_callables.setdefault(obj_id, obj)
        self.__name__ = getattr(obj, "__name__", "remote_function")
        self.__qualname__ = getattr(obj, "__qualname__", self.__name__)
        self.__doc__ = obj.__doc__
        self.__module__ = getattr(obj, "__module__", None)  # type: ignore[assignment]
        return obj_id

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(self._misuse.format(name=self.__name__))

    def options(self, **opts: Any) -> "_Bound":
        """The same function or class with some options changed for the next ``.remote``."""
        return _Bound(self, self._options.replace(**opts))

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return self._submit(self._options, args, kwargs)

    def _submit(self, options: Any, args: tuple, kwargs: dict) -> Any:
        raise NotImplementedError


class _Bound:
    """What ``options(...)`` returns: the target with other options; chains like Ray's."""

    __slots__ = ("_target", "_options")

    def __init__(self, target: _Remote, options: Any) -> None:
        self._target = target
        self._options = options

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return self._target._submit(self._options, args, kwargs)

    def options(self, **opts: Any) -> "_Bound":
        return _Bound(self._target, self._options.replace(**opts))


# --- remote functions ---
class RemoteFunction(_Remote):
    """A function made remote with ``@remote``: call ``f.remote(...)`` to run it as a task."""

    _misuse = ("remote function {name} cannot be called directly; use {name}.remote(...) and "
               "get() the result")

    def __init__(self, fn: Callable, options: TaskOptions, fn_id: int | None = None) -> None:
        self._function = fn
        self._fn_id = self._setup(fn, options, fn_id)
        self._shape: Any = _UNREAD  # its parameters, read at the first submit (``signatures``)

    def __reduce__(self) -> Any:
        return (RemoteFunction, (self._function, self._options, self._fn_id))

    def _submit(self, options: Any, args: tuple, kwargs: dict) -> Any:
        return _submit_task(self, options, args, kwargs)

    def _get_blob(self) -> bytes:
        if self._blob is None:
            self._blob = dumps_plain(self._function)
        return self._blob

    def _get_shape(self) -> Any:
        if self._shape is _UNREAD:
            self._shape = shape_of(self._function)
        return self._shape


_UNREAD = object()


@_shielded
def _submit_task(rf: RemoteFunction, o: TaskOptions, args: tuple, kwargs: dict) -> Any:
    name = o.name or rf.__name__
    _check_args(rf._get_shape(), args, kwargs, name)
    c = _get_client()
    if c.direct:
        return c.task(rf, o, args, kwargs)
    args_val, deps, contained, keep = _pack_args(c, args, kwargs, name)
    n = o.num_returns
    roids = [c.new_id() for _ in range(n)]
    spec = ("task", rf._fn_id, name, args_val, deps, contained, roids, o.num_cpus, None, None,
            o.max_retries, o.retry_exceptions)
    c.submit(spec, rf._get_blob())
    del keep
    if n == 1:
        return ObjectRef(roids[0], _counted=True)
    if n == 0:
        return None
    return [ObjectRef(x, _counted=True) for x in roids]


# --- actors ---
def method(num_returns: int = 1) -> Callable[[Callable], Callable]:
    """Decorate an actor method to set its ``num_returns`` (Ray's ``ray.method``)."""
    if not isinstance(num_returns, int) or num_returns < 0:
        raise ValueError(f"method(num_returns={num_returns!r}): must be an integer >= 0")

    def deco(fn: Callable) -> Callable:
        fn._rt_num_returns = num_returns  # type: ignore[attr-defined]
        fn.__ray_num_returns__ = num_returns  # type: ignore[attr-defined] # read by the Ray backend
        return fn
    return deco


class ActorClass(_Remote):
    """A class made remote with ``@remote``: ``Cls.remote(...)`` starts an actor."""

    _misuse = "actor class {name} cannot be instantiated directly; use {name}.remote(...)"

    def __init__(self, cls: type, options: ActorOptions, cls_id: int | None = None) -> None:
        self._cls = cls
        self._cls_id = self._setup(cls, options, cls_id)
        methods = {}
        for k in dir(cls):
            if k.startswith("__") and k != "__call__":
                continue
            v = getattr(cls, k, None)
            if callable(v):
                methods[k] = getattr(v, "_rt_num_returns", 1)
        # the third item, the methods' parameters, checks the arguments of calls (``signatures``)
        self._meta = (cls.__name__, methods, method_shapes(cls, list(methods)))
        self._async = is_async_class(cls)
        self._init_shape = shape_of(cls)

    def __reduce__(self) -> Any:
        return (ActorClass, (self._cls, self._options, self._cls_id))

    def _submit(self, options: Any, args: tuple, kwargs: dict) -> "ActorHandle":
        return _create_actor(self, options, args, kwargs)


@_shielded
def _create_actor(ac: ActorClass, o: ActorOptions, args: tuple, kwargs: dict) -> "ActorHandle":
    concurrency = _max_concurrency(ac, o)
    c = _get_client()
    if c.direct:
        return ActorHandle(c.actor(ac, o, args, kwargs), ac._meta, _counted=True)
    if o.name is not None and o.get_if_exists:
        found = c.get_actor(o.name)
        if found is not None:
            return ActorHandle(*found, _counted=True)
    name = f"{ac.__name__}.__init__"
    _check_args(ac._init_shape, args, kwargs, name)
    args_val, deps, contained, keep = _pack_args(c, args, kwargs, name)
    if ac._blob is None:
        ac._blob = dumps_plain(ac._cls)
    while True:
        aid = c.new_id()
        # slot 9 (an actor call's method name) carries the restart policy of a creation, and
        # slot 11 (a task's retry_exceptions) the calls that may run at once
        spec = ("actor_create", ac._cls_id, name, args_val, deps, contained, [], o.num_cpus, aid,
                (o.max_restarts, o.max_task_retries), 0, concurrency)
        try:
            c.create_actor(aid, o.name, ac._meta, spec, ac._blob, o.lifetime == "detached")
            break
        except ValueError:  # the name is taken
            if o.name is None or not o.get_if_exists:
                raise
        # another caller created it since we looked (as Ray does: get the winner's actor)
        found = c.get_actor(o.name)
        if found is not None:
            return ActorHandle(*found, _counted=True)
    del keep
    return ActorHandle(aid, ac._meta, _counted=True)


def _max_concurrency(ac: ActorClass, o: ActorOptions) -> int:
    """How many calls of the actor may run at once: ``max_concurrency``, by default Ray's (1000
    for an async actor, 1 otherwise); more than 1 on an actor without async methods makes a
    threaded actor, whose calls run on a pool of that many threads (``async_actor``)."""
    if o.max_concurrency is not None:
        return o.max_concurrency
    return DEFAULT_MAX_CONCURRENCY if ac._async else 1


class ActorMethod:
    """``handle.method``: call ``.remote(...)`` to queue a call on the actor."""

    __slots__ = ("_handle", "_name", "_num_returns")

    def __init__(self, handle: "ActorHandle", name: str, num_returns: int) -> None:
        self._handle = handle
        self._name = name
        self._num_returns = num_returns

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"actor method {self._name} cannot be called directly; use "
                        f"handle.{self._name}.remote(...)")

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return _submit_call(self._handle, self._name, self._num_returns, args, kwargs)

    def options(self, num_returns: int | None = None, **opts: Any) -> "ActorMethod":
        if opts:
            raise ValueError(f"unknown actor method option(s) {sorted(opts)}; valid: num_returns")
        n = self._num_returns if num_returns is None else num_returns
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"num_returns={n!r}: must be an integer >= 0")
        return ActorMethod(self._handle, self._name, n)


class ActorHandle:
    """A handle to a live actor; picklable, so it can be passed to tasks and other actors.

    Handles are reference-counted like ObjectRefs: when none is left anywhere (and the actor is
    not ``lifetime="detached"``), the actor exits once its pending calls are done, as in Ray.
    """

    __slots__ = ("_aid", "_meta", "__weakref__")

    def __init__(self, aid: int, meta: tuple, _counted: bool = False) -> None:
        self._aid = aid
        self._meta = meta
        if not _counted and _object_ref._hooks is not None:
            _object_ref._hooks.incref(aid)

    def __del__(self) -> None:
        if _object_ref._hooks is not None:
            _object_ref._released.append(self._aid)

    def __getattr__(self, name: str) -> ActorMethod:
        # no cache: an ActorMethod holds its handle, and a cycle would delay __del__ to the GC
        n = self._meta[1].get(name)
        if n is None:
            if not isinstance(self._aid, int) and not name.startswith("_"):
                return ActorMethod(self, name, None)  # type: ignore[arg-type] # Ray decides
            raise AttributeError(f"actor {self._meta[0]} has no method {name!r}")
        return ActorMethod(self, name, n)

    def __reduce__(self) -> Any:
        oids = getattr(_object_ref._collect, "oids", None)
        if oids is not None:
            oids.append(self._aid)
        return (ActorHandle, (self._aid, self._meta))

    def __repr__(self) -> str:
        aid = f"{self._aid:016x}" if isinstance(self._aid, int) else repr(self._aid)
        return f"ActorHandle({self._meta[0]}, {aid})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorHandle) and other._aid == self._aid

    def __hash__(self) -> int:
        return hash(self._aid)


@_shielded
def _submit_call(h: ActorHandle, method_name: str, n: int, args: tuple, kwargs: dict) -> Any:
    c = _live_client(f"{h._meta[0]}.{method_name}.remote()")
    if len(h._meta) > 2:  # not a handle that Ray's get_actor made
        _check_args(h._meta[2].get(method_name), args, kwargs, f"{h._meta[0]}.{method_name}")
    if c.direct:
        return c.call(h._aid, method_name, n, args, kwargs)
    name = f"{h._meta[0]}.{method_name}"
    args_val, deps, contained, keep = _pack_args(c, args, kwargs, name)
    roids = [c.new_id() for _ in range(n)]
    # slot 1 (a task's function id) names the submitter, whose calls run in their order:
    # its worker id, 0 for the driver (``actors.pump``)
    spec = ("call", getattr(c, "wid", 0), name, args_val, deps, contained, roids, 0, h._aid,
            method_name, 0, False)
    c.submit(spec, None)
    del keep
    if n == 1:
        return ObjectRef(roids[0], _counted=True)
    if n == 0:
        return None
    return [ObjectRef(x, _counted=True) for x in roids]


# --- the decorator ---
def remote(*args: Any, **kwargs: Any) -> Any:
    """``@remote`` or ``@remote(num_cpus=..., num_returns=..., ...)`` on a function or class."""
    if len(args) == 1 and not kwargs:
        return _make_remote(args[0], {})
    if args:
        raise TypeError("remote() takes a function or class, or only keyword options: "
                        "@remote or @remote(num_cpus=1)")

    def deco(obj: Any) -> Any:
        return _make_remote(obj, kwargs)
    return deco


def _make_remote(obj: Any, opts: dict) -> Any:
    if not callable(obj) or isinstance(obj, (RemoteFunction, ActorClass)):
        what = ("the already remote " + obj.__name__ if isinstance(obj, _Remote)
                else f"{obj!r:.60} ({type(obj).__name__})")
        raise TypeError(f"@remote applies to a function or a class, not to {what}")
    if isinstance(obj, type):
        return ActorClass(obj, ActorOptions().replace(**opts))
    return RemoteFunction(obj, TaskOptions().replace(**opts))


# --- objects ---
def _timeout(fn: str, timeout: Any) -> float | None:
    """``timeout`` checked (NaN is no number >= 0), None for one longer than a lock can wait
    (``threading.TIMEOUT_MAX``, about 292 years: ``inf`` among them), which waits as None does."""
    if timeout is None:
        return None
    if not isinstance(timeout, (int, float)) or not timeout >= 0:
        raise ValueError(f"{fn}(timeout={timeout!r}): timeout must be None or a number >= 0")
    return None if timeout > threading.TIMEOUT_MAX else timeout


@_shielded
def get(refs: ObjectRef | Sequence[ObjectRef], timeout: float | None = None) -> Any:
    """The value(s) of ``refs``; blocks until ready or ``timeout`` seconds (GetTimeoutError)."""
    timeout = _timeout("get", timeout)
    if type(refs) is ObjectRef:
        return _live_client("get()").get_objects([refs._id], timeout)[0]
    if isinstance(refs, (list, tuple)):
        oids = [_check_ref(r, "get") for r in refs]
        if not oids:
            return []
        return _live_client("get()").get_objects(oids, timeout)
    # Ray's ValueError for what is neither a ref nor a list (a ref inside a list: TypeError)
    raise ValueError(f"get() expects an ObjectRef or a list of ObjectRefs, got "
                     f"{type(refs).__name__}; pass what f.remote(...) or put(...) returned")


@_shielded
def put(value: Any) -> ObjectRef:
    """Store ``value`` (immutable from now on) and return its ref."""
    if type(value) is ObjectRef:
        raise TypeError("put() of an ObjectRef is not allowed; pass the ref itself around")
    c = _get_client()
    try:
        return c.put(value)
    except (pickle.PicklingError, TypeError, AttributeError) as e:
        raise TypeError(f"could not serialize the value given to put(): {type(e).__name__}: "
                        f"{_text_of(e)}") from None


@_shielded
def wait(refs: Sequence[ObjectRef], num_returns: int = 1, timeout: float | None = None,
         fetch_local: bool = True) -> tuple[list[ObjectRef], list[ObjectRef]]:
    """``(ready, not_ready)``: returns once ``num_returns`` refs are ready or at ``timeout``."""
    if not isinstance(refs, (list, tuple)):
        raise TypeError(f"wait() expects a list of ObjectRefs, got {type(refs).__name__}")
    oids = [_check_ref(r, "wait") for r in refs]
    timeout = _timeout("wait", timeout)
    if not oids:  # Ray's rule: nothing to wait for, whatever num_returns says
        return [], []
    if len(set(oids)) != len(oids):
        raise ValueError("wait() got the same ObjectRef twice; pass distinct refs")
    if (not isinstance(num_returns, int) or isinstance(num_returns, bool)
            or not 1 <= num_returns <= len(oids)):
        raise ValueError(f"wait(num_returns={num_returns!r}): must be between 1 and "
                         f"len(refs)={len(oids)}")
    ready_set = _live_client("wait()").wait(oids, num_returns, timeout)
    ready = [r for r in refs if r._id in ready_set][:num_returns]
    if len(ready) == len(refs):
        return ready, []
    taken = {r._id for r in ready}
    return ready, [r for r in refs if r._id not in taken]


@_shielded
def kill(actor: ActorHandle, no_restart: bool = True) -> None:
    """Kill the actor's process now; pending and later calls raise ActorDiedError.

    With ``no_restart=False`` an actor that has restarts left is restarted instead.
    """
    if not isinstance(actor, ActorHandle):  # Ray's ValueError ("only supported for actors")
        raise ValueError(f"kill() expects an actor handle, got {type(actor).__name__} (a task "
                         "is stopped with cancel(ref))")
    _live_client("kill()").kill(actor._aid, no_restart)


@_shielded
def cancel(ref: ObjectRef, force: bool = False, recursive: bool = True) -> None:
    """Cancel the task that makes ``ref``; ``get`` then raises TaskCancelledError. With
    ``recursive`` (Ray's default) the tasks it submitted are cancelled too, transitively. An
    actor call is cancelled only while it waits to run (queued behind other calls): a running
    one is not interrupted and keeps its result, as in Ray, except on an async actor, where the
    running call's coroutine is cancelled (asyncio's cancel). ``force=True`` on an actor call
    that has not finished raises ValueError, as in Ray: use ``kill`` to end the actor."""
    _check_ref(ref, "cancel")
    _live_client("cancel()").cancel(ref._id, force, recursive)


@_shielded
def get_actor(name: str, namespace: str | None = None) -> ActorHandle:
    """The handle of the live actor created with ``options(name=name)``. ``namespace``, as
    Ray's: passed to Ray on its backend; elsewhere there is one namespace (as for
    ``options(namespace=...)``)."""
    if not name:  # Ray's ValueError ("Please supply a non-empty value to get_actor")
        raise ValueError(f"get_actor({name!r}): give the name the actor was created with")
    if not isinstance(name, str):
        raise TypeError(f"get_actor() expects the actor's name as a string, got "
                        f"{type(name).__name__}")
    if namespace is not None and not isinstance(namespace, str):
        raise TypeError(f"get_actor(namespace={namespace!r}): must be None or a string")
    c = _get_client()
    found = c.get_actor(name, namespace) if c.direct else c.get_actor(name)
    if found is None:
        raise ValueError(f"failed to look up actor with name {name!r}: no live actor has it")
    return ActorHandle(*found, _counted=True)  # the client counted it as it found it


def timeline(filename: str | None = None) -> list[dict] | None:
    """Task and actor-call events as Chrome-trace JSON (chrome://tracing, Perfetto), as Ray's
    ``timeline``: written to ``filename`` when given, else returned."""
    c = _live_client("timeline()")
    if _is_worker:
        raise RuntimeError("timeline() is available in the driver only")
    events = c.timeline()
    if filename is None:
        return events
    import json
    with open(filename, "w") as f:
        json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)
    return None


def memory_summary() -> dict[str, Any]:
    """Objects and bytes in the store (inline, shared memory, spilled to disk), by owner.

    Also counts since ``init``: ``evicted`` (task outputs dropped to stay under
    ``object_store_memory``), ``lost`` (segments that vanished), ``reconstructed`` (task runs
    that rebuilt lost outputs from lineage), ``spilled`` (objects moved to disk); and now:
    ``lineage_only_objects`` (no ref left, kept so a task can run again), ``lineage_tasks``.
    """
    c = _live_client("memory_summary()")
    if _is_worker or not hasattr(c, "memory_summary"):
        raise RuntimeError("memory_summary() is available in the driver of the local and inline "
                           "backends")
    return c.memory_summary()
