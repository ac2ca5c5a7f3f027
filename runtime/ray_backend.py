"""The Ray backend: ``init(backend="ray", address=None)`` runs the same API on Ray, locally or on
the cluster at ``address``. Ray is an optional extra (``pip install .[ray]``).

Our ``ObjectRef`` and ``ActorHandle`` wrap Ray's (the wrapped object sits where the local
backend keeps an integer id), so code written against this API moves between backends unchanged.
Top-level ref arguments are unwrapped, so Ray resolves them before the task runs; refs nested in
containers stay wrapped and stay refs (Ray's rule). Ray's errors are mapped to this package's:
a task error is still an instance of the original exception type.

Not mapped: ``timeline`` writes Ray's own trace format; actor handles follow Ray's lifetime rules;
worker output carries Ray's ``(pid=...)`` prefix.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from .exceptions import (ActorDiedError, DeserializationError, GetTimeoutError, ObjectLostError,
                         TaskCancelledError, WorkerCrashedError, as_instanceof_cause)
from .object_ref import ObjectRef

log = logging.getLogger(__name__)
# Ray retries an unreachable GCS for minutes; the address is probed first, for this long
_CONNECT_TIMEOUT_S = float(os.environ.get("RUNTIME_RAY_CONNECT_TIMEOUT_S", "5"))


def check_reachable(address: str, timeout: float = _CONNECT_TIMEOUT_S) -> None:
    """Raise one clear ``ConnectionError`` unless ``host:port`` (or ``ray://host:port``)
    accepts a TCP connection within ``timeout`` seconds; "auto" and "local" are Ray's own."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    # ASCII digits only: str.isdigit() also takes '²' (int() refuses it) and other scripts'
    # digits (int() reads them, Ray would not)
    if not sep or not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"init(backend='ray', address={address!r}): expected 'host:port' (a "
                         "port from 1 to 65535), 'ray://host:port', 'auto' or None")
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                 timeout=timeout).close()
    except OSError as e:
        raise ConnectionError(f"nothing answers at {hostport}: {e.strerror or e} (waited at "
                              f"most {timeout:g} s)") from None


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RuntimeError("init(backend='ray') needs Ray, which is not installed: "
                           "pip install 'sysml-toolkit[ray]' (or pip install ray)") from None
    return ray


def in_ray_worker() -> bool:
    """Whether this process is a Ray worker (so API calls inside tasks use Ray)."""
    import sys
    ray = sys.modules.get("ray")
    if ray is None:
        return False
    try:
        return bool(ray.is_initialized()) and ray.get_runtime_context().worker.mode == \
            ray.WORKER_MODE
    except Exception:  # noqa: BLE001 - any doubt means: not a Ray worker
        return False


