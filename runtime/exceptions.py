"""Errors raised by the runtime, named and shaped like Ray's (``ray.exceptions``).

A task that raises re-raises from ``get`` as a :class:`TaskError` that is *also* an instance of the
original exception's type (Ray's ``RayTaskError.as_instanceof_cause``), so ``except ValueError``
still catches a remote ``ValueError``; its text carries the remote traceback.
"""
from __future__ import annotations

from typing import Any

__all__ = [
    "RuntimeBaseError", "TaskError", "RayTaskError", "GetTimeoutError", "ActorDiedError",
    "RayActorError", "WorkerCrashedError", "TaskCancelledError", "ObjectLostError",
    "ObjectStoreFullError", "DeserializationError", "RaySystemError",
]


class RuntimeBaseError(Exception):
    """Base class of every error the runtime itself raises."""


class TaskError(RuntimeBaseError):
    """A remote task or actor method raised; ``cause`` is the original exception."""

    cause: BaseException | None
    traceback_str: str
    function_name: str

    def __init__(self, function_name: str = "", traceback_str: str = "",
                 cause: BaseException | None = None) -> None:
        super().__init__(function_name, traceback_str)
        self.function_name = function_name
        self.traceback_str = traceback_str
        self.cause = cause

    def __str__(self) -> str:
        cause = self.cause
        head = f"{type(cause).__name__}: {text_of(cause)}" if cause is not None else "task failed"
        return f"{head}\n\nRemote traceback ({self.function_name}):\n{self.traceback_str}"

    def __reduce__(self) -> Any:
        return (_rebuild_task_error, (self.function_name, self.traceback_str, self.cause))


RayTaskError = TaskError


def text_of(exc: BaseException) -> str:
    """``str(exc)``, or Python's own placeholder when the exception's ``__str__`` raises: it is
    the user's code, and the runtime describing an error (in a worker, in the dispatcher) must
    not fail with it."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - any error of a user's __str__
        return "<exception str() failed>"


_derived: dict[type, type] = {}


def _rebuild_task_error(function_name: str, traceback_str: str,
                        cause: BaseException | None) -> TaskError:
    return as_instanceof_cause(cause, traceback_str, function_name)


def as_instanceof_cause(cause: BaseException | None, traceback_str: str,
                        function_name: str) -> TaskError:
    """A TaskError that is also an instance of ``type(cause)``; a plain TaskError if impossible."""
    if isinstance(cause, TaskError):
        return cause
    if cause is None or not isinstance(cause, Exception):
        return TaskError(function_name, traceback_str, cause)
    cls = type(cause)
    try:
        derived = _derived.get(cls)
        if derived is None:
            derived = type(f"TaskError({cls.__name__})", (TaskError, cls),
                           {"__module__": __name__, "__init__": _no_init,
                            "__str__": TaskError.__str__, "__reduce__": TaskError.__reduce__})
            _derived[cls] = derived
        err = derived.__new__(derived, *cause.args)
        err.__dict__.update(getattr(cause, "__dict__", {}))
        err.args = cause.args
        err.function_name = function_name
        err.traceback_str = traceback_str
        err.cause = cause
        return err
    except Exception:  # exotic exception layouts: fall back to the plain wrapper
        return TaskError(function_name, traceback_str, cause)


def _no_init(self: Any, *args: Any, **kwargs: Any) -> None:
    pass


class GetTimeoutError(RuntimeBaseError, TimeoutError):
    """``get`` or ``wait`` ran past its timeout before the objects were ready."""


class ActorDiedError(RuntimeBaseError):
    """The actor's process died or was killed; calls on it cannot run. ``cause`` is the
    exception its constructor raised when that is why it died (None otherwise, or a
    ``RuntimeError`` stand-in naming it when it could not be pickled)."""

    cause: BaseException | None

    def __init__(self, *args: Any, cause: BaseException | None = None) -> None:
        super().__init__(*args)
        self.cause = cause  # pickled with the instance's __dict__ (BaseException.__reduce__)


RayActorError = ActorDiedError


class WorkerCrashedError(RuntimeBaseError):
    """The worker process died while running the task."""


class TaskCancelledError(RuntimeBaseError):
    """The task was cancelled with ``cancel`` before it finished."""


class ObjectLostError(RuntimeBaseError):
    """The object is gone: its runtime was shut down, or it was freed."""


class ObjectStoreFullError(RuntimeBaseError):
    """An object could not be written to shared memory (no space left, or over a file size
    limit); nothing of it is left behind."""


class DeserializationError(RuntimeBaseError):
    """An object (a task's result, an argument, a stored exception) could not be unpickled in
    the process that reads it: a class it holds cannot be imported there, or its unpickling
    raised. ``cause`` (also ``__cause__``) is that exception. Ray raises ``RaySystemError``."""

    cause: BaseException | None

    def __init__(self, *args: Any, cause: BaseException | None = None) -> None:
        super().__init__(*args)
        self.cause = cause


RaySystemError = DeserializationError