class RayClient:
    """The API client for the Ray backend; ``direct`` tells ``api`` to skip the spec path."""

    direct = True

    def __init__(self, num_cpus: int | None = None, object_store_memory: int | None = None,
                 address: str | None = None, attach: bool = False) -> None:
        self.ray = ray = import_ray()
        self.owns = not attach
        self._remote_fns: dict[int, Any] = {}
        self._remote_cls: dict[int, Any] = {}
        if attach:
            return
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR"}
        if address is None:
            # like the local backend, workers see the driver's sys.path (so functions defined
            # in the driver's modules, tests included, import by reference)
            import os
            import sys
            kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(
                p for p in sys.path if p and os.path.isdir(p))}}
            kwargs["num_cpus"] = num_cpus
            if object_store_memory is not None:
                kwargs["object_store_memory"] = object_store_memory
        try:
            if address is not None:
                check_reachable(address)
            ray.init(address=address, **kwargs)
        except ConnectionError as e:
            raise RuntimeError(f"init(backend='ray', address={address!r}): cannot reach the Ray "
                               f"cluster ({e}); start it with `ray start --head` or fix the "
                               "address") from None

    # --- errors ---
    def _map(self, e: BaseException) -> BaseException:
        rx = self.ray.exceptions
        if isinstance(e, rx.GetTimeoutError):
            return GetTimeoutError(str(e))
        if isinstance(e, rx.TaskCancelledError):
            return TaskCancelledError(str(e))
        if isinstance(e, rx.RayActorError):
            return ActorDiedError(str(e), cause=self._init_cause(e))
        if isinstance(e, rx.WorkerCrashedError):
            return WorkerCrashedError(str(e))
        if isinstance(e, rx.ObjectLostError):
            return ObjectLostError(str(e))
        if isinstance(e, rx.RaySystemError):  # e.g. an object that fails to unpickle here
            return DeserializationError(str(e))
        if isinstance(e, rx.RayTaskError):
            # Ray's dual-class errors forward unknown attributes to the cause: read __dict__
            d = e.__dict__
            cause = d.get("cause")
            if isinstance(cause, rx.RayError):
                return self._map(cause)
            if isinstance(cause, (ActorDiedError, WorkerCrashedError, TaskCancelledError)):
                return cause
            return as_instanceof_cause(cause, d.get("traceback_str") or str(e),
                                       d.get("function_name", ""))
        return e

    def _init_cause(self, e: BaseException) -> BaseException | None:
        """The exception an actor's constructor raised, if that is why ``e`` says it died.
        Ray builds that ``ActorDiedError`` from the creation task's ``RayTaskError``, which
        stays in ``e.args`` (``ActorDiedError.from_task_error``, Ray 2.x); its ``cause`` is the
        user's exception."""
        if not getattr(e, "actor_init_failed", False):
            return None
        rx = self.ray.exceptions
        for a in e.args:
            if isinstance(a, rx.RayTaskError):
                cause = a.__dict__.get("cause")  # dual-class errors forward unknown attributes
                if isinstance(cause, rx.RayError):
                    return self._map(cause)
                return cause if isinstance(cause, BaseException) else None
        return None

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self.ray.exceptions.RayError as e:
            raise self._map(e) from None

    # --- tasks and actors ---
    @staticmethod
    def _unwrap(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        a = tuple(x._id if type(x) is ObjectRef else x for x in args)
        k = {n: (v._id if type(v) is ObjectRef else v) for n, v in kwargs.items()}
        return a, k

    @staticmethod
    def _wrap(out: Any, n: int) -> Any:
        if n == 1:
            return ObjectRef(out, _counted=True)
        if n == 0:
            return None
        return [ObjectRef(r, _counted=True) for r in out]

    def task(self, rf: Any, o: Any, args: tuple, kwargs: dict) -> Any:
        f = self._remote_fns.get(rf._fn_id)
        if f is None:
            f = self._remote_fns[rf._fn_id] = self.ray.remote(rf._function)
        opts = {"num_cpus": o.num_cpus, "num_returns": o.num_returns,
                "max_retries": o.max_retries, "retry_exceptions": o.retry_exceptions}
        if o.name:
            opts["name"] = o.name
        a, k = self._unwrap(args, kwargs)
        return self._wrap(self._call(f.options(**opts).remote, *a, **k), o.num_returns)

    def actor(self, ac: Any, o: Any, args: tuple, kwargs: dict) -> Any:
        cls = self._remote_cls.get(ac._cls_id)
        if cls is None:
            cls = self._remote_cls[ac._cls_id] = self.ray.remote(ac._cls)
        opts: dict[str, Any] = {"num_cpus": o.num_cpus, "max_restarts": o.max_restarts,
                                "max_task_retries": o.max_task_retries}
        if o.name is not None:
            opts["name"] = o.name
            opts["get_if_exists"] = o.get_if_exists
        if o.lifetime is not None:
            opts["lifetime"] = o.lifetime
        if o.max_concurrency is not None:
            opts["max_concurrency"] = o.max_concurrency
        if o.namespace is not None:
            opts["namespace"] = o.namespace
        a, k = self._unwrap(args, kwargs)
        try:
            return self._call(cls.options(**opts).remote, *a, **k)
        except ValueError as e:
            raise ValueError(f"an actor named {o.name!r} already exists; pick another name or "
                             f"use get_actor(name) ({e})") from None

    def call(self, handle: Any, method: str, n: int | None, args: tuple, kwargs: dict) -> Any:
        m = getattr(handle, method)
        if n is not None:
            m = m.options(num_returns=n)
        else:
            n = getattr(m, "_num_returns", 1)
            n = 1 if n is None or not isinstance(n, int) else n
        a, k = self._unwrap(args, kwargs)
        return self._wrap(self._call(m.remote, *a, **k), n)

    # --- objects ---
    def incref(self, oid: Any) -> None:
        """Ray counts references itself."""

    def get_objects(self, refs: list, timeout: float | None) -> list:
        return self._call(self.ray.get, refs, timeout=timeout)

    def put(self, obj: Any) -> ObjectRef:
        return ObjectRef(self._call(self.ray.put, obj), _counted=True)

    def wait(self, refs: list, num_returns: int, timeout: float | None) -> set:
        ready, _ = self._call(self.ray.wait, refs, num_returns=num_returns, timeout=timeout)
        return set(ready)

    def kill(self, handle: Any, no_restart: bool = True) -> None:
        self._call(self.ray.kill, handle, no_restart=no_restart)
        if no_restart:
            # ray.kill is asynchronous: a call sent right after it may still run on the actor.
            # Wait (briefly) until Ray reports the actor dead, so every later call raises
            # ActorDiedError, as on the local backend.
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                try:
                    self.ray.get(handle.__ray_ready__.remote(), timeout=1.0)
                except self.ray.exceptions.RayActorError:
                    return
                except self.ray.exceptions.GetTimeoutError:
                    continue
                time.sleep(0.01)

    def cancel(self, ref: Any, force: bool, recursive: bool = True) -> None:
        self._call(self.ray.cancel, ref, force=force, recursive=recursive)

    def get_actor(self, name: str, namespace: str | None = None) -> tuple[Any, Any] | None:
        try:
            h = self.ray.get_actor(name, namespace=namespace)
        except ValueError:
            return None
        return h, (name, {})

    def timeline(self) -> list[dict]:
        return self.ray.timeline()

    def processes(self) -> list[int]:
        return []

    def shutdown(self) -> None:
        if self.owns:
            self.ray.shutdown()
